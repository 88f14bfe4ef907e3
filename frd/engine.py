"""Extraction engines: the same pyradiomics feature values, with less repeated work.

* ``pyradiomics`` — plain ``RadiomicsFeatureExtractor``: the reference path.
* ``frd`` (default) — subclasses of pyradiomics' feature classes that

  - bin each filtered image once and share it among all classes (pyradiomics bins the
    same image again in every class, finding the bin edges with Python's built-in
    ``min``/``max`` over a numpy array);
  - build the GLCM, GLRLM and NGTDM with the compiled kernels (``frd.matrices``), run
    through pyradiomics' own ``_calculateMatrix`` code for the post-processing;
  - build the GLSZM compactly: zones are labelled in two scans (26-connected in 3D, 8 in
    a slice, as pyradiomics' C code) and counted by size, instead of a dense gray levels
    × voxels matrix (6 GB for one small 3D volume resampled to 2 mm, whose background is
    one huge zone);
  - sum the GLCM's diagonals (p_{x+y}, p_{x-y}) over precomputed index groups instead of
    an Ng×Ng boolean mask per diagonal (O(Ng³)).

  Every feature formula is pyradiomics' own, counts are exact, and every non-integer sum
  adds the same elements in the same order, so the values are bit-identical
  (``tests/test_engine.py`` compares the matrices entry for entry and the features value
  for value).

Nothing is patched inside pyradiomics: the engine is selected per extractor.
"""

from __future__ import annotations

import threading

import numpy as np
from radiomics import featureextractor, getFeatureClasses, imageoperations

from .errors import EngineUnavailable
from .options import ENGINES

from .matrices import gray_level_zones, require_kernels, using_kernels

# The pyradiomics release series whose binning, matrix calls and post-processing this
# engine reproduces (pyproject pins pyradiomics-bhklab 3.1.4; frd.featureset keys the
# cache on the installed version). Another series is refused rather than trusted.
MIRRORS_PYRADIOMICS = "3.1"


def check_pyradiomics_version(version: str) -> None:
    if version.lstrip("v").split(".")[:2] != MIRRORS_PYRADIOMICS.split("."):
        raise EngineUnavailable(
            f"the frd engine mirrors pyradiomics {MIRRORS_PYRADIOMICS}.x, but {version} is "
            "installed: install pyradiomics-bhklab==3.1.4, or choose --engine pyradiomics")

_call = threading.local()  # the binning shared within one computeFeatures call


def bin_edges(values: np.ndarray, bin_width: float) -> np.ndarray:
    """pyradiomics' fixed-bin-width edges (imageoperations.getBinEdges), with numpy min/max."""
    if np.isnan(values).any():  # built-in min/max order NaNs differently: keep theirs
        minimum, maximum = min(values), max(values)
    else:
        minimum, maximum = values.min(), values.max()
    low = minimum - (minimum % bin_width)
    edges = np.arange(low, maximum + 2 * bin_width, bin_width)
    if len(edges) == 1:  # a flat region: one bin, as numpy.histogram would give
        edges = [edges[0] - 0.5, edges[0] + 0.5]
    return edges


def bin_image(matrix: np.ndarray, mask: np.ndarray, settings: dict) -> np.ndarray:
    """pyradiomics' binImage for a segmentation mask."""
    if settings.get("binCount") is not None:
        return imageoperations.binImage(matrix, mask, **settings)[0]
    binned = np.zeros(matrix.shape, dtype="int")
    values = matrix[mask]
    binned[mask] = np.digitize(values, bin_edges(values, settings.get("binWidth", 25)))
    return binned


class _SharedBinning:
    """Mixin for pyradiomics feature classes: binning computed once per filtered image."""

    def _applyBinning(self, matrix):
        shared = getattr(_call, "shared", None)
        if shared is None:  # used outside FastExtractor: pyradiomics' own behaviour
            return super()._applyBinning(matrix)
        if "binned" not in shared:
            binned = bin_image(matrix, self.maskArray, self.settings)
            shared["binned"] = (binned, np.unique(binned[self.maskArray]))
        binned, grey_levels = shared["binned"]
        self.coefficients["grayLevels"] = grey_levels.copy()
        self.coefficients["Ng"] = int(np.max(grey_levels))
        return binned.copy()  # classes may modify their array


