"""Extraction engines: the same pyradiomics feature values, with less repeated work.

* ``pyradiomics`` — plain ``RadiomicsFeatureExtractor``: the reference path.
* ``frd`` (default) — subclasses of pyradiomics' feature classes that

  - bin each filtered image once and share it, with the image and mask arrays, among all
    classes (pyradiomics bins the same image again in every class, finding the bin edges
    with Python's built-in ``min``/``max`` over a numpy array);
  - build the GLCM, GLRLM and NGTDM with the compiled kernels (``frd.matrices``), run
    through pyradiomics' own ``_calculateMatrix`` code for the post-processing (the GLCM's
    in one compiled pass, ``frd.formulas``);
  - build the GLSZM compactly: zones are labelled in two scans (26-connected in 3D, 8 in
    a slice, as pyradiomics' C code) and counted by size, instead of a dense gray levels
    × voxels matrix (6 GB for one small 3D volume resampled to 2 mm, whose background is
    one huge zone);
  - evaluate the GLCM and first-order formulas with less work (``frd.formulas``), and let
    pyradiomics' other feature methods see a numpy with cheaper row means and gray-level
    sums;
  - run pyradiomics' ``execute`` with lighter diagnostics and crops (``frd.preparation``).

  Every feature formula is pyradiomics', counts are exact, and every non-integer sum
  adds the same elements in the same order, so the values are bit-identical
  (``tests/test_engine.py`` compares the matrices entry for entry and the features value
  for value).

Nothing is patched inside pyradiomics: the engine is selected per extractor.
"""

from __future__ import annotations

import logging
import threading
import types

import numpy as np
import radiomics
import SimpleITK as sitk
from radiomics import base, featureextractor, getFeatureClasses, imageoperations

from . import preparation
from .errors import EngineUnavailable
from .formulas import FirstOrderFormulas, PyradiomicsMixin, mask_tail, masked_values, with_fast_numpy
from .glcm_formulas import GLCMFormulas
from .glrlm_formulas import GLRLMFormulas
from .matrices import MATRICES, digitize_masked, forget_volume, gray_level_zones, require_kernels
from .options import ENGINES

# The pyradiomics release series whose binning, matrix calls and post-processing this
# engine reproduces (pyproject pins pyradiomics-bhklab 3.1.4; frd.featureset keys the
# cache on the installed version). Another series is refused rather than trusted.
MIRRORS_PYRADIOMICS = "3.1"


def check_pyradiomics_version(version: str) -> None:
    if version.lstrip("v").split(".")[:2] != MIRRORS_PYRADIOMICS.split("."):
        raise EngineUnavailable(
            f"the frd engine mirrors pyradiomics {MIRRORS_PYRADIOMICS}.x, but {version} is "
            "installed: install pyradiomics-bhklab==3.1.4, or choose --engine pyradiomics"
        )


_call = threading.local()  # the binning shared within one computeFeatures call


def value_range(values: np.ndarray) -> tuple | None:
    """numpy's (min, max) of the values, or None when they hold a NaN (numpy's min is then
    NaN) or none at all."""
    if not values.size:
        return None
    minimum = values.min()
    return None if np.isnan(minimum) else (minimum, values.max())


def _shared_range(values: np.ndarray) -> tuple | None:
    """``value_range`` of the image's voxels inside the mask, once per filtered image for
    the gray-level check and the bin edges."""
    shared = getattr(_call, "shared", None)
    if shared is None:
        return value_range(values)
    if "range" not in shared:
        shared["range"] = value_range(values)
    return shared["range"]


def bin_edges(values: np.ndarray, bin_width: float, known: tuple | None = None) -> np.ndarray:
    """pyradiomics' fixed-bin-width edges (imageoperations.getBinEdges), with numpy min/max
    (``known``: the values' ``value_range``, if the caller has it)."""
    known = known or value_range(values)
    if known is None:  # built-in min/max order NaNs differently: keep theirs
        minimum, maximum = min(values), max(values)
    else:
        minimum, maximum = known
    low = minimum - (minimum % bin_width)
    edges = np.arange(low, maximum + 2 * bin_width, bin_width)
    if len(edges) == 1:  # a flat region: one bin, as numpy.histogram would give
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return edges


def bin_image(matrix: np.ndarray, mask: np.ndarray, settings: dict, values: np.ndarray | None = None) -> np.ndarray:
    """pyradiomics' binImage for a segmentation mask (``values``: ``matrix[mask]`` if the
    caller has it)."""
    if settings.get("binCount") is not None:
        return imageoperations.binImage(matrix, mask, **settings)[0]
    known = None
    if values is None:
        values = matrix[mask]
    else:
        known = _shared_range(values)
    width = settings.get("binWidth", 25)
    edges = bin_edges(values, width, known)
    if np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer):
        binned = digitize_masked(matrix, mask, edges, width)  # the same counts, compiled
        if binned is not None:
            return binned
    binned = np.zeros(matrix.shape, dtype="int")
    binned[mask] = np.digitize(values, edges)
    return binned


