"""Intensity conventions: checks for the commonest way to get an FRD that measures units
rather than images.

* **Different scales.** A generator's output in [0, 1] compared with real images in 0–255,
  or in Hounsfield units: every intensity feature and diagnostic then differs by orders of
  magnitude and dominates the value. Flagged when the two sets' mean intensity ranges
  differ by a factor of :data:`SCALE_FACTOR` or more.
* **Too few gray levels.** Without pyradiomics' normalisation (v0's preset, or a parameter
  file with ``normalize: false``), an image whose intensity range spans less than
  :data:`MIN_GRAY_LEVELS` bin widths is binned into one or two gray levels, and its texture
  features say nothing. (v1 normalises each image to a standard deviation of 100 first, so
  its binning does not depend on the input's scale.)

Both are read off the raw features — every vector holds each image's minimum and maximum
(v1: the ``diagnostics_Image-original_*`` entries; v0: ``firstorder_Minimum``/``Maximum``) —
so they work alike for folders, arrays and streamed statistics. They are warnings, with the
fix: the published value is still reported.
"""

from __future__ import annotations

import numpy as np

from .options import FRDOptions

SCALE_FACTOR = 100.0
MIN_GRAY_LEVELS = 4
# (minimum, maximum) columns of the raw image intensities, by preference
_EXTREMES = (
    ("diagnostics_Image-original_Minimum", "diagnostics_Image-original_Maximum"),
    ("firstorder_Minimum", "firstorder_Maximum"),
)


def mean_range(names: list[str], raw_mean: np.ndarray | None) -> float | None:
    """The mean over a set's images of (maximum − minimum), from its raw feature means."""
    if raw_mean is None:
        return None
    for low, high in _EXTREMES:
        if low in names and high in names:
            return float(raw_mean[names.index(high)] - raw_mean[names.index(low)])
    return None


def intensity_warnings(
    names: list[str],
    ref_mean: np.ndarray | None,
    cand_mean: np.ndarray | None,
    options: FRDOptions,
    labels: tuple[str, str] = ("reference", "candidate"),
) -> list[dict]:
    """Warnings (code, message with the fix, no features) for the situations above."""
    ranges = {label: mean_range(names, mean) for label, mean in zip(labels, (ref_mean, cand_mean))}
    out = []
    known = {label: r for label, r in ranges.items() if r is not None and np.isfinite(r)}
    if len(known) == 2:
        (small_label, small), (large_label, large) = sorted(known.items(), key=lambda kv: kv[1])
        if large > 0 and (small <= 0 or large / small >= SCALE_FACTOR):
            out.append(
                {
                    "code": "intensity_scales_differ",
                    "message": (
                        f"the {large_label} images span {large:.4g} intensity units on average but the "
                        f"{small_label} images only {small:.4g}: the two sets seem to be in different units "
                        "(e.g. 0–255 against 0–1, or Hounsfield units against 0–255), which makes the FRD "
                        f"measure the units; rescale the {small_label} images to the {large_label}'s range"
                    ),
                    "features": [],
                }
            )
    settings = options.pyradiomics_params(2).get("setting", {})
    width = settings.get("binWidth", 25)
    if not settings.get("normalize", False) and settings.get("binCount") is None:
        for label, r in known.items():
            if r < MIN_GRAY_LEVELS * width:
                out.append(
                    {
                        "code": "too_few_gray_levels",
                        "message": (
                            f"the {label} images span {r:.4g} intensity units on average, under "
                            f"{MIN_GRAY_LEVELS} bins of width {width:g}: their texture features see one or two "
                            "gray levels; give the images in their usual units (e.g. 0–255), or a smaller "
                            "--bin-width"
                        ),
                        "features": [],
                    }
                )
    return out
