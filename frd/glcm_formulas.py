"""The GLCM's coefficients and features with less work, value for value pyradiomics'.

A mixin for pyradiomics' GLCM class, composed in ``frd.engine``; the rules that keep every
rounding step (element-wise operations shared, sums in numpy's order) are those of
:mod:`frd.formulas`.
"""

from __future__ import annotations

import numpy as np

from .formulas import PyradiomicsMixin, nanmean
from .matrices import (
    calculate_glcm,
    glcm_feature_sums,
    glcm_marginals,
    glcm_means,
    max_over_levels,
    normalised_glcm,
    sum_over_levels,
)
from .power import power


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

    def _cluster_term(self, exponent: int) -> np.ndarray:
        """``((i + j) - ux - uy) ** exponent`` for every (i, j, angle), as pyradiomics evaluates it
        (``**`` is numpy's power, except that it squares a square)."""
        grey = self.coefficients["grayLevels"]
        base = self._cluster_base()
        powers = base**exponent if exponent == 2 else power(base, exponent)
        return powers[grey[:, None] + grey[None, :] - 2][None]

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
                self.P_glcm, c["grayLevels"], base**2, power(base, 3), power(base, 4), pxpy, log_pxpy, c["ux"], c["uy"]
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
