"""FRD version presets, kept as data (``v0.toml``, ``v1.toml``).

A preset has two parts: ``pyradiomics`` — the parameter file given to pyradiomics, with
``setting2D`` / ``setting3D`` merged into ``setting`` by dimensionality — and
``pipeline`` — the per-version facts of the FRD pipeline around pyradiomics (mask
workaround, normalisation defaults, output scale).

They are TOML rather than pyradiomics' YAML because every run reads one: Python's own
TOML reader loads in a few milliseconds, the YAML library in 15-25 (measured with
``python -X importtime``), all of it before the first image starts. A parameter file a
user gives (``--params-file``) is still YAML, as pyradiomics reads it.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same reader, before it joined the standard library
    import tomli as tomllib

VERSIONS = ("v0", "v1")
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class PipelineRules:
    """A version's facts of the FRD pipeline around pyradiomics (see the preset files)."""

    zero_first_mask_voxel: bool
    expand_2d: bool
    numeric_diagnostics: bool
    float32_drop_nan_rows: bool
    drop_nonfinite_columns: bool
    norm_type: str
    norm_range: tuple[float, float]
    norm_ref: str
    log_output: bool


@cache
def _load(version: str) -> dict:
    if version not in VERSIONS:
        raise ValueError(f"unknown FRD version {version!r}; choose one of {', '.join(VERSIONS)}")
    return tomllib.loads((_HERE / f"{version}.toml").read_text(encoding="utf-8"))


def pipeline_rules(version: str) -> PipelineRules:
    """The pipeline rules of ``version`` (v0 or v1)."""
    raw = dict(_load(version)["pipeline"])
    raw["norm_range"] = tuple(float(v) for v in raw["norm_range"])
    return PipelineRules(**raw)


def pyradiomics_params(version: str, ndim: int) -> dict:
    """The preset's pyradiomics parameters for 2D or 3D input (a fresh, mutable copy)."""
    preset = copy.deepcopy(_load(version)["pyradiomics"])
    per_dim = {2: preset.pop("setting2D"), 3: preset.pop("setting3D")}
    preset["setting"].update(per_dim[ndim] or {})
    return preset
