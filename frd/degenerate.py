"""Degenerate features: a flaw of the published v1 that users must be told about.

A feature whose reference standard deviation is at round-off level (e.g. the mean of a
wavelet band of CT images: ~1e-17 ± 1e-17) turns any real difference in the candidate
into a z-score of ~1e16, and d² ≈ 1e32: the value says "different", but its size is
numerical noise. We keep the published value, and

* flag a feature when its reference std is at most ``NEGLIGIBLE_STD`` (1e-6) times its
  scale — the largest of |reference mean|, |candidate mean| and candidate std — or when
  it alone carries more than ``DOMINANT_SHARE`` (50 %) of d²;
* offer the robust variant (``robust=True``): the first kind of feature is dropped.
"""

from __future__ import annotations

import numpy as np

NEGLIGIBLE_STD = 1e-6
DOMINANT_SHARE = 0.5


def negligible_std_mask(ref_mean, ref_std, cand_mean, cand_std) -> np.ndarray:
    """Features whose reference std is negligible relative to their magnitude."""
    ref_mean, ref_std = np.abs(np.asarray(ref_mean, np.float64)), np.asarray(ref_std, np.float64)
    scale = np.fmax(np.fmax(ref_mean, np.abs(np.asarray(cand_mean, np.float64))), np.asarray(cand_std, np.float64))
    with np.errstate(invalid="ignore"):
        return (scale > 0) & (ref_std > 0) & (ref_std <= NEGLIGIBLE_STD * scale)


def warnings_for(names, negligible: np.ndarray, used: list[str], shares: dict[str, float]) -> list[dict]:
    """Warnings naming the features and their share of d²."""
    out = []
    used_set = set(used)
    flagged = [n for n, bad in zip(names, negligible) if bad and n in used_set]
    if flagged:
        # Say how much of this d² they carry: often nearly all of it, sometimes (a shape
        # feature constant across the reference) nothing, and the user should know which.
        share = sum(shares.get(n, 0.0) for n in flagged)
        effect = "can dominate the value" if share >= 0.01 else "hardly move the value"
        out.append(
            {
                "code": "negligible_reference_std",
                "message": (
                    f"{len(flagged)} feature(s) have a reference standard deviation at round-off level "
                    f"(≤ {NEGLIGIBLE_STD:g} × their magnitude); their z-scores are numerical noise and "
                    f"{effect} here (together {max(share, 0.0):.1%} of d²); --robust drops them"
                ),
                "share_of_d2": share,
                "features": [{"feature": n, "share_of_d2": shares.get(n, 0.0)} for n in flagged],
            }
        )
    dominant = [(n, s) for n, s in shares.items() if s > DOMINANT_SHARE]
    if dominant:
        name, share = max(dominant, key=lambda t: t[1])
        out.append(
            {
                "code": "dominant_feature",
                "message": f"one feature carries {share:.0%} of d²: {name}",
                "features": [{"feature": name, "share_of_d2": share}],
            }
        )
    return out
