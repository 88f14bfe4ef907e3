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
    calculate_glcm,
    first_order_sums,
    glcm_feature_sums,
    glcm_marginals,
    glcm_means,
    max_over_levels,
    normalised_glcm,
    sum_over_levels,
)


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


class _Numpy(types.ModuleType):
    """numpy with ``nanmean`` and ``sum`` above: the name pyradiomics' methods see as ``numpy``."""

    nanmean = staticmethod(nanmean)
    sum = staticmethod(level_sum)

    def __getattr__(self, name):
        return getattr(np, name)


_NUMPY = _Numpy("numpy")


def with_fast_numpy(method, **names):
    """pyradiomics' own method (same code), its ``numpy.nanmean`` and ``numpy.sum`` calls
    answered above (and any other global ``names`` replaced); pyradiomics itself is left
    untouched (a new function object)."""
    function = types.FunctionType(
        method.__code__,
        dict(method.__globals__, numpy=_NUMPY, **names),
        method.__name__,
        method.__defaults__,
        method.__closure__,
    )
    function.__dict__.update(method.__dict__)  # e.g. pyradiomics' deprecation mark
    function.__doc__ = method.__doc__
    return function


class GLCMFormulas(PyradiomicsMixin):
    """GLCM coefficients and features: pyradiomics' formulas, with its sums over the gray
    level axes done by ``sum_over_levels`` (numpy's order, without numpy's per-position
    inner loop calls), the cluster powers taken once per distinct i + j, and the terms
    shared by several features computed once."""

    def _calculateMatrix(self, voxelCoordinates=None):
        # pyradiomics' post-processing of the counts in one compiled pass (same values, same
        # layout); weighted, asymmetric, voxel-based or empty-angle cases are its own code.
        if self.voxelBased or self.weightingNorm is not None or not self.symmetricalGLCM:
            return super()._calculateMatrix(voxelCoordinates)
        Ng = self.coefficients["Ng"]
        counts, _ = calculate_glcm(
            self.imageArray,
            self.maskArray,
            np.array(self.settings.get("distances", [1])),
            Ng,
            self.settings.get("force2D", False),
            self.settings.get("force2Ddimension", 0),
        )
        P = normalised_glcm(counts, self.coefficients["grayLevels"], Ng)
        return super()._calculateMatrix(voxelCoordinates) if P is None else P

    def _calculateCoefficients(self):
        P = self.P_glcm
        Ng = self.coefficients["Ng"]
        eps = np.spacing(1)
        grey = self.coefficients["grayLevels"]
        i, j = np.meshgrid(grey.astype("float"), grey.astype("float"), indexing="ij", sparse=True)
        k_sum = np.arange(2, (Ng * 2) + 1, dtype="float")
        k_diff = np.arange(0, Ng, dtype="float")
        sums, diffs, px, py = glcm_marginals(P, grey, Ng)
        means = glcm_means(P, grey, eps)
        if means is None:
            means = (
                np.sum(i[None, :, :, None] * P, (1, 2), keepdims=True),
                np.sum(j[None, :, :, None] * P, (1, 2), keepdims=True),
                (-1) * np.sum((P * np.log2(P + eps)), (1, 2)),
            )
        ux, uy, HXY = means
        self.coefficients.update(
            eps=eps,
            i=i,
            j=j,
            kValuesSum=k_sum,
            kValuesDiff=k_diff,
            px=px,
            py=py,
            ux=ux,
            uy=uy,
            pxAddy=sums.transpose((1, 0, 2)),
            pxSuby=diffs.transpose((1, 0, 2)),
            HXY=HXY,
        )

    def _cluster_base(self):
        """``(i + j) - ux - uy`` for every possible i + j (a sum of two gray levels) and angle,
        (K, Na), contiguous as pyradiomics' array is: the cluster features' powers are taken
        once per distinct i + j, by numpy as in pyradiomics."""
        c = self.coefficients
        if "_cluster_base" not in c:
            k = np.arange(2, 2 * c["Ng"] + 1, dtype="float")
            c["_cluster_base"] = np.ascontiguousarray(((k[None, :, None, None] - c["ux"]) - c["uy"])[0, :, 0, :])
        return c["_cluster_base"]

    def _cluster_term(self, power: int) -> np.ndarray:
        """``((i + j) - ux - uy) ** power`` for every (i, j, angle), as pyradiomics evaluates it."""
        grey = self.coefficients["grayLevels"]
        return (self._cluster_base() ** power)[grey[:, None] + grey[None, :] - 2][None]

    def _joint_marginals(self):
        """``px * py`` and ``log2(px * py + eps)``, shared by Imc1 and Imc2."""
        c = self.coefficients
        if "_pxpy" not in c:
            c["_pxpy"] = c["px"] * c["py"]
            c["_log_pxpy"] = np.log2(c["_pxpy"] + c["eps"])
        return c["_pxpy"], c["_log_pxpy"]

    def _sums(self):
        """Every (i, j) sum of the features below, from one compiled pass in row-major order
        and one in P's memory order (see ``matrices.glcm_feature_sums``); None when P is laid
        out otherwise or has a single angle (then each feature sums with numpy)."""
        c = self.coefficients
        if "_sums" not in c:
            base = self._cluster_base()
            pxpy, log_pxpy = self._joint_marginals()
            c["_sums"] = glcm_feature_sums(
                self.P_glcm, c["grayLevels"], base**2, base**3, base**4, pxpy, log_pxpy, c["ux"], c["uy"]
            )
        return c["_sums"]

    def _row_major(self, row: int, numpy_sum):
        """Row ``row`` of the row-major sums (see ``_sums``), or ``numpy_sum()`` without them."""
        return numpy_sum() if self._sums() is None else self._sums()[0][row][None].copy()

    def _memory_order(self, row: int, numpy_sum=None):
        """Row ``row`` of the memory-order sums (see ``_sums``), or ``numpy_sum()`` without them."""
        return numpy_sum() if self._sums() is None else self._sums()[1][row][None].copy()

    def _weighted(self, weight):
        """numpy's sum over the gray levels of P * weight, as pyradiomics forms it."""
        return lambda: sum_over_levels(self.P_glcm * weight())

    def getAutocorrelationFeatureValue(self):
        i, j = self.coefficients["i"], self.coefficients["j"]
        return nanmean(self._row_major(3, self._weighted(lambda: (i * j)[None, :, :, None])), 1)

    def getClusterProminenceFeatureValue(self):
        return nanmean(self._row_major(2, self._weighted(lambda: self._cluster_term(4))), 1)

    def getClusterShadeFeatureValue(self):
        return nanmean(self._row_major(1, self._weighted(lambda: self._cluster_term(3))), 1)

    def getClusterTendencyFeatureValue(self):
        return nanmean(self._row_major(0, self._weighted(lambda: self._cluster_term(2))), 1)

    def getContrastFeatureValue(self):
        i, j = self.coefficients["i"], self.coefficients["j"]
        return nanmean(self._row_major(4, self._weighted(lambda: (np.abs(i - j))[None, :, :, None] ** 2)), 1)

    def getCorrelationFeatureValue(self):
        c = self.coefficients
        eps, ux, uy = c["eps"], c["ux"], c["uy"]
        if self._sums() is None:
            i, j = c["i"], c["j"]
            sigx = sum_over_levels(self.P_glcm * ((i[None, :, :, None] - ux) ** 2), keepdims=True) ** 0.5
            sigy = sum_over_levels(self.P_glcm * ((j[None, :, :, None] - uy) ** 2), keepdims=True) ** 0.5
            corm = sum_over_levels(self.P_glcm * (i[None, :, :, None] - ux) * (j[None, :, :, None] - uy), keepdims=True)
        else:
            sigx = self._memory_order(1)[None, None] ** 0.5
            sigy = self._memory_order(2)[None, None] ** 0.5
            corm = self._memory_order(3)[None, None]
        corr = corm / (sigx * sigy + eps)
        corr[sigx * sigy == 0] = 1
        return nanmean(corr, (1, 2, 3))

    def getMaximumProbabilityFeatureValue(self):
        return nanmean(max_over_levels(self.P_glcm), 1)

    def getJointEnergyFeatureValue(self):
        return nanmean(self._memory_order(0, lambda: sum_over_levels(self.P_glcm**2)), 1)

    def getSumSquaresFeatureValue(self):
        i, ux = self.coefficients["i"], self.coefficients["ux"]
        return nanmean(self._memory_order(1, self._weighted(lambda: (i[None, :, :, None] - ux) ** 2)), 1)

    def getImc1FeatureValue(self):
        c = self.coefficients
        HXY, eps, px, py = c["HXY"], c["eps"], c["px"], c["py"]
        HX = (-1) * np.sum((px * np.log2(px + eps)), (1, 2))
        HY = (-1) * np.sum((py * np.log2(py + eps)), (1, 2))
        HXY1 = (-1) * self._row_major(5, self._weighted(lambda: self._joint_marginals()[1]))
        div = np.fmax(HX, HY)
        imc1 = HXY - HXY1
        imc1[div != 0] /= div[div != 0]
        imc1[div == 0] = 0
        return nanmean(imc1, 1)

    def getImc2FeatureValue(self):
        HXY = self.coefficients["HXY"]
        pxpy, log_pxpy = self._joint_marginals()
        HXY2 = (-1) * self._row_major(6, lambda: sum_over_levels(pxpy * log_pxpy))
        imc2 = (1 - np.e ** (-2 * (HXY2 - HXY))) ** 0.5
        imc2[HXY2 == HXY] = 0
        return nanmean(imc2, 1)


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
        self.targetVoxelArray = self.imageArray[self.maskArray].astype("float").reshape((1, -1))
        p_i = counts[counts > 0].reshape((1, -1))
        sumBins = np.sum(p_i, 1, keepdims=True).astype("float")
        sumBins[sumBins == 0] = 1
        p_i = p_i.astype("float") / sumBins
        self.coefficients["p_i"] = p_i

    def _has_nan(self) -> bool:
        return _shared(self, "_has_nan", lambda: bool(np.isnan(self.targetVoxelArray).any()))

    def _mean(self):
        return _shared(self, "_mean", lambda: nanmean(self.targetVoxelArray, 1, keepdims=True))

    def _order_statistics(self):
        """nanpercentile at 10, 25, 75 and 90 and nanmedian, each as pyradiomics gets it.

        The quantiles are computed by numpy's own code from the same values; a single call
        for all four evaluates the same element-wise formula for each (numpy's ``_lerp``),
        and partitioning sorted voxels returns the same order statistics.
        """

        def compute():
            x = self.targetVoxelArray
            if self.voxelBased or self._has_nan() or x.shape[0] != 1 or x.shape[1] == 0:
                return None
            ordered = np.sort(x[0])
            p10, p25, p75, p90 = np.percentile(ordered, [10, 25, 75, 90])
            median = np.median(ordered) if x.shape[1] >= self._NANMEDIAN_SMALL else np.nanmedian(x, 1)[0]
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
        run (voxel-based, NaN, no voxel)."""

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
        # pyradiomics' _moment: nanmean(power(a - nanmean(a), moment)); power(d, 2) is d * d.
        sums = self._sums()
        if moment == 2 and sums is not None:
            return np.array([sums["sq_dev"]]) / self.targetVoxelArray.shape[1]
        return _shared(
            self, f"_moment{moment}", lambda: nanmean(np.power((self.targetVoxelArray - self._mean()), moment), 1)
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
