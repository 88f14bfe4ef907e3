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


def _from_sums(feature: str, row: str, value):
    """pyradiomics' ``get<feature>FeatureValue``: ``value(sum, Nr)`` per angle from the sums'
    ``row``, then numpy's mean over angles; pyradiomics' own method without the sums."""
    method = f"get{feature}FeatureValue"

    def get(self):
        sums = self._glrlm_sums()
        if sums is None:
            return getattr(super(GLRLMFormulas, self), method)()
        return nanmean(value(sums[row], self.coefficients["Nr"]), 1)

    get.__name__ = get.__qualname__ = method
    return get


# Each feature: the row of its sum, and what pyradiomics does with the sum before the mean
# over angles (the same numpy expression: divisions by Nr or Nr ** 2, RP's Nr / Np).
_FEATURES = {
    "ShortRunEmphasis": ("sre", lambda s, Nr: s / Nr),
    "LongRunEmphasis": ("lre", lambda s, Nr: s / Nr),
    "GrayLevelNonUniformity": ("gln", lambda s, Nr: s / Nr),
    "GrayLevelNonUniformityNormalized": ("gln", lambda s, Nr: s / (Nr**2)),
    "RunLengthNonUniformity": ("rln", lambda s, Nr: s / Nr),
    "RunLengthNonUniformityNormalized": ("rln", lambda s, Nr: s / Nr**2),
    "RunPercentage": ("np", lambda s, Nr: Nr / s),
    "GrayLevelVariance": ("glv", lambda s, Nr: s),
    "RunVariance": ("rv", lambda s, Nr: s),
    "LowGrayLevelRunEmphasis": ("lglre", lambda s, Nr: s / Nr),
    "HighGrayLevelRunEmphasis": ("hglre", lambda s, Nr: s / Nr),
    "ShortRunLowGrayLevelEmphasis": ("srlgle", lambda s, Nr: s / Nr),
    "ShortRunHighGrayLevelEmphasis": ("srhgle", lambda s, Nr: s / Nr),
    "LongRunLowGrayLevelEmphasis": ("lrlgle", lambda s, Nr: s / Nr),
    "LongRunHighGrayLevelEmphasis": ("lrhgle", lambda s, Nr: s / Nr),
}
for _feature, (_row, _value) in _FEATURES.items():
    setattr(GLRLMFormulas, f"get{_feature}FeatureValue", _from_sums(_feature, _row, _value))
