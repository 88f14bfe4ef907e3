"""The gray-level bound: no choice of bin width, and no image under it, may exhaust the
machine (memory above all). Each option's own bounds (resize, LoG sigmas, list lengths,
numbers) are declared with the option (:mod:`frd.optionspec`); this module holds the one
bound that depends on several options and on the data:

* :func:`check_gray_level_bounds` — from the options alone (a bin width against the
  normalisation scale), checked by the service before any job is made (the library and
  the command line accept each option within its declared bounds; an image they make
  too large is skipped by the next check);
* :func:`gray_levels_for_span` — from what a header tells (the service checks the pixel
  types of the uploaded images and answers 422 before any job is made);
* :func:`check_gray_levels` — per (filtered) image at extraction, where the actual
  intensities are known: such an image is skipped with the reason.

Why gray levels: the texture matrices are Ng × Ng (GLCM, per direction) or Ng × run
lengths, so memory grows with the square of the number of bins a bin width gives. The
published settings give tens to a few hundred bins.
"""

from __future__ import annotations

import math

from .errors import OptionError

MAX_GRAY_LEVELS = 2048  # a 3D GLCM of 2048² bins × 13 directions is already 436 MB
# A normalised image spans a few standard deviations; 8 of them must fit in the bins.
NORMALISED_SPREAD = 8.0


def check_gray_level_bounds(options) -> None:
    """:class:`OptionError` when the options themselves imply too many gray levels
    (bin width against normalisation); each option's own bounds are declared with it
    (:mod:`frd.optionspec`) and checked before this."""
    if options.params_file is None:
        _check_normalised_bins(options)


def _check_normalised_bins(options) -> None:
    """With normalisation (v1) intensities become z-scores × normalize_scale: the bin
    width must leave room for :data:`NORMALISED_SPREAD` standard deviations."""
    setting = options.pyradiomics_params(3)["setting"]
    if not setting.get("normalize"):
        return
    scale, width = setting.get("normalizeScale", 1), setting.get("binWidth", 25)
    levels = NORMALISED_SPREAD * scale / width
    if levels > MAX_GRAY_LEVELS:
        raise OptionError(
            "bin_width",
            f"{width:g} with {{option:normalize_scale}} {scale:g} gives about {levels:,.0f} "
            f"gray levels (at most {MAX_GRAY_LEVELS}); choose a bin width of at least "
            f"{NORMALISED_SPREAD * scale / MAX_GRAY_LEVELS:.3g}",
        )


def gray_levels_for_span(options, span: float) -> float | None:
    """How many gray levels the bin width gives intensities spanning ``span`` (an upper
    bound, e.g. from the pixel type in a header), or None when normalisation decides it."""
    setting = options.pyradiomics_params(3)["setting"]
    if setting.get("normalize") or setting.get("binCount") is not None:
        return None
    return span / setting.get("binWidth", 25) + 1


def check_gray_levels(values_min: float, values_max: float, bin_width: float, where: str) -> None:
    """Before the texture matrices of one (filtered) image are built: a :class:`GrayLevelLimit`
    when its intensities span more than :data:`MAX_GRAY_LEVELS` bins."""
    if not (math.isfinite(values_min) and math.isfinite(values_max)):
        # (v1 normalises each image by its mean and deviation first: one NaN or infinite
        # voxel then makes every voxel NaN)
        raise GrayLevelLimit(
            f"{where}: some of its voxels are not numbers (NaN) or infinite, and cannot be binned "
            "into gray levels; replace them (with the background's value, for example)"
        )
    levels = (values_max - values_min) / bin_width + 1 if bin_width > 0 else math.inf
    if not math.isfinite(levels) or levels > MAX_GRAY_LEVELS:
        raise GrayLevelLimit(
            f"{where}: its intensities span about {levels:,.0f} gray levels at bin width "
            f"{bin_width:g}, more than the limit of {MAX_GRAY_LEVELS}; choose a larger bin width"
        )


class GrayLevelLimit(ValueError):
    """An image whose texture matrices would be too large under the chosen bin width."""
