"""pyradiomics' feature formulas with less work, value for value the same.

Mixins for pyradiomics' feature classes (composed in ``frd.engine``). Each method computes
what pyradiomics' method of the same name computes, and keeps every rounding step:

* an element-wise operation (``+``, ``*``, ``**``, ``log2``, ...) rounds each element alone,
  so it may be evaluated once per distinct input instead of once per element, and its
  result shared between features;
* a sum depends on the order of its additions, so every non-integer sum is either numpy's
  own reduction of an array with the same values and the same memory layout as in
  pyradiomics, or a compiled loop that adds in the order numpy does (documented there);
* transcendental functions and powers other than 2 are always numpy's (which may use SIMD
  implementations of its own), called on arrays of the same layout as in pyradiomics.

``tests/test_engine.py`` compares every feature to plain pyradiomics bit for bit.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

import numpy as np

from .matrices import (
    first_order_sums,
    sum_over_levels,
)
from .power import power


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False):
    """``numpy.nanmean``, without its overhead for what every feature ends with: the mean of
    one row of per-angle values. For a C-contiguous float64 (1, k) row without NaN, numpy
    computes ``add.reduce`` of (a copy of) the row divided by the count k: the same sum of
    the same values, so the same bits. A NaN anywhere makes the sum NaN, and then (as for
    any other input) numpy's own function answers."""
    if (
        axis == 1
        and dtype is None
        and out is None
        and type(a) is np.ndarray
        and a.ndim == 2
        and a.shape[0] == 1
        and a.shape[1] > 0
        and a.dtype == np.float64
        and a.flags.c_contiguous
    ):
        total = np.add.reduce(a, axis=1, keepdims=True) if keepdims else np.add.reduce(a, axis=1)
        if not np.isnan(total).any():
            return total / a.shape[1]
    return np.nanmean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)


# The order statistics of sorted finite values, as numpy's median and percentile compute
# them, less what sorting makes moot: the partition (numpy's search for its indexes goes
# through np.unique, whose first use imports numpy.ma, about 10 ms of every run's start-up)
# and the NaN checks. Sorting places the same values where numpy's partition does, except
# that 0.0 and -0.0 may trade places: values holding both are left to numpy's calls.
# tests/test_engine.py compares both functions with numpy's own.
_QUARTILES = np.true_divide([10, 25, 75, 90], 100)  # percentile's q / 100


def _zeros_of_both_signs(ordered: np.ndarray) -> bool:
    """Whether sorted values hold both 0.0 and -0.0 (they compare equal, so they sit
    together, in an order that depends on the sorting algorithm)."""
    zeros = ordered[np.searchsorted(ordered, 0.0, "left") : np.searchsorted(ordered, 0.0, "right")]
    if not zeros.size:
        return False
    signs = np.signbit(zeros)
    return bool(signs.any()) and not bool(signs.all())


def _sorted_median(ordered: np.ndarray):
    """``np.median``: numpy's mean of the middle value, or of the middle two."""
    n = ordered.shape[0]
    half = n // 2
    return np.mean(ordered[half : half + 1] if n % 2 else ordered[half - 1 : half + 1], axis=0)


def _sorted_percentiles(ordered: np.ndarray) -> np.ndarray:
    """``np.percentile(ordered, [10, 25, 75, 90])`` (method "linear"): numpy's virtual
    index (n − 1)·q, its neighbours (the last value where the index reaches it) and its
    interpolation between them, rounding step for rounding step (numpy's ``_lerp``)."""
    n = ordered.shape[0]
    virtual = (n - 1) * _QUARTILES
    below = np.floor(virtual)
    above = below + 1
    at_end = virtual >= n - 1
    below[at_end] = -1
    above[at_end] = -1
    below, above = below.astype(np.intp), above.astype(np.intp)
    t = virtual - below
    a, b = ordered[below], ordered[above]
    diff = b - a
    out = np.add(a, diff * t)
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return out


