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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import deferred
from ._version import __version__

deferred.install()  # before anything imports pyradiomics

# Where each public name lives. They are imported on first use (PEP 562), so that a
# module of the package — an extraction worker importing frd.executors, the command line
# for a one-image run — does not pay for the whole library (numpy, analysis, the client).
_EXPORTS = {
    "ArraySet": "sources",
    "Client": "client",
    "FRDMetric": "metric",
    "FRDOptions": "options",
    "FRDResult": "results",
    "Normalizer": "normalize",
    "OODResult": "analysis.ood",
    "ReferenceStats": "stats",
    "compare": "pipeline",
    "compare_features": "pipeline",
    "compute_reference_stats": "pipeline",
    "extract_features": "pipeline",
    "frd_value": "distance",
    "frechet_distance": "distance",
    "ood": "analysis.ood",
    "trace_sqrt_product": "distance",
}
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

if TYPE_CHECKING:  # what type checkers and editors see
    from .analysis.ood import OODResult, ood
    from .client import Client
    from .distance import frd_value, frechet_distance, trace_sqrt_product
    from .metric import FRDMetric
    from .normalize import Normalizer
    from .options import FRDOptions
    from .pipeline import compare, compare_features, compute_reference_stats, extract_features
    from .results import FRDResult
    from .sources import ArraySet
    from .stats import ReferenceStats


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        try:  # a submodule, as `frd.errors` after a plain `import frd`
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # the submodule exists but needs a missing module: say that one
            raise AttributeError(f"module 'frd' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
