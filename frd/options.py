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
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import yaml

from . import presets
from .errors import OptionError

NORM_TYPES = ("zscore", "minmax")
NORM_REFS = ("d1", "joint", "independent")
EXCLUDE_GROUPS = ("textural", "wavelet", "firstorder", "shape")
ENGINES = ("frd", "pyradiomics")  # see frd.engine
# What pyradiomics 3.1 offers (radiomics.getFeatureClasses() / getImageTypes()), listed
# here so that options are checked before any work without importing pyradiomics.
FEATURE_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape", "shape2D")
IMAGE_TYPES = ("Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential",
               "Gradient", "LBP2D", "LBP3D")

# Bump when our per-image preprocessing changes in a way that changes feature values, so
# that cached features from an older frd are not reused.
PIPELINE_REVISION = 1


@dataclass(frozen=True)
class FRDOptions:
    """Everything that defines an FRD value. ``None`` means "the version's default"."""

    version: str = "v1"
    # --- extraction (per image) ---
    feature_classes: tuple[str, ...] | None = None
    image_types: tuple[str, ...] | None = None
    log_sigma: tuple[float, ...] | None = None
    bin_width: float | None = None
    normalize_scale: float | None = None
    voxel_array_shift: float | None = None
    params_file: str | None = None  # a custom pyradiomics YAML file; overrides the above
    resize: tuple[int, int] | None = None  # (width, height)
    engine: str = "frd"  # "frd" (shared binning, same values) or "pyradiomics" (plain)
    # --- statistics ---
    exclude: tuple[str, ...] = ()
    match_sample_count: bool = False
    seed: int | None = None
    norm_type: str | None = None
    norm_range: tuple[float, float] | None = None
    norm_ref: str | None = None
    means_only: bool = False
    paper_log: bool = False
    robust: bool = False  # drop features with a negligible reference std (frd.degenerate)
    # --- guard ---
    max_skipped: float = 0.1  # largest share of a set that may be skipped before the run fails

    def __post_init__(self) -> None:
        """Checks every value (:class:`~frd.errors.OptionError` names the first bad one)
        and stores sequences as tuples, so that options are hashable and compare equal
        however they were given (lists from JSON, tuples from Python)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        _choice("version", self.version, presets.VERSIONS)
        _choice("engine", self.engine, ENGINES)
        _optional_choice("norm_type", self.norm_type, NORM_TYPES)
        _optional_choice("norm_ref", self.norm_ref, NORM_REFS)
        _names("feature_classes", self.feature_classes, FEATURE_CLASSES)
        _names("image_types", self.image_types, IMAGE_TYPES)
        _names("exclude", self.exclude, EXCLUDE_GROUPS, may_be_empty=True)
        if self.log_sigma is not None:
            _numbers("log_sigma", self.log_sigma, positive=True)
        for name in ("bin_width", "normalize_scale"):
            if getattr(self, name) is not None:
                _numbers(name, (getattr(self, name),), positive=True, one=True)
        if self.voxel_array_shift is not None:
            _numbers("voxel_array_shift", (self.voxel_array_shift,), one=True)
        if self.resize is not None:
            if len(self.resize) != 2 or not all(_is_int(v) and v > 0 for v in self.resize):
                raise OptionError("resize", f"takes two positive whole numbers (width, height), not {self.resize!r}")
        if self.norm_range is not None:
            _numbers("norm_range", self.norm_range)
            if len(self.norm_range) != 2 or not self.norm_range[0] < self.norm_range[1]:
                raise OptionError("norm_range", f"takes two numbers LO < HI, not {list(self.norm_range)!r}")
        if self.seed is not None and not (_is_int(self.seed) and 0 <= self.seed < 2**63):
            raise OptionError("seed", f"must be a whole number from 0 to 2**63 − 1, not {self.seed!r}")
        for name in ("match_sample_count", "means_only", "paper_log", "robust"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(name, f"must be true or false, not {getattr(self, name)!r}")
        if isinstance(self.max_skipped, bool) or not isinstance(self.max_skipped, (int, float)) \
                or not 0.0 <= self.max_skipped <= 1.0:
            raise OptionError("max_skipped", f"must be a share from 0 to 1 (0.1 = 10 %), not {self.max_skipped!r}")
        if self.params_file is not None:
            _check_params_file(self.params_file)

    # ----- resolved values -------------------------------------------------------------
    @property
    def rules(self) -> presets.PipelineRules:
        return presets.pipeline_rules(self.version)

    @property
    def resolved_norm_type(self) -> str:
        return self.norm_type or self.rules.norm_type

    @property
    def resolved_norm_range(self) -> tuple[float, float]:
        return tuple(self.norm_range) if self.norm_range is not None else self.rules.norm_range

    @property
    def resolved_norm_ref(self) -> str:
        return self.norm_ref or self.rules.norm_ref

    def pyradiomics_params(self, ndim: int) -> dict:
        """pyradiomics parameters for ``ndim``-D input, overrides applied like the reference.

        A custom parameter file wins over every other extraction option (as in frd-score).
        """
        if self.params_file is not None:
            return yaml.safe_load(Path(self.params_file).read_text(encoding="utf-8")) or {}
        params = presets.pyradiomics_params(self.version, ndim)
        if self.feature_classes is not None:
            # A class the preset configures keeps its feature selection; others get all.
            preset_classes = params["featureClass"]
            params["featureClass"] = {
                name: preset_classes.get(name, []) for name in self.feature_classes
            }
        sigma = list(self.log_sigma) if self.log_sigma is not None else None
        if self.image_types is not None:
            params["imageType"] = {name: {} for name in self.image_types}
            if "LoG" in params["imageType"]:
                params["imageType"]["LoG"] = {"sigma": sigma or [2.0, 3.0, 4.0, 5.0]}
        elif sigma is not None and "LoG" in params["imageType"]:
            params["imageType"]["LoG"] = {"sigma": sigma}
        settings = params["setting"]
        for key, value in (
            ("binWidth", self.bin_width),
            ("normalizeScale", self.normalize_scale),
            ("voxelArrayShift", self.voxel_array_shift),
        ):
            if value is not None:
                settings[key] = value
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

    def with_changes(self, **changes) -> "FRDOptions":
        return replace(self, **changes)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise OptionError(name, f"must be one of {', '.join(allowed)}, not {value!r}")


def _optional_choice(name: str, value, allowed) -> None:
    if value is not None:
        _choice(name, value, allowed)


def _names(name: str, values, allowed, *, may_be_empty: bool = False) -> None:
    if values is None:
        return
    if isinstance(values, str) or not isinstance(values, tuple):
        raise OptionError(name, f"takes a list of names among {', '.join(allowed)}, not {values!r}")
    if not values and not may_be_empty:
        raise OptionError(name, f"needs at least one of {', '.join(allowed)}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise OptionError(name, f"takes names among {', '.join(allowed)}, not {', '.join(map(repr, bad))}")


def _numbers(name: str, values, *, positive: bool = False, one: bool = False) -> None:
    what = "a number" if one else "numbers"
    if not isinstance(values, tuple) or not values:
        raise OptionError(name, f"takes {what}, not {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise OptionError(name, f"takes finite {what}, not {v!r}")
        if positive and v <= 0:
            raise OptionError(name, f"must be greater than 0, not {v!r}")


def _check_params_file(path: str) -> None:
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
