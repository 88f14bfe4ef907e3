"""pyradiomics' steps around the feature classes, with less work and the same results.

``execute``, ``computeShape`` and ``loadImage`` are pyradiomics' own code (``RadiomicsFeatureExtractor``),
run with some of the helpers they call answered here:

* the diagnostics (``GeneralInfo``): every entry that can be part of a feature vector
  (a number, or a string that might read as one), with pyradiomics' value, but the image
  hashes by ``hashlib`` (``SimpleITK.Hash`` is the SHA-1 of the pixel buffer), the mask's
  voxel count by numpy and its number of connected parts by the engine's zone labelling
  (fully connected, as SimpleITK's filter is configured there) instead of three SimpleITK
  filters; the mask's bounding box and centre of mass (tuples) are left out;
* ``cropToTumorMask``: when there is nothing to crop (a mask that reaches every border,
  as FRD's whole-image masks do) the inputs are returned instead of copies of them;
* ``getMask``: the label is looked for directly instead of sorting every mask voxel for
  ``numpy.unique``; anything unusual is left to pyradiomics, which raises its own errors;
* ``resampleImage``, ``getLoGImage``, ``getWaveletImage`` and ``checkMask``: pyradiomics'
  own functions, the image's cubic B-spline resampling, its Laplacians of Gaussian and its
  stationary wavelet transform computed by the engine's kernels (``frd.resample``,
  ``frd.log_filter``, ``frd.wavelet``: SimpleITK's and PyWavelets' values, bit for bit),
  the mask's label, bounding box and count read off its array (``frd.label_stats``);
  the wavelet bands are made into images without pyradiomics' copies (``_swt3``).

pyradiomics' parameter validation (``_applyParams``) runs pykwalify as usual, with its
schema file parsed once per process instead of once per extractor, except for the
parameters the engine built itself from a preset and checked options (``CheckedParams``).

As for the feature classes (``frd.formulas.with_fast_numpy``), pyradiomics itself is not patched:
these are new function objects whose global names point here.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import types

import numpy as np
import pywt
import SimpleITK as sitk
from radiomics import featureextractor, generalinfo, imageoperations

from . import label_stats, log_filter, resample, wavelet
from .formulas import ModuleWith, rebound
from .matrices import connected_parts


class Diagnostics(generalinfo.GeneralInfo):
    """pyradiomics' ``GeneralInfo``: the same entries in the same order with the same values,
    less the mask's bounding box and centre of mass."""

    def addImageElements(self, image, prefix="original"):
        info, p = self.generalInfo, self.generalInfo_prefix
        if prefix == "original":
            info[p + "Image-original_Hash"] = _hash(image)
            info[p + "Image-original_Dimensionality"] = f"{image.GetDimension()}D"
        info[p + "Image-" + prefix + "_Spacing"] = image.GetSpacing()
        info[p + "Image-" + prefix + "_Size"] = image.GetSize()
        # pyradiomics reads a copy of the pixels as float64; a float64 image's own buffer
        # holds the same values in the same layout (the same sums).
        im_arr = sitk.GetArrayViewFromImage(image)
        if im_arr.dtype != np.float64:
            im_arr = im_arr.astype("float")
        info[p + "Image-" + prefix + "_Mean"] = np.mean(im_arr)
        info[p + "Image-" + prefix + "_Minimum"] = np.min(im_arr)
        info[p + "Image-" + prefix + "_Maximum"] = np.max(im_arr)

    def addMaskElements(self, image, mask, label, prefix="original"):
        if mask is None:
            return
        if mask.GetNumberOfComponentsPerPixel() != 1:
            return super().addMaskElements(image, mask, label, prefix)
        info, p = self.generalInfo, self.generalInfo_prefix
        if prefix == "original":
            info[p + "Mask-original_Hash"] = _hash(mask)
        info[p + "Mask-" + prefix + "_Spacing"] = mask.GetSpacing()
        info[p + "Mask-" + prefix + "_Size"] = mask.GetSize()
        ma_arr = sitk.GetArrayViewFromImage(mask) == label
        if not ma_arr.any():  # SimpleITK's filters raise their own error
            raise _Fallback
        # The bounding box and centre of mass (tuples, never part of a feature vector) are
        # left out: their coordinates over every mask voxel cost more than all the rest.
        info[p + "Mask-" + prefix + "_VoxelNum"] = int(np.count_nonzero(ma_arr))
        info[p + "Mask-" + prefix + "_VolumeNum"] = _connected_parts(ma_arr)
        if image is None:
            return
        im_arr = sitk.GetArrayFromImage(image)
        targetvoxels = im_arr[ma_arr].astype("float")
        info[p + "Mask-" + prefix + "_Mean"] = np.mean(targetvoxels)
        info[p + "Mask-" + prefix + "_Minimum"] = np.min(targetvoxels)
        info[p + "Mask-" + prefix + "_Maximum"] = np.max(targetvoxels)