def diagonal_sums(P: np.ndarray, key: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """``[P[:, key == k, :].sum(1) for k in ks]`` as an array, without a mask per k.

    A stable sort of the keys keeps each group's positions in row-major order — the order
    boolean indexing selects them in — so every sum adds the same numbers in the same
    order as pyradiomics does.
    """
    n = key.shape[1]
    flat = key.ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    lows = np.searchsorted(ordered, ks, side="left")
    highs = np.searchsorted(ordered, ks, side="right")
    sums = []
    for lo, hi in zip(lows, highs):
        positions = order[lo:hi]
        sums.append(np.sum(P[:, positions // n, positions % n, :], 1))
    return np.array(sums)


class _GroupedGLCMCoefficients:
    """GLCM coefficients as pyradiomics defines them, with the diagonal sums grouped."""

    def _calculateCoefficients(self):
        P = self.P_glcm
        Ng = self.coefficients["Ng"]
        eps = np.spacing(1)
        grey = self.coefficients["grayLevels"].astype("float")
        i, j = np.meshgrid(grey, grey, indexing="ij", sparse=True)
        k_sum = np.arange(2, (Ng * 2) + 1, dtype="float")
        k_diff = np.arange(0, Ng, dtype="float")
        self.coefficients.update(
            eps=eps, i=i, j=j, kValuesSum=k_sum, kValuesDiff=k_diff,
            px=P.sum(2, keepdims=True),
            py=P.sum(1, keepdims=True),
            ux=np.sum(i[None, :, :, None] * P, (1, 2), keepdims=True),
            uy=np.sum(j[None, :, :, None] * P, (1, 2), keepdims=True),
            pxAddy=diagonal_sums(P, i + j, k_sum).transpose((1, 0, 2)),
            pxSuby=diagonal_sums(P, np.abs(i - j), k_diff).transpose((1, 0, 2)),
            HXY=(-1) * np.sum((P * np.log2(P + eps)), (1, 2)),
        )


def _pyradiomics_layout(levels: int, all_levels: int, sizes: int, all_sizes: int) -> np.ndarray:
    """A zero (1, levels, sizes) matrix laid out in memory as pyradiomics' final GLSZM.

    numpy sums the features' non-integer terms in memory order, so for the same bits the
    compact matrix must have the layout pyradiomics' matrix ends with: the C code's
    (gray levels contiguous), passed through the same two ``numpy.delete`` calls (which
    copy, or keep the layout, depending on whether they delete none, one or several
    entries). The same deletions are replayed on a small stand-in with at most two extra
    rows and columns, which takes the same paths.
    """
    extra_levels = min(all_levels - levels, 2)
    extra_sizes = min(all_sizes - sizes, 2)
    stand_in = np.zeros((1, sizes + extra_sizes, levels + extra_levels)).transpose(0, 2, 1)
    stand_in = np.delete(stand_in, np.arange(levels, levels + extra_levels), 1)
    return np.delete(stand_in, np.arange(sizes, sizes + extra_sizes), 2)


class _CompactGLSZM:
    """The GLSZM with one column per zone size that occurs (what pyradiomics keeps after
    deleting the empty columns of its dense matrix), built from labelled zones."""

    def _calculateMatrix(self, voxelCoordinates=None):
        if self.voxelBased:
            return super()._calculateMatrix(voxelCoordinates)
        grey_levels = self.coefficients["grayLevels"]
        zone_levels, zone_sizes = gray_level_zones(
            self.imageArray, self.maskArray,
            self.settings.get("force2Ddimension", 0) if self.settings.get("force2D", False) else None)
        self._zone_sizes = np.unique(zone_sizes)
        rows = np.searchsorted(grey_levels, zone_levels)
        columns = np.searchsorted(self._zone_sizes, zone_sizes)
        counts = np.bincount(rows * len(self._zone_sizes) + columns,
                             minlength=len(grey_levels) * len(self._zone_sizes))
        P = _pyradiomics_layout(len(grey_levels), self.coefficients["Ng"],
                                len(self._zone_sizes), int(self._zone_sizes[-1]))
        P[0] = counts.reshape(len(grey_levels), len(self._zone_sizes))
        return P

    def _calculateCoefficients(self):
        if self.voxelBased:
            return super()._calculateCoefficients()
        P = self.P_glszm
        ps = np.sum(P, 1)
        jvector = self._zone_sizes.astype(np.float64)
        Nz = np.sum(P, (1, 2))
        Nz[Nz == 0] = 1
        Np = np.sum(ps * jvector[None, :], 1)
        Np[Np == 0] = 1
        self.coefficients.update(Np=Np, Nz=Nz, ps=ps, pg=np.sum(P, 2), jvector=jvector,
                                 ivector=self.coefficients["grayLevels"].astype(float))


_EXTRA_MIXINS = {"glcm": (_GroupedGLCMCoefficients,), "glszm": (_CompactGLSZM,)}


# Classes whose matrices come from the compiled kernels, through pyradiomics' own method.
_KERNEL_MATRICES = ("glcm", "glrlm", "ngtdm")


def _engine_class(name: str, cls):
    mixins = (*_EXTRA_MIXINS.get(name, ()), _SharedBinning)
    own = {"_calculateMatrix": using_kernels(cls._calculateMatrix)} if name in _KERNEL_MATRICES else {}
    # pyradiomics names each class's logger after its module: keep the engine's classes in
    # pyradiomics' logger tree, which frd.extract keeps quiet.
    own["__module__"] = cls.__module__
    return type(f"Shared{cls.__name__}", (*mixins, cls), own)


_CLASSES = {name: _engine_class(name, cls) for name, cls in getFeatureClasses().items()}


def check_bins(image, mask, image_type: str, settings: dict) -> None:
    """Before any texture matrix of one filtered image: its intensities inside the mask
    must not span more gray levels than :data:`frd.limits.MAX_GRAY_LEVELS` at the bin
    width (the matrices grow with their square). Values are not changed."""
    from .limits import check_gray_levels

    if settings.get("binCount") is not None:
        return
    import SimpleITK as sitk

    values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == settings.get("label", 1)]
    if values.size:
        check_gray_levels(float(np.nanmin(values)), float(np.nanmax(values)), settings.get("binWidth", 25),
                          f"its {image_type} image")


class CheckedExtractor(featureextractor.RadiomicsFeatureExtractor):
    """pyradiomics' own extractor, refusing an image whose bins would exhaust memory."""

    def computeFeatures(self, image, mask, imageTypeName, **kwargs):
        check_bins(image, mask, imageTypeName, kwargs)
        return super().computeFeatures(image, mask, imageTypeName, **kwargs)


class FastExtractor(featureextractor.RadiomicsFeatureExtractor):
    """RadiomicsFeatureExtractor running the engine's feature classes."""

    def __init__(self, *args, **kwargs):
        import radiomics

        check_pyradiomics_version(radiomics.__version__)
        require_kernels()
        super().__init__(*args, **kwargs)

    def computeFeatures(self, image, mask, imageTypeName, **kwargs):
        check_bins(image, mask, imageTypeName, kwargs)
        vector = {}
        _call.shared = {}
        try:
            for class_name, feature_names in self.enabledFeatures.items():
                if class_name.startswith("shape") or class_name not in _CLASSES:
                    continue  # shape features are computed by execute(), as upstream
                feature_class = _CLASSES[class_name](image, mask, **kwargs)
                if feature_names is not None:
                    for feature in feature_names:
                        feature_class.enableFeatureByName(feature)
                for name, value in feature_class.execute().items():
                    vector[f"{imageTypeName}_{class_name}_{name}"] = value
        finally:
            _call.shared = None
        return vector


def extractor_class(engine: str):
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return FastExtractor if engine == "frd" else CheckedExtractor