class _SharedBinning(PyradiomicsMixin):
    """Mixin for pyradiomics feature classes: binning computed once per filtered image."""

    @staticmethod
    def _shared_binning_active() -> bool:
        return getattr(_call, "shared", None) is not None

    def _applyBinning(self, matrix):
        shared = getattr(_call, "shared", None)
        if shared is None:  # used outside FastExtractor: pyradiomics' own behaviour
            return super()._applyBinning(matrix)
        if "binned" not in shared:
            tail = getattr(self, "_mask_tail", None)
            values = self._inside if matrix is self.imageArray and hasattr(self, "_inside") else None
            binned = bin_image(matrix, self.maskArray, self.settings, values)
            inside = masked_values(binned, self.maskArray, tail)
            if inside.size and inside.min() >= 0:
                # Voxels per bin, shared with the first-order class; the bins that occur,
                # ascending, are what numpy.unique returns (same values, same int type).
                counts = np.bincount(inside)
                shared["counts"] = counts
                grey_levels = np.flatnonzero(counts).astype(inside.dtype)
            else:
                grey_levels = np.unique(inside)
            shared["binned"] = (binned, grey_levels)
        binned, grey_levels = shared["binned"]
        self._bin_counts = shared.get("counts")
        self.coefficients["grayLevels"] = grey_levels.copy()
        self.coefficients["Ng"] = int(np.max(grey_levels))
        # Segment-based classes only read their binned array (pyradiomics modifies arrays in
        # place only for voxel-based extraction): one array serves them all.
        return binned.copy() if self.voxelBased else binned


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


class _CompactGLSZM(PyradiomicsMixin):
    """The GLSZM with one column per zone size that occurs (what pyradiomics keeps after
    deleting the empty columns of its dense matrix), built from labelled zones."""

    def _calculateMatrix(self, voxelCoordinates=None):
        if self.voxelBased:
            return super()._calculateMatrix(voxelCoordinates)
        grey_levels = self.coefficients["grayLevels"]
        zone_levels, zone_sizes = gray_level_zones(
            self.imageArray,
            self.maskArray,
            self.settings.get("force2Ddimension", 0) if self.settings.get("force2D", False) else None,
        )
        # Rows and columns by look-up tables: the rank of each gray level and zone size
        # among those that occur (what searching the sorted unique values gives).
        occurs = np.bincount(zone_sizes) > 0
        self._zone_sizes = np.flatnonzero(occurs)
        size_rank = np.cumsum(occurs) - 1
        level_rank = np.zeros(int(grey_levels[-1]) + 1, dtype=np.intp)
        level_rank[grey_levels] = np.arange(len(grey_levels))
        rows = level_rank[zone_levels]
        columns = size_rank[zone_sizes]
        counts = np.bincount(rows * len(self._zone_sizes) + columns, minlength=len(grey_levels) * len(self._zone_sizes))
        P = _pyradiomics_layout(
            len(grey_levels), self.coefficients["Ng"], len(self._zone_sizes), int(self._zone_sizes[-1])
        )
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
        self.coefficients.update(
            Np=Np, Nz=Nz, ps=ps, pg=np.sum(P, 2), jvector=jvector, ivector=self.coefficients["grayLevels"].astype(float)
        )


_EXTRA_MIXINS = {
    "glcm": (GLCMFormulas,),
    "glrlm": (GLRLMFormulas,),
    "glszm": (_CompactGLSZM,),
    "firstorder": (FirstOrderFormulas,),
}


# Classes whose matrices come from the compiled kernels, through pyradiomics' own method.
_KERNEL_MATRICES = ("glcm", "glrlm", "ngtdm")


class _SharedInputs(base.RadiomicsFeaturesBase):
    """pyradiomics' ``RadiomicsFeaturesBase.__init__`` (the classes' common set-up), with the
    arrays of one filtered image and its mask read once for all classes instead of once per
    class; no class modifies them in place (each bins its own copy). Placed just above
    pyradiomics' base class, where each feature class's own ``__init__`` reaches it."""

    def __init__(self, inputImage, inputMask, **kwargs):
        shared = getattr(_call, "shared", None)
        if shared is None or kwargs.get("voxelBased", False) or inputImage is None or inputMask is None:
            return super().__init__(inputImage, inputMask, **kwargs)
        self.logger = logging.getLogger(self.__module__)
        self.progressReporter = radiomics.getProgressReporter
        self.settings = kwargs
        self.label = kwargs.get("label", 1)
        self.voxelBased = False
        self.coefficients = {}
        self.enabledFeatures = {}
        self.featureValues = {}
        self.featureNames = self.getFeatureNames()
        self.inputImage = inputImage
        self.inputMask = inputMask
        arrays = shared.get("arrays")
        if arrays is None or arrays[0] is not inputImage or arrays[1] is not inputMask or arrays[2] != self.label:
            arrays = share_arrays(shared, inputImage, inputMask, self.label)
        self.imageArray, self.maskArray, self._mask_tail, self._inside = arrays[3], arrays[4], arrays[5], arrays[6]


