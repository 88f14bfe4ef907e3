"""Bounds on options and on what an image may cost: no option value, and no image under
the chosen options, may exhaust the machine (memory above all).

The limits are declared once, here. :class:`frd.options.FRDOptions` checks its values
against them (:func:`check_option_limits`, raising :class:`~frd.errors.OptionError`),
the service answers those errors 422 before any job is made, and extraction refuses an
image whose intensities would span more gray levels than :data:`MAX_GRAY_LEVELS`.

Why gray levels: the texture matrices are Ng × Ng (GLCM, per direction) or Ng × run
lengths, so memory grows with the square of the number of bins a bin width gives. The
published settings give tens to a few hundred bins.
"""

from __future__ import annotations

import math

from .errors import OptionError

MAX_GRAY_LEVELS = 2048  # a 3D GLCM of 2048² bins × 13 directions is already 436 MB
MAX_RESIZE = 2048  # pixels per side
MAX_LOG_SIGMAS = 10
MAX_LOG_SIGMA = 20.0  # mm; larger kernels see nothing but the image's edges
MAX_NORMALIZE_SCALE = 10_000.0
MAX_ABS_SHIFT = 1e6  # voxel_array_shift, norm_range
# A normalised image spans a few standard deviations; 8 of them must fit in the bins.
NORMALISED_SPREAD = 8.0


def _at_most(option: str, value, high: float) -> None:
    if abs(value) > high:
        raise OptionError(option, f"must be at most {high:g} in size, not {value!r}")


def _list(option: str, values, most: int) -> None:
    if len(values) > most:
        raise OptionError(option, f"holds {len(values)} values; at most {most} are accepted")
    if len(set(values)) != len(values):
        raise OptionError(option, "lists a value twice")


def check_option_limits(options) -> None:
    """:class:`OptionError` for the first option of ``options`` beyond its bound. Runs
    after :class:`~frd.options.FRDOptions` checked types, ranges and allowed values."""
    if options.resize is not None:
        for side in options.resize:
            _at_most("resize", side, MAX_RESIZE)
    if options.log_sigma is not None:
        _list("log_sigma", list(options.log_sigma), MAX_LOG_SIGMAS)
        for sigma in options.log_sigma:
            _at_most("log_sigma", sigma, MAX_LOG_SIGMA)
    for option in ("feature_classes", "image_types", "exclude"):
        values = getattr(options, option)
        if values is not None:
            _list(option, list(values), 16)
    if options.normalize_scale is not None:
        _at_most("normalize_scale", options.normalize_scale, MAX_NORMALIZE_SCALE)
    if options.voxel_array_shift is not None:
        _at_most("voxel_array_shift", options.voxel_array_shift, MAX_ABS_SHIFT)
    for bound in options.norm_range or ():
        _at_most("norm_range", bound, MAX_ABS_SHIFT)
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
        raise OptionError("bin_width", f"{width:g} with {{option:normalize_scale}} {scale:g} gives about {levels:,.0f} "
                                       f"gray levels (at most {MAX_GRAY_LEVELS}); choose a bin width of at least "
                                       f"{NORMALISED_SPREAD * scale / MAX_GRAY_LEVELS:.3g}")


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
    levels = (values_max - values_min) / bin_width + 1 if bin_width > 0 else math.inf
    if not math.isfinite(levels) or levels > MAX_GRAY_LEVELS:
        raise GrayLevelLimit(f"{where}: its intensities span about {levels:,.0f} gray levels at bin width "
                             f"{bin_width:g}, more than the limit of {MAX_GRAY_LEVELS}; choose a larger bin width")


class GrayLevelLimit(ValueError):
    """An image whose texture matrices would be too large under the chosen bin width."""