def _hash(image: sitk.Image) -> str:
    if image.GetNumberOfComponentsPerPixel() != 1:
        return sitk.Hash(image)
    return hashlib.sha1(np.ascontiguousarray(sitk.GetArrayViewFromImage(image)).data).hexdigest()


def _connected_parts(inside: np.ndarray) -> int:
    """Fully connected parts of a binary mask (8 neighbours in 2D, 26 in 3D)."""
    if inside.ndim not in (2, 3):
        raise _Fallback
    return connected_parts(inside)


class _Fallback(Exception):
    """A case left to pyradiomics' own code."""


class _FallbackDiagnostics(Diagnostics):
    def addMaskElements(self, image, mask, label, prefix="original"):
        try:
            super().addMaskElements(image, mask, label, prefix)
        except _Fallback:
            generalinfo.GeneralInfo.addMaskElements(self, image, mask, label, prefix)


def crop_to_mask(imageNode, maskNode, boundingBox, **kwargs):
    """pyradiomics' cropToTumorMask, without the copies when nothing is cropped."""
    padDistance = kwargs.get("padDistance", 0)
    size = np.array(maskNode.GetSize())
    lower = np.maximum(boundingBox[0::2] - padDistance, 0)
    upper = np.maximum(size - boundingBox[1::2] - padDistance - 1, 0)
    if not lower.any() and not upper.any() and imageNode.GetSize() == maskNode.GetSize():
        return imageNode, maskNode
    return imageoperations.cropToTumorMask(imageNode, maskNode, boundingBox, **kwargs)


def get_mask(mask, **kwargs):
    """pyradiomics' getMask when the label is there; otherwise pyradiomics raises its error."""
    label = kwargs.get("label", 1)
    if "vector" not in mask.GetPixelIDTypeAsString().lower() and label != 0:
        cast = sitk.Cast(mask, sitk.sitkUInt32)
        if (sitk.GetArrayViewFromImage(cast) == label).any():
            return cast
    return imageoperations.getMask(mask, **kwargs)


# The filters pyradiomics builds, computed by the engine: the image's cubic B-spline
# resampling (frd.resample), the Laplacian of Gaussian (frd.log_filter), the stationary
# wavelet transform (frd.wavelet) and the mask's label checks (frd.label_stats).
# pyradiomics' own functions run around them.
_SIMPLEITK = ModuleWith(
    sitk,
    ResampleImageFilter=resample.ResampleFilter,
    LaplacianRecursiveGaussianImageFilter=log_filter.LaplacianFilter,
    LabelStatisticsImageFilter=label_stats.LabelStatistics,
    LabelShapeStatisticsImageFilter=label_stats.LabelShapeStatistics,
)


def _swt3(inputImage, axes, **kwargs):
    """pyradiomics' ``_swt3``: the same images, with the same names in the same order, from
    the engine's ``swtn``, without pyradiomics' copies. It copies the volume twice before
    the transform (and pads it even by nothing) and each band once more before cropping
    it; the transform only reads its input, and a cropped band is copied into its image
    anyway. Nine copies of a volume per image fewer in 3D."""
    family = kwargs.get("wavelet", "coif1")
    level = kwargs.get("level", 1)
    start_level = kwargs.get("start_level", 0)
    data = sitk.GetArrayFromImage(inputImage)
    shape = data.shape
    if any(dim % 2 for dim in shape):  # swtn needs even lengths: wrap one more voxel
        data = np.pad(data, tuple((0, dim % 2) for dim in shape), "wrap")
    if not isinstance(family, pywt.Wavelet):
        family = pywt.Wavelet(family)
    approx = "a" * len(axes)
    for _ in range(start_level):
        data = wavelet.swtn(data, family, level=1, start_level=0, axes=axes)[0][approx]
    crop = tuple(slice(None, -1 if dim % 2 else None) for dim in shape)

    def image(band):
        out = sitk.GetImageFromArray(band[crop])
        out.CopyInformation(inputImage)
        return out

    ret = []
    for _ in range(start_level, start_level + level):
        bands = wavelet.swtn(data, family, level=1, start_level=0, axes=axes)[0]
        data = bands[approx]
        ret.append(
            {name.replace("a", "L").replace("d", "H"): image(band) for name, band in bands.items() if name != approx}
        )
    return image(data), ret


