"""The mask checks read off the array give SimpleITK's label statistics answers."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from frd.label_stats import LabelShapeStatistics, LabelStatistics


def _masks():
    rng = np.random.default_rng(3)
    blob = np.zeros((6, 20, 30), np.uint32)
    blob[2:5, 3:17, 11:29] = 1
    blob[0, 0, 0] = 2
    one = np.zeros((1, 40, 40), np.uint8)
    one[0, 7, 33] = 1
    yield blob
    yield one
    yield rng.integers(0, 4, (5, 9, 13)).astype(np.int16)
    yield np.ones((1, 64, 64), np.uint32)
    yield (rng.random((12, 12)) > 0.7).astype(np.uint8)  # a 2D image


@pytest.mark.parametrize("array", list(_masks()), ids=lambda a: f"{a.shape}-{a.dtype}")
def test_answers_are_simpleitks(array):
    mask = sitk.GetImageFromArray(array)
    mask.SetSpacing([0.7, 1.3, 2.0][: mask.GetDimension()])
    mask.SetOrigin([5.0, -3.0, 1.5][: mask.GetDimension()])
    image = sitk.Cast(mask, sitk.sitkFloat64)
    theirs, ours = sitk.LabelStatisticsImageFilter(), LabelStatistics()
    theirs.Execute(image, mask)
    ours.Execute(image, mask)
    assert ours._itk is None  # answered from the array
    shape_theirs, shape_ours = sitk.LabelShapeStatisticsImageFilter(), LabelShapeStatistics()
    shape_theirs.Execute(mask)
    shape_ours.Execute(mask)
    assert list(ours.GetLabels()) == sorted(theirs.GetLabels())
    assert list(shape_ours.GetLabels()) == sorted(shape_theirs.GetLabels())
    for label in range(0, 5):
        assert (label in ours.GetLabels()) == (label in theirs.GetLabels())
        assert (label in shape_ours.GetLabels()) == (label in shape_theirs.GetLabels())
        if label in theirs.GetLabels():
            assert ours.GetBoundingBox(label) == theirs.GetBoundingBox(label)
            assert ours.GetCount(label) == theirs.GetCount(label)
        if label in shape_theirs.GetLabels():
            assert shape_ours.GetBoundingBox(label) == shape_theirs.GetBoundingBox(label)


def test_images_on_another_grid_are_itks_to_judge():
    # ITK compares the two grids with its tolerance and raises the errors pyradiomics reads.
    mask = sitk.GetImageFromArray(np.ones((4, 8, 8), np.uint8))
    image = sitk.Cast(mask, sitk.sitkFloat64)
    image.SetOrigin((0.5, 0.0, 0.0))
    ours = LabelStatistics()
    with pytest.raises(RuntimeError, match="Inputs do not occupy the same physical space"):
        ours.Execute(image, mask)
    nearly = sitk.Cast(mask, sitk.sitkFloat64)
    nearly.SetOrigin((1e-9, 0.0, 0.0))  # within ITK's tolerance: ITK answers
    ours.Execute(nearly, mask)
    assert ours._itk is not None and ours.GetBoundingBox(1) == (0, 7, 0, 7, 0, 3)
