"""The engine's cubic B-spline resampling against SimpleITK's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import imageoperations

from frd.preparation import _OPERATIONS
from frd.resample import ResampleFilter


def _volume(rng, shape, spacing, origin=(0.0, 0.0, 0.0), direction=None, nan=False, inf=False, dtype=np.float64):
    array = (rng.normal(size=shape) * 100).astype(dtype)
    if nan:
        array.flat[rng.integers(array.size)] = np.nan
    if inf:
        array.flat[rng.integers(array.size)] = -np.inf
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def _resampled(cls, image, spacing, size, origin, interpolator=sitk.sitkBSpline):
    f = cls()
    f.SetOutputSpacing(spacing)
    f.SetSize(size)
    f.SetOutputOrigin(origin)
    f.SetOutputDirection(image.GetDirection())
    f.SetOutputPixelType(image.GetPixelID())
    f.SetInterpolator(interpolator)
    return f.Execute(image)


def _assert_same(ours: sitk.Image, theirs: sitk.Image):
    a, b = sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(theirs)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), f"{np.sum(a != b)} of {a.size} values differ"
    for attribute in ("GetOrigin", "GetSpacing", "GetDirection"):
        assert getattr(ours, attribute)() == getattr(theirs, attribute)()


ROTATED = tuple(sitk.VersorTransform((0.1, 0.2, 0.3), 0.3).GetMatrix())
CASES = [
    # shape (z, y, x), spacing, output spacing, options: a 2D image as a single-slice volume
    # (the v1 pipeline), odd sizes and offsets, a volume, lines shorter than the causal
    # horizon (ITK's closed-form start), a rotated and a permuted direction, a NaN and an
    # infinite voxel
    ((1, 256, 256), (1, 1, 1), (2, 2, 1), {}),
    ((1, 255, 251), (0.7, 0.9, 1), (2, 2, 1), {"origin": (-12.3, 4.56, 0)}),
    ((16, 32, 32), (1, 1, 2.5), (2, 2, 2), {}),
    ((16, 32, 32), (0.8, 1.1, 2.5), (1, 1, 1), {"origin": (3.3, -7.1, 12.9), "out_origin": (2.9, -7.3, 12.0)}),
    ((5, 12, 17), (1, 1, 1), (0.5, 0.7, 0.9), {}),
    ((3, 9, 33), (1, 1, 1), (0.5, 0.5, 0.5), {}),
    ((1, 40, 40), (1, 1, 1), (2, 2, 1), {"direction": (0, 1, 0, 1, 0, 0, 0, 0, 1)}),
    ((20, 30, 25), (1, 1, 1), (1.3, 1.7, 0.9), {"direction": ROTATED}),
    ((1, 64, 64), (1, 1, 1), (2, 2, 1), {"nan": True}),
    ((1, 64, 64), (1, 1, 1), (2, 2, 1), {"inf": True}),
    ((3, 3, 4), (1, 1, 1), (0.3, 0.3, 0.3), {}),
]


@pytest.mark.parametrize("shape,spacing,out_spacing,extra", CASES)
def test_bspline_values_are_itks(shape, spacing, out_spacing, extra):
    rng = np.random.default_rng(len(CASES) + sum(shape))
    out_origin = extra.pop("out_origin", extra.get("origin", (0.0, 0.0, 0.0)))
    image = _volume(rng, shape, spacing, **extra)
    size = [max(1, int(round(n * s / o))) for n, s, o in zip(image.GetSize(), spacing, out_spacing)]
    _assert_same(
        _resampled(ResampleFilter, image, out_spacing, size, out_origin),
        _resampled(sitk.ResampleImageFilter, image, out_spacing, size, out_origin),
    )


def test_points_outside_the_image_get_the_default_value():
    rng = np.random.default_rng(5)
    image = _volume(rng, (4, 20, 20), (1, 1, 1))
    ours = _resampled(ResampleFilter, image, (1, 1, 1), [30, 30, 6], (-5.0, -5.0, -1.0))
    _assert_same(ours, _resampled(sitk.ResampleImageFilter, image, (1, 1, 1), [30, 30, 6], (-5.0, -5.0, -1.0)))
    assert (sitk.GetArrayViewFromImage(ours)[0] == 0).all()


def test_what_the_kernel_does_not_cover_is_itks():
    # Nearest neighbour (pyradiomics' mask), another pixel type: ITK runs, with the same result.
    # A dimension of two voxels too: ITK reads outside the line there (not reproducible).
    rng = np.random.default_rng(6)
    bspline = ResampleFilter()
    bspline.SetInterpolator(sitk.sitkBSpline)
    assert not bspline._fits_kernel(_volume(rng, (2, 8, 8), (1, 1, 1)))
    assert bspline._fits_kernel(_volume(rng, (3, 8, 8), (1, 1, 1)))
    mask = sitk.GetImageFromArray((rng.random((1, 50, 50)) > 0.5).astype(np.uint32))
    for interpolator in (sitk.sitkNearestNeighbor, sitk.sitkLinear):
        _assert_same(
            _resampled(ResampleFilter, mask, (2, 2, 1), [25, 25, 1], (0.0, 0.0, 0.0), interpolator),
            _resampled(sitk.ResampleImageFilter, mask, (2, 2, 1), [25, 25, 1], (0.0, 0.0, 0.0), interpolator),
        )
    image = _volume(rng, (1, 50, 50), (1, 1, 1), dtype=np.float32)
    _assert_same(
        _resampled(ResampleFilter, image, (2, 2, 1), [25, 25, 1], (0.0, 0.0, 0.0)),
        _resampled(sitk.ResampleImageFilter, image, (2, 2, 1), [25, 25, 1], (0.0, 0.0, 0.0)),
    )


def test_pyradiomics_resampling_of_the_fixtures_is_unchanged(fixtures_2d, fixtures_3d):
    # pyradiomics' own resampleImage (bounding box, padding, grid alignment), as the v1
    # preset calls it, on real images with a whole-image mask and a partial one.
    from frd.extract import prepare
    from frd.imageio import read_image
    from frd.inputs import load_set
    from frd.options import FRDOptions

    fast = _OPERATIONS.resampleImage  # pyradiomics' function as the engine runs it
    options = FRDOptions()
    for folder in (*fixtures_2d, *fixtures_3d):
        for item in load_set(folder)[:2]:
            image, _ = read_image(item)
            image, mask = prepare(image, item, options)
            image = imageoperations.normalizeImage(image, normalizeScale=100)
            partial = sitk.GetArrayFromImage(mask)
            partial[..., : partial.shape[-1] // 3] = 0
            partial_mask = sitk.GetImageFromArray(partial)
            partial_mask.CopyInformation(mask)
            for m in (mask, partial_mask):
                settings = dict(resampledPixelSpacing=[2, 2, 0] if image.GetSize()[2] == 1 else [2, 2, 2])
                ours = fast(image, m, **settings)
                theirs = imageoperations.resampleImage(image, m, **settings)
                _assert_same(ours[0], theirs[0])
                _assert_same(ours[1], theirs[1])
