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

import numpy as np

from .matrices import glcm_diagonals


class GLCMFormulas:
    """GLCM coefficients and the features that dominate its cost."""

    def _calculateCoefficients(self):
        P = self.P_glcm
        Ng = self.coefficients["Ng"]
        eps = np.spacing(1)
        grey = self.coefficients["grayLevels"]
        i, j = np.meshgrid(grey.astype("float"), grey.astype("float"), indexing="ij", sparse=True)
        k_sum = np.arange(2, (Ng * 2) + 1, dtype="float")
        k_diff = np.arange(0, Ng, dtype="float")
        sums, diffs = glcm_diagonals(P, grey, Ng)
        self.coefficients.update(
            eps=eps, i=i, j=j, kValuesSum=k_sum, kValuesDiff=k_diff,
            px=P.sum(2, keepdims=True),
            py=P.sum(1, keepdims=True),
            ux=np.sum(i[None, :, :, None] * P, (1, 2), keepdims=True),
            uy=np.sum(j[None, :, :, None] * P, (1, 2), keepdims=True),
            pxAddy=sums.transpose((1, 0, 2)),
            pxSuby=diffs.transpose((1, 0, 2)),
            HXY=(-1) * np.sum((P * np.log2(P + eps)), (1, 2)),
        )

    def _cluster_term(self, power: int) -> np.ndarray:
        """``((i + j) - ux - uy) ** power`` for every (i, j, angle), as pyradiomics evaluates
        it, but the power taken once per distinct i + j (a sum of two gray levels)."""
        c = self.coefficients
        key = "_cluster_base"
        if key not in c:
            # Every possible i + j, then the same two subtractions as pyradiomics, per angle.
            k = np.arange(2, 2 * c["Ng"] + 1, dtype="float")
            c[key] = (k[None, :, None, None] - c["ux"]) - c["uy"]  # (1, K, 1, Na)
            grey = c["grayLevels"]
            c["_cluster_index"] = grey[:, None] + grey[None, :] - 2
        base = np.ascontiguousarray(c[key][0, :, 0, :])  # (K, Na), contiguous as pyradiomics' array
        return (base ** power)[c["_cluster_index"]][None]

    def getClusterProminenceFeatureValue(self):
        cp = np.sum((self.P_glcm * self._cluster_term(4)), (1, 2))
        return np.nanmean(cp, 1)

    def getClusterShadeFeatureValue(self):
        cs = np.sum((self.P_glcm * self._cluster_term(3)), (1, 2))
        return np.nanmean(cs, 1)

    def getClusterTendencyFeatureValue(self):
        ct = np.sum((self.P_glcm * self._cluster_term(2)), (1, 2))
        return np.nanmean(ct, 1)

    def _joint_marginals(self):
        """``px * py`` and ``log2(px * py + eps)``, shared by Imc1 and Imc2."""
        c = self.coefficients
        if "_pxpy" not in c:
            c["_pxpy"] = c["px"] * c["py"]
            c["_log_pxpy"] = np.log2(c["_pxpy"] + c["eps"])
        return c["_pxpy"], c["_log_pxpy"]

    def getImc1FeatureValue(self):
        c = self.coefficients
        HXY, eps, px, py = c["HXY"], c["eps"], c["px"], c["py"]
        pxpy, log_pxpy = self._joint_marginals()
        HX = (-1) * np.sum((px * np.log2(px + eps)), (1, 2))
        HY = (-1) * np.sum((py * np.log2(py + eps)), (1, 2))
        HXY1 = (-1) * np.sum((self.P_glcm * log_pxpy), (1, 2))
        div = np.fmax(HX, HY)
        imc1 = HXY - HXY1
        imc1[div != 0] /= div[div != 0]
        imc1[div == 0] = 0
        return np.nanmean(imc1, 1)

    def getImc2FeatureValue(self):
        HXY = self.coefficients["HXY"]
        pxpy, log_pxpy = self._joint_marginals()
        HXY2 = (-1) * np.sum((pxpy * log_pxpy), (1, 2))
        imc2 = (1 - np.e ** (-2 * (HXY2 - HXY))) ** 0.5
        imc2[HXY2 == HXY] = 0
        return np.nanmean(imc2, 1)