def share_arrays(shared: dict, image, mask, label) -> tuple:
    """One filtered image's arrays for all classes: (image, mask, label, image array, mask
    array, its ``mask_tail``, the image's voxels inside the mask). The mask's array is kept
    across the filtered images of one input (pyradiomics passes them all the same mask
    object)."""
    kept = getattr(_call, "mask", None)
    if kept is None or kept[0] is not mask or kept[1] != label:
        inside = sitk.GetArrayFromImage(mask) == label
        kept = _call.mask = (mask, label, inside, mask_tail(inside))
    image_array = sitk.GetArrayFromImage(image)
    # The image's voxels inside the mask, read once for the gray-level check, the binning
    # and the first-order class.
    inside = masked_values(image_array, kept[2], kept[3])
    arrays = shared["arrays"] = (image, mask, label, image_array, kept[2], kept[3], inside)
    return arrays


class _KnownFeatureNames(PyradiomicsMixin):
    """pyradiomics lists a class's features by inspecting all its members for every
    instance; the list is a property of the class."""

    _feature_names: dict = {}

    @classmethod
    def getFeatureNames(cls):
        if cls not in _KnownFeatureNames._feature_names:
            _KnownFeatureNames._feature_names[cls] = super().getFeatureNames()
        return dict(_KnownFeatureNames._feature_names[cls])


def _engine_class(name: str, cls):
    mixins = (*_EXTRA_MIXINS.get(name, ()), _SharedBinning, _KnownFeatureNames)
    # pyradiomics' class with its own methods answered by the fast numpy functions and, for
    # the matrices, the kernels (the mixins above it override some of these methods).
    own = {
        attr: with_fast_numpy(getattr(cls, attr))
        for attr in vars(cls)
        if (attr.startswith("get") and attr.endswith("FeatureValue") or attr == "_calculateCoefficients")
        and isinstance(getattr(cls, attr), types.FunctionType)
    }
    if name in _KERNEL_MATRICES:
        own["_calculateMatrix"] = with_fast_numpy(cls._calculateMatrix, cMatrices=MATRICES)
    # pyradiomics names each class's logger after its module: keep the engine's classes in
    # pyradiomics' logger tree, which frd.extract keeps quiet.
    module = {"__module__": cls.__module__}
    kernel_class = type(f"Kernel{cls.__name__}", (cls, _SharedInputs), {**own, **module})
    return type(f"Shared{cls.__name__}", (*mixins, kernel_class), module)


_CLASSES = {name: _engine_class(name, cls) for name, cls in getFeatureClasses().items()}


def check_bins(image, mask, image_type: str, settings: dict, arrays: tuple | None = None) -> None:
    """Before any texture matrix of one filtered image: its intensities inside the mask
    must not span more gray levels than :data:`frd.limits.MAX_GRAY_LEVELS` at the bin
    width (the matrices grow with their square). Values are not changed. ``arrays``: the
    image's shared arrays (:func:`share_arrays`), else they are read here."""
    from .limits import check_gray_levels

    if settings.get("binCount") is not None:
        return
    if arrays is not None:
        values = arrays[6]
        known = _shared_range(values)
    else:
        values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == settings.get("label", 1)]
        known = None
    if values.size:
        low, high = known if known is not None else (np.nanmin(values), np.nanmax(values))
        check_gray_levels(float(low), float(high), settings.get("binWidth", 25), f"its {image_type} image")


class CheckedExtractor(featureextractor.RadiomicsFeatureExtractor):
    """pyradiomics' own extractor, refusing an image whose bins would exhaust memory."""

    def computeFeatures(self, image, mask, imageTypeName, **kwargs):
        check_bins(image, mask, imageTypeName, kwargs)
        return super().computeFeatures(image, mask, imageTypeName, **kwargs)


class FastExtractor(featureextractor.RadiomicsFeatureExtractor):
    """RadiomicsFeatureExtractor running the engine's feature classes."""

    _applyParams = preparation.apply_params
    computeShape = preparation.compute_shape
    loadImage = preparation.load_image

    def __init__(self, *args, **kwargs):
        import radiomics

        check_pyradiomics_version(radiomics.__version__)
        require_kernels()
        super().__init__(*args, **kwargs)

    def computeFeatures(self, image, mask, imageTypeName, **kwargs):
        vector = {}
        _call.shared = {}
        try:
            if not kwargs.get("voxelBased", False):
                arrays = share_arrays(_call.shared, image, mask, kwargs.get("label", 1))
                check_bins(image, mask, imageTypeName, kwargs, arrays)
            else:
                check_bins(image, mask, imageTypeName, kwargs)
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

    def execute(self, *args, **kwargs):
        try:
            return preparation.execute(self, *args, **kwargs)
        finally:
            _call.mask = None  # the input's arrays are not kept past its extraction
            forget_volume()


def extractor_class(engine: str):
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return FastExtractor if engine == "frd" else CheckedExtractor
