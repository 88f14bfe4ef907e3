"""Options of an FRD computation, their defaults per version, and what they hash to.

``FRDOptions`` holds what a user can choose (the reference tool's options plus ours).
Two derived views matter elsewhere:

* :meth:`FRDOptions.pyradiomics_params` — the exact parameter dict given to pyradiomics
  for 2D or 3D input (the preset with the user's overrides applied as the reference does);
* :meth:`FRDOptions.extraction_fingerprint` — a hash of everything that changes a single
  image's feature vector, used as part of the feature-cache key and stored in stats files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from . import presets
from .errors import OptionError
from .optionspec import check, option, specs

NORM_TYPES = ("zscore", "minmax")
NORM_REFS = ("d1", "joint", "independent")
EXCLUDE_GROUPS = ("textural", "wavelet", "firstorder", "shape")
ENGINES = ("frd", "pyradiomics")  # see frd.engine
# What pyradiomics 3.1 offers (radiomics.getFeatureClasses() / getImageTypes()), listed
# here so that options are checked before any work without importing pyradiomics.
FEATURE_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape", "shape2D")
IMAGE_TYPES = (
    "Original",
    "LoG",
    "Wavelet",
    "Square",
    "SquareRoot",
    "Logarithm",
    "Exponential",
    "Gradient",
    "LBP2D",
    "LBP3D",
)

# Bump when our per-image preprocessing changes in a way that changes feature values, so
# that cached features from an older frd are not reused.
PIPELINE_REVISION = 1


@dataclass(frozen=True)
class FRDOptions:
    """Everything that defines an FRD value. ``None`` means "the version's default".

    Each field is declared once, with its kind, bounds and help (:mod:`frd.optionspec`):
    the command line's flags and the service's request schema are made from these
    declarations, and every value is checked on construction
    (:class:`~frd.errors.OptionError` names the first bad one).
    """

    version: str = option(
        "v1",
        kind="choice",
        choices=presets.VERSIONS,
        nullable=False,
        flags=("--frd-version",),
        help="the FRD definition: v1 (Konz, Osuala et al. 2026) or v0 (Osuala et al. 2024)",
    )
    # --- extraction (per image) ---
    feature_classes: tuple[str, ...] | None = option(
        None,
        kind="names",
        choices=FEATURE_CLASSES,
        flags=("-f", "--feature-classes"),
        metavar="CLASS",
        help="pyradiomics feature classes (default: the version's)",
    )
    image_types: tuple[str, ...] | None = option(
        None,
        kind="names",
        choices=IMAGE_TYPES,
        flags=("-I", "--image-types"),
        metavar="TYPE",
        help="pyradiomics image types (default: the version's)",
    )
    log_sigma: tuple[float, ...] | None = option(
        None,
        kind="numbers",
        minimum=0,
        exclusive_minimum=True,
        maximum=100,
        max_items=10,
        metavar="S",
        help="LoG sigmas in mm (v1: 2 3 4 5)",
    )
    bin_width: float | None = option(
        None,
        kind="number",
        minimum=0,
        exclusive_minimum=True,
        maximum=1e6,
        setting="binWidth",
        help="gray-level bin width (v1: 5)",
    )
    normalize_scale: float | None = option(
        None,
        kind="number",
        minimum=0,
        exclusive_minimum=True,
        maximum=1e6,
        setting="normalizeScale",
        help="pyradiomics normalizeScale (v1: 100)",
    )
    voxel_array_shift: int | None = option(
        None,
        kind="integer",  # pyradiomics' schema requires an int (300.0 is refused)
        minimum=-(10**9),
        maximum=10**9,
        setting="voxelArrayShift",
        help="pyradiomics voxelArrayShift, a whole number (v1: 300)",
    )
    interpolator: str | None = option(
        None,
        kind="choice",
        choices=(
            "sitkNearestNeighbor",
            "sitkLinear",
            "sitkBSpline",
            "sitkGaussian",
            "sitkLabelGaussian",
            "sitkHammingWindowedSinc",
            "sitkCosineWindowedSinc",
            "sitkWelchWindowedSinc",
            "sitkLanczosWindowedSinc",
            "sitkBlackmanWindowedSinc",
        ),
        setting="interpolator",
        help="the interpolator resampling uses (v1: sitkBSpline)",
    )
    params_file: str | None = option(
        None,
        kind="path",
        flags=("--params-file", "--config-path"),
        metavar="YAML",
        service=False,
        help="a custom pyradiomics parameter file; overrides the extraction options above",
    )
    resize: tuple[int, int] | None = option(
        None,
        kind="size",
        minimum=1,
        maximum=4096,
        flags=("-r", "--resize"),
        metavar="N",
        help="resize images (and masks) in-plane to N×N or W H first, as the reference does",
    )
    engine: str = option(
        "frd",
        kind="choice",
        choices=ENGINES,
        nullable=False,
        group="running",
        statistics=False,
        help="frd (the same values, faster) or plain pyradiomics",
    )
    # --- statistics ---
    exclude: tuple[str, ...] = option(
        (),
        kind="names",
        choices=EXCLUDE_GROUPS,
        may_be_empty=True,
        nullable=False,
        help="drop feature groups after extraction (the reference's rules)",
    )
    match_sample_count: bool = option(
        False,
        kind="flag",
        nullable=False,
        statistics=False,
        help="subsample the larger set to the smaller one's size (seeded)",
    )
    seed: int | None = option(
        None,
        kind="integer",
        statistics=False,
        minimum=0,
        maximum=2**63 - 1,
        help="seed of --match-sample-count and of the bootstrap (reported)",
    )
    norm_type: str | None = option(
        None, kind="choice", choices=NORM_TYPES, help="zscore (v1's default) or minmax (v0's)"
    )
    norm_range: tuple[float, float] | None = option(
        None, kind="range", metavar=("LO", "HI"), help="the normalised range (v1: 0 1)"
    )
    norm_ref: str | None = option(
        None,
        kind="choice",
        choices=NORM_REFS,
        help="normalise against d1 (v1's default), joint D1∪D2 (v0's) or each set itself",
    )
    means_only: bool = option(
        False, kind="flag", nullable=False, statistics=False, help="the mean term of the distance only"
    )
    paper_log: bool = option(
        False,
        kind="flag",
        nullable=False,
        statistics=False,
        help="report ln(d) (the paper's Eq. 3) instead of the published tool's ln(d²)",
    )
    robust: bool = option(
        False,
        kind="flag",
        nullable=False,
        statistics=False,
        help="drop features whose reference std is at round-off level (frd.degenerate)",
    )
    # --- guard ---
    max_skipped: float = option(
        0.1,
        kind="share",
        minimum=0,
        maximum=1,
        nullable=False,
        group="running",
        statistics=False,
        metavar="SHARE",
        help="fail when more than this share of a set is skipped (0.1 = 10 %; 1 = never)",
    )

    def __post_init__(self) -> None:
        for name, spec in specs(FRDOptions).items():
            # stored as checked: sequences as tuples, so that options are hashable and
            # compare equal however they were given (lists from JSON, tuples from Python)
            object.__setattr__(self, name, check(name, spec, getattr(self, name)))
        if self.params_file is not None:
            _check_params_file(self.params_file)

    # ----- resolved values -------------------------------------------------------------
    @property
    def rules(self) -> presets.PipelineRules:
        """The version's facts of the pipeline around pyradiomics (frd.presets)."""
        return presets.pipeline_rules(self.version)

    @property
    def resolved_norm_type(self) -> str:
        """norm_type, or the version's default."""
        return self.norm_type or self.rules.norm_type

    @property
    def resolved_norm_range(self) -> tuple[float, float]:
        """norm_range, or the version's default."""
        if self.norm_range is None:
            return self.rules.norm_range
        low, high = self.norm_range
        return low, high

    @property
    def resolved_norm_ref(self) -> str:
        """norm_ref, or the version's default."""
        return self.norm_ref or self.rules.norm_ref

    def pyradiomics_params(self, ndim: int) -> dict:
        """pyradiomics parameters for ``ndim``-D input, overrides applied like the reference.

        A custom parameter file wins over every other extraction option (as in frd-score).
        """
        if self.params_file is not None:
            import yaml  # only for a user's parameter file: the presets are TOML

            return yaml.safe_load(Path(self.params_file).read_text(encoding="utf-8")) or {}
        params = presets.pyradiomics_params(self.version, ndim)
        if self.feature_classes is not None:
            # A class the preset configures keeps its feature selection; others get all.
            preset_classes = params["featureClass"]
            params["featureClass"] = {name: preset_classes.get(name, []) for name in self.feature_classes}
        sigma = list(self.log_sigma) if self.log_sigma is not None else None
        if self.image_types is not None:
            params["imageType"] = {name: {} for name in self.image_types}
            if "LoG" in params["imageType"]:
                params["imageType"]["LoG"] = {"sigma": sigma or [2.0, 3.0, 4.0, 5.0]}
        elif sigma is not None and "LoG" in params["imageType"]:
            params["imageType"]["LoG"] = {"sigma": sigma}
        for name, spec in specs(FRDOptions).items():  # the options that are pyradiomics settings
            value = getattr(self, name)
            if spec.setting is not None and value is not None:
                params["setting"][spec.setting] = list(value) if isinstance(value, tuple) else value
        return params

    def extraction_fingerprint(self, *, include_engine: bool = True) -> str:
        """Hash of every option that changes one image's feature vector.

        Both dimensionalities' parameters enter the hash: which one applies is decided by
        the image itself, so the key stays valid whatever the first reference image is.
        The engine is part of the cache key (each engine's vectors are cached apart) but
        not of a stats file's identity, since both engines give the same values.
        """
        payload = {
            "version": self.version,
            "params2d": self.pyradiomics_params(2),
            "params3d": self.pyradiomics_params(3),
            "resize": list(self.resize) if self.resize else None,
            "engine": self.engine if include_engine else None,
            "rules": asdict(self.rules),
            "pipeline_revision": PIPELINE_REVISION,
        }
        return _digest(payload)

    def statistics_fingerprint(self) -> str:
        """Hash of the options that shape the normalised reference statistics."""
        payload = {
            "extraction": self.extraction_fingerprint(include_engine=False),
            "exclude": sorted(self.exclude),
            "norm_type": self.resolved_norm_type,
            "norm_range": list(self.resolved_norm_range),
            "norm_ref": self.resolved_norm_ref,
        }
        return _digest(payload)

    def to_dict(self) -> dict:
        """All options with version defaults resolved, JSON-ready."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(
            norm_type=self.resolved_norm_type,
            norm_range=list(self.resolved_norm_range),
            norm_ref=self.resolved_norm_ref,
        )
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}

    def with_changes(self, **changes) -> FRDOptions:
        """A copy with ``changes`` applied (and checked)."""
        return replace(self, **changes)


def _check_params_file(path: str) -> None:
    import yaml  # pyradiomics' parameter files are YAML

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise OptionError("params_file", f"cannot be read: {path} ({exc.strerror or exc})") from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OptionError("params_file", f"is not valid YAML: {path} ({str(exc).splitlines()[0]})") from None
    if params is not None and not isinstance(params, dict):
        raise OptionError("params_file", f"must hold a pyradiomics parameter mapping: {path}")


def _digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