def mask_tail(mask: np.ndarray) -> int | None:
    """k when the mask holds exactly the voxels from flat (C order) index k on, else None.

    FRD's masks are whole images, but v1 leaves the first voxel out and resampling then
    leaves out a whole first row of a volume: the voxels inside are still one tail of the
    array. 0 for a mask holding every voxel."""
    flat = mask.reshape(-1)
    if not flat.size:
        return None
    first = int(flat.argmax())  # the first voxel inside (0 when there is none)
    return first if flat[first] and flat[first:].all() else None


def masked_values(matrix: np.ndarray, mask: np.ndarray, tail: int | None) -> np.ndarray:
    """``matrix[mask]``: the same values in the same (C) order; a view when the mask is the
    tail of the array from voxel ``tail`` on (:func:`mask_tail`, as the engine's shared
    arrays say), instead of a copy of the volume."""
    if tail is not None and matrix.flags.c_contiguous:
        return matrix.reshape(-1)[tail:]
    return matrix[mask]


def level_sum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``numpy.sum``, with sums over the two gray level axes of a (1, n, m, Na) matrix done by
    ``sum_over_levels`` (numpy's order, checked there; any other call is numpy's)."""
    if axis == (1, 2) and dtype is None and out is None and not kwargs and type(a) is np.ndarray and a.ndim == 4:
        return sum_over_levels(a, keepdims=bool(keepdims))
    return np.sum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)


if TYPE_CHECKING:  # mixed into pyradiomics' feature classes, which carry no types
    PyradiomicsMixin = Any
else:
    PyradiomicsMixin = object


class ModuleWith(types.ModuleType):
    """A library module as pyradiomics' functions see it, with some of its names answered
    by the engine's own implementations (the same values, bit for bit)."""

    def __init__(self, module: types.ModuleType, **replaced):
        super().__init__(module.__name__)
        self._module = module
        self.__dict__.update(replaced)

    def __getattr__(self, name):
        return getattr(self._module, name)


