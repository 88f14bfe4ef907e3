"""The GLRLM's features from one compiled pass over its sums, value for value pyradiomics'.

A mixin for pyradiomics' GLRLM class, composed in ``frd.engine``. pyradiomics' feature
methods each take their sums over the gray level axis, the run length axis or both with
numpy, on small arrays (a few hundred numpy calls per image); ``matrices.glrlm_feature_sums``
takes all of them in one pass, adding in the order numpy does (documented there), from the
same matrix and marginals pyradiomics computes. The divisions by Nr and the means over
angles stay numpy's; the run entropy (a logarithm) stays pyradiomics' own method. The rules
that keep every rounding step are those of :mod:`frd.formulas`.
"""

from __future__ import annotations

from .formulas import PyradiomicsMixin, nanmean
from .matrices import glrlm_feature_sums

_ROWS = ("sre", "lre", "gln", "rln", "np", "lglre", "hglre", "srlgle", "srhgle", "lrlgle", "lrhgle", "glv", "rv")


class GLRLMFormulas(PyradiomicsMixin):
    def _glrlm_sums(self) -> dict | None:
        """Each feature's per-angle sum, (1, Na) like numpy's; None when the arrays are laid
        out otherwise (voxel-based, weighted, a single angle): then each feature is
        pyradiomics' own method."""
        c = self.coefficients
        if "_glrlm_sums" not in c:
            sums = None
            if not self.voxelBased:
                sums = glrlm_feature_sums(self.P_glrlm, c["pr"], c["pg"], c["ivector"], c["jvector"], c["Nr"])
            c["_glrlm_sums"] = None if sums is None else dict(zip(_ROWS, (row[None] for row in sums)))
        return c["_glrlm_sums"]

    def _feature(self, name: str, method: str, value):
        sums = self._glrlm_sums()
        if sums is None:
            return getattr(super(), method)()
        return nanmean(value(sums[name], self.coefficients["Nr"]), 1)

    def getShortRunEmphasisFeatureValue(self):
        return self._feature("sre", "getShortRunEmphasisFeatureValue", lambda s, Nr: s / Nr)

    def getLongRunEmphasisFeatureValue(self):
        return self._feature("lre", "getLongRunEmphasisFeatureValue", lambda s, Nr: s / Nr)

    def getGrayLevelNonUniformityFeatureValue(self):
        return self._feature("gln", "getGrayLevelNonUniformityFeatureValue", lambda s, Nr: s / Nr)

    def getGrayLevelNonUniformityNormalizedFeatureValue(self):
        return self._feature("gln", "getGrayLevelNonUniformityNormalizedFeatureValue", lambda s, Nr: s / (Nr**2))

    def getRunLengthNonUniformityFeatureValue(self):
        return self._feature("rln", "getRunLengthNonUniformityFeatureValue", lambda s, Nr: s / Nr)

    def getRunLengthNonUniformityNormalizedFeatureValue(self):
        return self._feature("rln", "getRunLengthNonUniformityNormalizedFeatureValue", lambda s, Nr: s / Nr**2)

    def getRunPercentageFeatureValue(self):
        return self._feature("np", "getRunPercentageFeatureValue", lambda s, Nr: Nr / s)

    def getGrayLevelVarianceFeatureValue(self):
        return self._feature("glv", "getGrayLevelVarianceFeatureValue", lambda s, Nr: s)

    def getRunVarianceFeatureValue(self):
        return self._feature("rv", "getRunVarianceFeatureValue", lambda s, Nr: s)

    def getLowGrayLevelRunEmphasisFeatureValue(self):
        return self._feature("lglre", "getLowGrayLevelRunEmphasisFeatureValue", lambda s, Nr: s / Nr)

    def getHighGrayLevelRunEmphasisFeatureValue(self):
        return self._feature("hglre", "getHighGrayLevelRunEmphasisFeatureValue", lambda s, Nr: s / Nr)

    def getShortRunLowGrayLevelEmphasisFeatureValue(self):
        return self._feature("srlgle", "getShortRunLowGrayLevelEmphasisFeatureValue", lambda s, Nr: s / Nr)

    def getShortRunHighGrayLevelEmphasisFeatureValue(self):
        return self._feature("srhgle", "getShortRunHighGrayLevelEmphasisFeatureValue", lambda s, Nr: s / Nr)

    def getLongRunLowGrayLevelEmphasisFeatureValue(self):
        return self._feature("lrlgle", "getLongRunLowGrayLevelEmphasisFeatureValue", lambda s, Nr: s / Nr)

    def getLongRunHighGrayLevelEmphasisFeatureValue(self):
        return self._feature("lrhgle", "getLongRunHighGrayLevelEmphasisFeatureValue", lambda s, Nr: s / Nr)
