"""The label statistics pyradiomics asks SimpleITK for, read off the mask array instead.

pyradiomics checks every mask (``checkMask``: ``LabelStatisticsImageFilter`` over the image
and mask) and the region before resampling (``_checkROI``: ``LabelShapeStatisticsImageFilter``)
only for three things: whether the label occurs, its bounding box and its voxel count. The
filters compute far more (intensity statistics, perimeters, moments) over every voxel; on a
2D slice they take about a twentieth of the image's whole extraction.

:class:`LabelStatistics` and :class:`LabelShapeStatistics` have the filters' interface for
those three questions and answer them from the mask's array with numpy (integers: the same
answers exactly). Whenever ITK would check or decide something more — an image and a mask
on different grids (ITK's tolerance and its errors, which pyradiomics reads), a mask that
is not of an integer pixel type, a vector image — the real filter runs instead.
``tests/test_label_stats.py`` compares the answers with SimpleITK's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from .imageio import INTEGER_PIXEL_TYPES


class _Labels:
    """The labels of a mask array: membership without sorting every voxel (``numpy.unique``
    runs only if the labels are listed)."""

    def __init__(self, array: np.ndarray, background: int | None):
        self._array, self._background = array, background

    def __contains__(self, label) -> bool:
        return label != self._background and bool((self._array == label).any())

    def _listed(self) -> list[int]:
        return [int(v) for v in np.unique(self._array) if v != self._background]

    def __iter__(self):
        return iter(self._listed())

    def __len__(self) -> int:
        return len(self._listed())


def _box(array: np.ndarray, label) -> tuple[list[int], list[int]]:
    """First and last index of the label's voxels along each ITK axis (x, y, z)."""
    inside = array == label
    lows, highs = [], []
    for axis in reversed(range(array.ndim)):  # numpy's last axis is ITK's x
        others = tuple(a for a in range(array.ndim) if a != axis)
        present = np.flatnonzero(inside.any(axis=others))
        if present.size == 0:
            raise ValueError(f"label {label} is not in the mask")
        lows.append(int(present[0]))
        highs.append(int(present[-1]))
    return lows, highs


def _array_of(mask: sitk.Image) -> np.ndarray | None:
    if mask.GetPixelID() not in INTEGER_PIXEL_TYPES or mask.GetNumberOfComponentsPerPixel() != 1:
        return None
    return sitk.GetArrayViewFromImage(mask)


class _FromArray:
    """The answers of a label statistics filter: from the mask's array, or from the real
    filter (``_itk``) when it had to run."""

    _background: int | None = None
    _filter: Any = sitk.LabelStatisticsImageFilter  # the SimpleITK filter answered

    def __init__(self):
        self._itk = None
        self._array: np.ndarray = np.zeros(0, np.uint8)

    def _answer(self, mask: sitk.Image, *images: sitk.Image, array_ok: bool = True) -> None:
        array = _array_of(mask) if array_ok else None
        if array is None:
            self._itk = self._filter()
            self._itk.Execute(*images, mask)
        else:
            self._array = array

    def GetLabels(self):
        return self._itk.GetLabels() if self._itk is not None else _Labels(self._array, self._background)

    def GetBoundingBox(self, label):
        if self._itk is not None:
            return self._itk.GetBoundingBox(label)
        return self._as_box(*_box(self._array, label))

    @staticmethod
    def _as_box(lows: list[int], highs: list[int]) -> tuple:
        raise NotImplementedError


class LabelStatistics(_FromArray):
    """``SimpleITK.LabelStatisticsImageFilter`` for pyradiomics' ``checkMask``."""

    def Execute(self, image: sitk.Image, mask: sitk.Image):
        same_grid = (
            image.GetDimension() == mask.GetDimension()
            and image.GetSize() == mask.GetSize()
            and image.GetOrigin() == mask.GetOrigin()
            and image.GetSpacing() == mask.GetSpacing()
            and image.GetDirection() == mask.GetDirection()
            and image.GetNumberOfComponentsPerPixel() == 1
        )
        self._answer(mask, image, array_ok=same_grid)

    @staticmethod
    def _as_box(lows, highs):
        return tuple(v for pair in zip(lows, highs) for v in pair)  # (min x, max x, min y, ...)

    def GetCount(self, label):
        if self._itk is not None:
            return self._itk.GetCount(label)
        return int(np.count_nonzero(self._array == label))


class LabelShapeStatistics(_FromArray):
    """``SimpleITK.LabelShapeStatisticsImageFilter`` for pyradiomics' ``_checkROI`` and
    ``resampleImage`` (the background value 0 is not a label, as in ITK)."""

    _background = 0
    _filter = sitk.LabelShapeStatisticsImageFilter

    def Execute(self, mask: sitk.Image):
        self._answer(mask)

    @staticmethod
    def _as_box(lows, highs):
        return (*lows, *(h - lo + 1 for lo, h in zip(lows, highs)))  # (index..., size...)