def rebound(function, **names):
    """pyradiomics' own function (same code) with some of its global names (a module, a
    helper) pointing elsewhere; pyradiomics itself is left untouched (a new function)."""
    copy = types.FunctionType(
        function.__code__,
        dict(function.__globals__, **names),
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__dict__.update(function.__dict__)  # e.g. pyradiomics' deprecation mark
    copy.__doc__ = function.__doc__
    return copy


# numpy with ``nanmean`` and ``sum`` above: the name pyradiomics' methods see as ``numpy``.
_NUMPY = ModuleWith(np, nanmean=nanmean, sum=level_sum)


def with_fast_numpy(method, **names):
    """pyradiomics' own method, its ``numpy.nanmean`` and ``numpy.sum`` calls answered above
    (and any other global ``names`` replaced)."""
    return rebound(method, numpy=_NUMPY, **names)


def _shared(self, key: str, compute):
    """A value computed once per feature class instance (kept with its coefficients)."""
    c = self.coefficients
    if key not in c:
        c[key] = compute()
    return c[key]


class FirstOrderFormulas(PyradiomicsMixin):
    """First-order features sharing what pyradiomics computes several times: the mean, the
    shifted energy, the moments, minimum and maximum, and the order statistics, which are
    read off one partition of the voxels instead of one per percentile."""

    # Below this many voxels numpy's nanmedian takes another path (masked arrays).
    _NANMEDIAN_SMALL = 600

    def __init__(self, inputImage, inputMask, **kwargs):
        from radiomics.firstorder import RadiomicsFirstOrder

        if kwargs.get("voxelBased", False) or not isinstance(self, RadiomicsFirstOrder):
            return super().__init__(inputImage, inputMask, **kwargs)
        # RadiomicsFirstOrder.__init__, without copying the image for the binning when the
        # engine's shared binning (which only reads it) is active.
        super(RadiomicsFirstOrder, self).__init__(inputImage, inputMask, **kwargs)
        self.pixelSpacing = inputImage.GetSpacing()
        self.voxelArrayShift = kwargs.get("voxelArrayShift", 0)
        shared = self._shared_binning_active()
        self.discretizedImageArray = self._applyBinning(self.imageArray if shared else self.imageArray.copy())

    def _initCalculation(self, voxelCoordinates=None):
        counts = getattr(self, "_bin_counts", None)
        if voxelCoordinates is not None or counts is None:
            return super()._initCalculation(voxelCoordinates)
        # pyradiomics counts the voxels per gray level with numpy.unique; the engine's
        # binning has already counted them (the same integers, for the levels that occur).
        inside = getattr(self, "_inside", None)
        if inside is None:
            inside = masked_values(self.imageArray, self.maskArray, getattr(self, "_mask_tail", None))
        # pyradiomics' astype copies; no formula writes into the voxels, so float64 voxels
        # are used as they are.
        self.targetVoxelArray = inside.astype("float", copy=False).reshape((1, -1))
        p_i = counts[counts > 0].reshape((1, -1))
        sumBins = np.sum(p_i, 1, keepdims=True).astype("float")
        sumBins[sumBins == 0] = 1
        p_i = p_i.astype("float") / sumBins
        self.coefficients["p_i"] = p_i

    def _all_finite(self) -> bool:
        # An infinite voxel makes NaNs (inf - inf) that numpy's nan-functions then skip:
        # such voxels are left to numpy's own formulas, as NaN voxels are.
        return _shared(self, "_all_finite", lambda: bool(np.isfinite(self.targetVoxelArray).all()))

    def _mean(self):
        return _shared(self, "_mean", lambda: nanmean(self.targetVoxelArray, 1, keepdims=True))

    def _order_statistics(self):
        """nanpercentile at 10, 25, 75 and 90 and nanmedian, each as pyradiomics gets it,
        read off one sort of the voxels (without NaN, nanpercentile and nanmedian are
        numpy's percentile and median of the same values)."""

        def compute():
            x = self.targetVoxelArray
            if self.voxelBased or not self._all_finite() or x.shape[0] != 1 or x.shape[1] == 0:
                return None
            ordered = np.sort(x[0])
            if _zeros_of_both_signs(ordered):
                # Which zero lands where is up to numpy's partition (one per call in
                # pyradiomics), which np.sort does not reproduce: numpy's calls answer.
                stats = {q: np.nanpercentile(x, q, axis=1) for q in (10, 25, 75, 90)}
                return {**stats, 50: np.nanmedian(x, 1)}
            median = _sorted_median(ordered) if x.shape[1] >= self._NANMEDIAN_SMALL else np.nanmedian(x, 1)[0]
            p10, p25, p75, p90 = _sorted_percentiles(ordered)
            return {q: np.array([v]) for q, v in ((10, p10), (25, p25), (75, p75), (90, p90), (50, median))}

        return _shared(self, "_order", compute)

    def _percentile(self, q):
        stats = self._order_statistics()
        if stats is None:
            return np.nanpercentile(self.targetVoxelArray, q, axis=1)
        return stats[q].copy()

    def _sums(self):
        """Energy, deviations and the robust deviation from one compiled pass in numpy's
        pairwise order (``matrices.first_order_sums``); None when numpy's own formulas must
        run (voxel-based, NaN or infinite voxels, no voxel)."""

        def compute():
            x = self.targetVoxelArray
            if self._order_statistics() is None or x.dtype != np.float64:
                return None
            stats = self._order_statistics()
            return first_order_sums(
                np.ascontiguousarray(x[0]), self._mean()[0, 0], self.voxelArrayShift, stats[10][0], stats[90][0]
            )

        return _shared(self, "_sums_fo", compute)

    def _energy(self):
        sums = self._sums()
        if sums is not None:
            return np.array([sums["energy"]])
        return _shared(self, "_energy", lambda: np.nansum((self.targetVoxelArray + self.voxelArrayShift) ** 2, 1))

    def _central_moment(self, moment: int):
        # pyradiomics' _moment: nanmean(power(a - nanmean(a), moment)); power(d, 2) is d * d,
        # and numpy's power(d, 3 or 4) comes faster from frd.power.
        sums = self._sums()
        if moment == 2 and sums is not None:
            return np.array([sums["sq_dev"]]) / self.targetVoxelArray.shape[1]
        return _shared(
            self, f"_moment{moment}", lambda: nanmean(power((self.targetVoxelArray - self._mean()), moment), 1)
        )

    def _nanmin(self):
        return _shared(self, "_nanmin", lambda: np.nanmin(self.targetVoxelArray, 1))

    def _nanmax(self):
        return _shared(self, "_nanmax", lambda: np.nanmax(self.targetVoxelArray, 1))

    def getEnergyFeatureValue(self):
        return self._energy().copy()

    def getTotalEnergyFeatureValue(self):
        cubicMMPerVoxel = np.multiply.reduce(self.pixelSpacing)
        return self._energy() * cubicMMPerVoxel

    def getMinimumFeatureValue(self):
        return self._nanmin().copy()

    def getMaximumFeatureValue(self):
        return self._nanmax().copy()

    def getRangeFeatureValue(self):
        return self._nanmax() - self._nanmin()

    def get10PercentileFeatureValue(self):
        return self._percentile(10)

    def get90PercentileFeatureValue(self):
        return self._percentile(90)

    def getMedianFeatureValue(self):
        if self._order_statistics() is None:
            return np.nanmedian(self.targetVoxelArray, 1)
        return self._percentile(50)

    def getInterquartileRangeFeatureValue(self):
        return self._percentile(75) - self._percentile(25)

    def getMeanFeatureValue(self):
        return self._mean()[:, 0].copy()

    def getMeanAbsoluteDeviationFeatureValue(self):
        sums = self._sums()
        if sums is not None:
            return np.array([sums["abs_dev"]]) / self.targetVoxelArray.shape[1]
        return nanmean(np.absolute(self.targetVoxelArray - self._mean()), 1)

    def getRobustMeanAbsoluteDeviationFeatureValue(self):
        sums = self._sums()
        if sums is not None and sums["kept"] > 0:
            return np.array([sums["robust_abs_dev"]]) / sums["kept"]
        prcnt10 = self._percentile(10)
        prcnt90 = self._percentile(90)
        percentileArray = self.targetVoxelArray.copy()
        msk = ~np.isnan(percentileArray)
        msk[msk] = ((percentileArray - prcnt10[:, None])[msk] < 0) | ((percentileArray - prcnt90[:, None])[msk] > 0)
        percentileArray[msk] = np.nan
        return nanmean(np.absolute(percentileArray - nanmean(percentileArray, 1, keepdims=True)), 1)

    def getRootMeanSquaredFeatureValue(self):
        if self.targetVoxelArray.size == 0:
            return 0
        Nvox = np.sum(~np.isnan(self.targetVoxelArray), 1).astype("float")
        return np.sqrt(self._energy() / Nvox)

    def getVarianceFeatureValue(self):
        # nanstd is the square root of nanvar, numpy's sum of (x - mean)² over the count.
        sums = self._sums()
        if sums is not None:
            return np.sqrt(np.array([sums["sq_dev"]]) / self.targetVoxelArray.shape[1]) ** 2
        return np.nanstd(self.targetVoxelArray, 1) ** 2

    def getSkewnessFeatureValue(self):
        m2 = self._central_moment(2).copy()
        m3 = self._central_moment(3).copy()
        m2[m2 == 0] = 1
        m3[m2 == 0] = 0
        return m3 / m2**1.5

    def getKurtosisFeatureValue(self):
        m2 = self._central_moment(2).copy()
        m4 = self._central_moment(4).copy()
        m2[m2 == 0] = 1
        m4[m2 == 0] = 0
        return m4 / m2**2.0
