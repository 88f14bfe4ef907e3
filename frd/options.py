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

import yaml

from . import presets
from .limits import check_option_limits

NORM_TYPES = ("zscore", "minmax")
NORM_REFS = ("d1", "joint", "independent")
EXCLUDE_GROUPS = ("textural", "wavelet", "firstorder", "shape")
ENGINES = ("frd", "pyradiomics")  # see frd.engine

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
    robust: bool = False  # drop features with a negligible reference std (frd.analysis.degenerate)

    def __post_init__(self) -> None:
        presets.pipeline_rules(self.version)  # validates the version
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {self.engine!r}")
        if self.norm_type is not None and self.norm_type not in NORM_TYPES:
            raise ValueError(f"norm_type must be one of {NORM_TYPES}, not {self.norm_type!r}")
        if self.norm_ref is not None and self.norm_ref not in NORM_REFS:
            raise ValueError(f"norm_ref must be one of {NORM_REFS}, not {self.norm_ref!r}")
        bad = [g for g in self.exclude if g not in EXCLUDE_GROUPS]
        if bad:
            raise ValueError(f"exclude groups must be among {EXCLUDE_GROUPS}, not {bad}")
        if self.params_file is not None and not Path(self.params_file).is_file():
            raise FileNotFoundError(f"pyradiomics parameter file not found: {self.params_file}")
        check_option_limits(self)  # bounds that keep any run within the machine (frd.limits)

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


def _digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