_OPERATIONS = types.SimpleNamespace(
    **{
        **vars(imageoperations),
        "cropToTumorMask": crop_to_mask,
        "getMask": get_mask,
        "checkMask": rebound(imageoperations.checkMask, sitk=_SIMPLEITK),
        "resampleImage": rebound(
            imageoperations.resampleImage,
            sitk=_SIMPLEITK,
            _checkROI=rebound(imageoperations._checkROI, sitk=_SIMPLEITK),
        ),
        "getLoGImage": rebound(imageoperations.getLoGImage, sitk=_SIMPLEITK),
        "getWaveletImage": rebound(imageoperations.getWaveletImage, _swt3=_swt3),
    }
)
_GENERALINFO = types.SimpleNamespace(GeneralInfo=_FallbackDiagnostics)


# pyradiomics' execute, computeShape and loadImage with the helpers above.
execute = rebound(
    featureextractor.RadiomicsFeatureExtractor.execute, imageoperations=_OPERATIONS, generalinfo=_GENERALINFO
)
compute_shape = rebound(featureextractor.RadiomicsFeatureExtractor.computeShape, imageoperations=_OPERATIONS)
load_image = staticmethod(rebound(featureextractor.RadiomicsFeatureExtractor.loadImage, imageoperations=_OPERATIONS))


def _parsed_schema(schema_files: tuple) -> dict:
    """pykwalify's merge of the schema files, parsed once per process with libyaml (the
    same data as pykwalify's pure-Python loader gives for pyradiomics' schema; tested)."""
    if schema_files not in _SCHEMAS:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        merged: dict = {}
        for path in schema_files:
            with open(path, encoding="utf-8") as stream:
                merged = dict(merged, **yaml.load(stream, Loader=loader))
        _SCHEMAS[schema_files] = merged
    return copy.deepcopy(_SCHEMAS[schema_files])


_SCHEMAS: dict = {}


class CheckedParams(dict):
    """Parameters the engine built itself from a preset and checked options
    (``FRDOptions.pyradiomics_params``): pyradiomics' schema validation is skipped for them
    (``tests/test_engine.py`` validates every preset, in 2D and 3D, with options at their
    limits), so that an extraction worker never loads pykwalify (``frd.deferred``)."""


class _Checked:
    def __init__(self, params: CheckedParams):
        self.params = params

    def validate(self):
        return self.params


def _validator(source_file=None, source_data=None, schema_files=None, extensions=None):
    """pykwalify's Core as pyradiomics builds it, with the schema already parsed."""
    if isinstance(source_data, CheckedParams) and source_file is None:
        return _Checked(source_data)
    import pykwalify.core

    if source_file is not None or not schema_files or not all(str(f).endswith((".yaml", ".yml")) for f in schema_files):
        return pykwalify.core.Core(
            source_file=source_file, source_data=source_data, schema_files=schema_files, extensions=extensions
        )
    return pykwalify.core.Core(
        source_data=source_data, schema_data=_parsed_schema(tuple(schema_files)), extensions=extensions
    )


# pyradiomics' parameter validation (pykwalify) without parsing the schema every time, and
# without loading pykwalify for checked parameters. Its logger is looked up by name (the
# logger pykwalify.core would create), which does not import the module.
_PYKWALIFY = types.SimpleNamespace(core=types.SimpleNamespace(Core=_validator, log=logging.getLogger("pykwalify.core")))
apply_params = rebound(featureextractor.RadiomicsFeatureExtractor._applyParams, pykwalify=_PYKWALIFY)
