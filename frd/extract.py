"""Feature extraction for one image: the reference's preprocessing, then pyradiomics.

This module runs inside worker processes. It imports pyradiomics, so the rest of the
library imports it only when an image actually has to be extracted (a fully cached run
never loads pyradiomics).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .errors import MaskMismatch
from .imageio import read_image, read_mask, same_geometry
from .inputs import ImageItem
from .options import FRDOptions
from .quiet import quiet_libraries, verbose


class SkipImage(Exception):
    """The image cannot contribute to the statistics (e.g. an empty mask); not fatal."""


@dataclass(frozen=True)
class FeatureVector:
    """One image's features: names, values (float64), its dimensionality, an optional notice."""

    names: tuple[str, ...]
    values: np.ndarray  # float64
    ndim: int
    notice: str | None = None


# pyradiomics rejects an image and mask it cannot use (no labelled voxel, an ROI too small
# for the settings, a bounding box outside the image, ...) with a ValueError raised in
# these modules; anything else it raises is not a property of the file.
_PYRADIOMICS_CHECKS = ("radiomics.imageoperations", "radiomics.featureextractor")


def rejected_by_pyradiomics(exc: BaseException) -> str | None:
    """The skip reason when ``exc`` is one of pyradiomics' checks of the input, else None."""
    if not isinstance(exc, ValueError):
        return None
    tb, module = exc.__traceback__, ""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    if module not in _PYRADIOMICS_CHECKS:
        return None
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"pyradiomics cannot use this image and mask: {first}"


class Extractor:
    """Builds pyradiomics extractors (one per dimensionality) for a set of options."""

    def __init__(self, options: FRDOptions):
        self.options = options
        self._extractors: dict[int, object] = {}

    def _pyradiomics(self, ndim: int):
        if ndim not in self._extractors:
            from .engine import extractor_class

            quiet_libraries()
            cls = extractor_class(self.options.engine)
            params = self.options.pyradiomics_params(ndim)
            if self.options.params_file is None:  # a preset with checked options
                from .preparation import CheckedParams

                params = CheckedParams(params)
            self._extractors[ndim] = cls(params)
        return self._extractors[ndim]

    def warm(self) -> None:
        """Load now what the first image would load: pyradiomics' extractors and the check
        of the power kernel against numpy. Workers forked afterwards inherit it all."""
        from .power import kernel_matches_numpy

        for ndim in (2, 3):
            self._pyradiomics(ndim)
        kernel_matches_numpy()

    def __call__(self, item: ImageItem) -> FeatureVector:
        """The features of one image (and its mask), prepared as the reference prepares them."""
        image, notice = read_image(item)
        ndim = 2 if image.GetDimension() == 2 or image.GetSize()[2] == 1 else 3
        image, mask = prepare(image, item, self.options)
        extractor = self._pyradiomics(ndim)
        with warnings.catch_warnings():
            if not verbose():  # pyradiomics' formulas divide by zero on flat images (NaN features)
                warnings.simplefilter("ignore", RuntimeWarning)
            output = extractor.execute(image, mask)
        names, values = feature_vector(output, self.options.rules.numeric_diagnostics)
        return FeatureVector(names=names, values=values, ndim=ndim, notice=notice)


def prepare(image: sitk.Image, item: ImageItem, options: FRDOptions) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask ready for pyradiomics, step for step as the reference prepares them."""
    rules = options.rules
    if item.mask is None:
        ones = np.ones(image.GetSize()[::-1], dtype=np.uint8)
        if rules.zero_first_mask_voxel:
            ones.flat[0] = 0
        mask = sitk.GetImageFromArray(ones)
        mask.CopyInformation(image)
    else:
        mask = read_mask(item.mask)
        problem = same_geometry(image, mask)
        if problem:
            raise MaskMismatch(f"mask {item.mask.files[0]} does not fit image {item.files[0]}: {problem}")
    if np.max(sitk.GetArrayViewFromImage(mask)) == 255:
        mask = sitk.Cast(mask, sitk.sitkFloat32) / 255.0
    if options.resize is not None:
        image, mask = _resize(image, mask, options.resize)
    if np.sum(sitk.GetArrayViewFromImage(mask)) <= 1:
        raise SkipImage("the mask holds at most one labelled voxel")
    if rules.expand_2d and image.GetDimension() == 2:
        image = _as_single_slice_volume(image, image.GetSpacing())
        if mask.GetDimension() == 2:
            mask = _as_single_slice_volume(mask, image.GetSpacing()[:2])
    return image, mask


def _as_single_slice_volume(image: sitk.Image, spacing_xy) -> sitk.Image:
    # The reference rebuilds the volume from the array: origin and direction are reset.
    volume = sitk.GetImageFromArray(sitk.GetArrayFromImage(image)[np.newaxis, ...])
    volume.SetSpacing((*spacing_xy, 1.0))
    return volume


def _resize(image: sitk.Image, mask: sitk.Image, size: tuple[int, int]):
    """Bilinear in-plane resize (OpenCV, as the reference), then the mask re-thresholded."""
    import cv2  # the 'resize' extra, checked before any work (frd.executors.check_can_extract)

    def resize_array(array: np.ndarray) -> np.ndarray:
        width, height = size
        if array.ndim == 2:
            return cv2.resize(array, (width, height), interpolation=cv2.INTER_LINEAR)
        out = np.zeros((array.shape[0], height, width))
        for z in range(array.shape[0]):
            out[z] = cv2.resize(array[z], (width, height), interpolation=cv2.INTER_LINEAR)
        return out

    new_image = sitk.GetImageFromArray(resize_array(sitk.GetArrayViewFromImage(image)))
    mask_array = resize_array(sitk.GetArrayViewFromImage(mask))
    mask_array[mask_array > 0.5] = 1
    mask_array[mask_array <= 0.5] = 0
    new_mask = sitk.GetImageFromArray(mask_array)
    # The reference copies the geometry only when the size is unchanged.
    if new_image.GetSize() == image.GetSize():
        new_image.CopyInformation(image)
        new_mask.CopyInformation(mask)
    return new_image, new_mask


def feature_vector(output: dict, numeric_diagnostics: bool) -> tuple[tuple[str, ...], np.ndarray]:
    """pyradiomics output as the reference's vector: features, then numeric diagnostics.

    The ``original_`` prefix is dropped from feature names; a diagnostics entry is kept
    (v1) when its value converts to a float.
    """
    names, values = [], []
    for name, value in output.items():
        if "diagnostics" not in name:
            names.append(name.replace("original_", ""))
            values.append(float(value))
        elif numeric_diagnostics:
            try:
                values.append(float(value))
            except (TypeError, ValueError):
                continue
            names.append(name)
    return tuple(names), np.asarray(values, dtype=np.float64)
