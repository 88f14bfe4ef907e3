"""frd — the Fréchet Radiomic Distance between two sets of medical images.

Typical use::

    import frd
    result = frd.compare("real_mri/", "synthetic_mri/")      # v1, as published
    print(result.value, result.n_reference, result.n_candidate)

    stats = frd.compute_reference_stats("real_mri/")         # reuse a reference
    stats.save("real_mri.frdstats")
    frd.compare("real_mri.frdstats", "other_model/")

    screening = frd.ood("real_mri/", "new_scans/")           # per-image out-of-domain scores

The stages are public too: :func:`extract_features`, :class:`Normalizer`,
:func:`frechet_distance`, :class:`ReferenceStats`.
"""

from ._version import __version__
from .analysis.ood import OODResult, ood
from .client import Client
from .compare import compare, compare_features, compute_reference_stats, extract_features
from .metric import FRDMetric
from .distance import frd_value, frechet_distance, trace_sqrt_product
from .normalize import Normalizer
from .options import FRDOptions
from .results import FRDResult
from .sources import ArraySet
from .stats import ReferenceStats

__all__ = [
    "__version__",
    "ArraySet",
    "Client",
    "FRDMetric",
    "FRDOptions",
    "FRDResult",
    "Normalizer",
    "OODResult",
    "ReferenceStats",
    "compare",
    "compare_features",
    "compute_reference_stats",
    "extract_features",
    "frd_value",
    "frechet_distance",
    "ood",
    "trace_sqrt_product",
]
