"""What a comparison returns: :class:`FRDResult` (the value and everything needed to trust
and reproduce it) and :class:`Analysis` (the rows and statistics the tools of
:mod:`frd.analysis` work on).

``FRDResult.to_dict()`` is the one JSON form of a result — the CLI's ``--json``, batch
mode's ``metrics.json`` and every service response — and it is always valid JSON: a
number that is not finite (v1's ln(0) = −∞ for identical sets, a degenerate bootstrap
resample) is written as ``null``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .contributions import Contributions
from .stats import ReferenceStats


def json_safe(value):
    """``value`` with every non-finite float replaced by None (JSON has no inf or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


@dataclass
class FRDResult:
    """An FRD value with everything needed to trust and reproduce it."""

    value: float
    d2: float
    version: str
    n_reference: int
    n_candidate: int
    features_used: list[str]
    skipped: list[dict]
    options: dict
    versions: dict
    timings: dict
    cache: dict
    notices: list[str] = field(default_factory=list)
    ndim: int = 2
    d2_split: dict = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)
    robust: dict | None = None
    ci: dict | None = None
    analysis: Analysis | None = field(default=None, repr=False)  # rows etc. for frd.analysis

    def rows(self) -> Analysis:
        """What the analysis tools need (every result of the pipeline has it)."""
        if self.analysis is None:
            raise ValueError("this result carries no analysis data (it was not made by the pipeline)")
        return self.analysis

    @property
    def identical(self) -> bool:
        """The two sets' statistics are equal to round-off: d² = 0 (v1's ln(d²) is −∞)."""
        return self.d2 == 0.0

    def to_dict(self) -> dict:
        """The JSON form (see the module docstring); ``frd`` is null when ``identical`` in v1."""
        return json_safe(
            {
                "frd": self.value,
                "identical": self.identical,
                "d2": self.d2,
                "frd_version": self.version,
                "scale": _scale_label(self.version, self.options.get("paper_log", False)),
                "dimensionality": f"{self.ndim}D",
                "n_reference": self.n_reference,
                "n_candidate": self.n_candidate,
                "n_features": len(self.features_used),
                "features_used": self.features_used,
                "skipped": self.skipped,
                "notices": self.notices,
                "warnings": self.warnings,
                "d2_split": self.d2_split,
                "contributions": self.contribution_summary(),
                "robust": self.robust,
                "ci": self.ci,
                "options": self.options,
                "versions": self.versions,
                "timings": self.timings,
                "cache": self.cache,
            }
        )

    def contribution_summary(self) -> dict | None:
        """d² per feature class, per filter and its top features (None without a distance)."""
        contributions = self.analysis.contributions if self.analysis is not None else None
        return contributions.summary() if contributions is not None else None

    def __str__(self) -> str:
        return result_line(self.to_dict())


def result_line(payload: dict) -> str:
    """The one-line summary of a result's JSON form (a local or a remote one alike)."""
    value = payload["frd"]
    if value is None:  # JSON's null: v1's ln(0) for identical sets
        value = float("-inf") if payload.get("identical") else float("nan")
    line = f"FRD ({payload['frd_version']}): {value}"
    if payload.get("identical"):
        line += " (identical: the two sets' statistics are equal, d² = 0)"
    return line


def _scale_label(version: str, paper_log: bool) -> str:
    if version == "v0":
        return "d2"
    return "ln(d)" if paper_log else "ln(d2)"


@dataclass
class Analysis:
    """What a comparison leaves for analysis: the prepared rows (when held in memory), the
    reference statistics, the d² pieces and contributions, the negligible-std mask."""

    ref_stats: ReferenceStats
    names: list[str]
    pieces: tuple
    contributions: Contributions | None  # None when there is no distance (one test image)
    negligible: np.ndarray
    ref_rows: np.ndarray | None = None
    cand_rows: np.ndarray | None = None
    ref_items: list | None = None
    cand_items: list | None = None
