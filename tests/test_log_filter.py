"""frd.log_filter must return exactly SimpleITK's LaplacianRecursiveGaussian bits."""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from frd import _log
from frd.log_filter import kernel_covers, laplacian_of_gaussian

FIXTURE = Path(__file__).parent / "data" / "frd-score-fixtures" / "medical_3d" / "d1" / "d1_01.nii.gz"


def _itk(image, sigma, normalize=True):
    # the calls pyradiomics' getLoGImage makes
    f = sitk.LaplacianRecursiveGaussianImageFilter()
    f.SetNormalizeAcrossScale(normalize)
    f.SetSigma(sigma)
    return f.Execute(image)


def _assert_same(image, sigma, normalize=True):
    expected = _itk(image, sigma, normalize)
    got = laplacian_of_gaussian(image, sigma, normalize)
    assert got.GetPixelID() == expected.GetPixelID() == sitk.sitkFloat32
    assert got.GetSize() == expected.GetSize()
    assert got.GetOrigin() == expected.GetOrigin()
    assert got.GetSpacing() == expected.GetSpacing()
    assert got.GetDirection() == expected.GetDirection()
    e = sitk.GetArrayFromImage(expected).view(np.uint32)
    g = sitk.GetArrayFromImage(got).view(np.uint32)
    if not np.array_equal(e, g):
        bad = np.argwhere(e != g)
        pytest.fail(f"{len(bad)} voxels differ, first at {bad[0].tolist()}")


def _image(shape, dtype=np.float64, spacing=None, seed=0, direction=None, origin=None):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(shape) * 50 + 10).astype(dtype)
    im = sitk.GetImageFromArray(a)
    if spacing is not None:
        im.SetSpacing(spacing)
    if direction is not None:
        im.SetDirection(direction)
    if origin is not None:
        im.SetOrigin(origin)
    return im


SHAPES = [(4, 4, 4), (4, 5, 6), (6, 4, 5), (5, 7, 4), (9, 13, 11), (30, 21, 17), (17, 40, 33)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_volumes(shape, dtype):
    im = _image(shape, dtype, spacing=(0.8, 1.1, 2.5), seed=sum(shape))
    for sigma in (0.5, 2.0, 3.0, 4.0, 5.0):
        _assert_same(im, sigma)


@pytest.mark.parametrize(
    "spacing", [(1.0, 1.0, 1.0), (0.5, 0.5, 3.0), (3.0, 0.7, 0.7), (0.3, 2.2, 1.7), (11.25, 11.25, 11.0)]
)
def test_anisotropic_spacing_and_direction(spacing):
    c, s = np.cos(0.3), np.sin(0.3)
    direction = (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, -1.0)
    im = _image((12, 15, 10), spacing=spacing, direction=direction, origin=(-4.0, 7.5, 100.0), seed=3)
    for sigma in (0.5, 1.0, 2.0, 3.0, 4.0, 5.0):
        _assert_same(im, sigma)


def test_many_sigmas_and_spacings():
    # sweeps the coefficient computation (libm sin/cos/exp and ITK's expression order)
    rng = np.random.default_rng(11)
    for k in range(40):
        spacing = tuple(float(v) for v in rng.uniform(0.2, 4.0, 3))
        sigma = float(rng.choice([rng.uniform(0.05, 1.0), rng.uniform(1.0, 12.0)]))
        im = _image((5, 6, 7), spacing=spacing, seed=k)
        _assert_same(im, sigma)
    _assert_same(_image((6, 6, 6)), 0.01)  # underflowing exponentials


def test_normalize_across_scale_off():
    im = _image((8, 9, 10), spacing=(0.7, 1.0, 1.5))
    for sigma in (0.5, 3.0):
        _assert_same(im, sigma, normalize=False)


def test_nan_voxel():
    for dtype in (np.float64, np.float32):
        a = np.random.default_rng(5).standard_normal((10, 12, 14)).astype(dtype)
        a[4, 6, 7] = np.nan
        a[0, 0, 0] = np.nan
        im = sitk.GetImageFromArray(a)
        for sigma in (0.5, 2.0):
            _assert_same(im, sigma)
    b = np.zeros((6, 6, 6))  # exact zeros: ITK's add turns -0.0 into +0.0
    _assert_same(sitk.GetImageFromArray(b), 2.0)


def test_integer_pixel_types():
    rng = np.random.default_rng(9)
    for dtype in (np.uint8, np.int16, np.uint16, np.int32, np.int64):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, (7, 8, 9), dtype=dtype, endpoint=True)
        im = sitk.GetImageFromArray(a)
        assert kernel_covers(im, 2.0)
        _assert_same(im, 2.0)


@pytest.mark.parametrize("shape", [(4, 4), (5, 9), (30, 17), (128, 128)])
def test_two_dimensional_images(shape):
    im = _image(shape, spacing=(0.6, 1.4), seed=shape[0])
    assert kernel_covers(im, 2.0)
    for sigma in (0.5, 2.0, 5.0):
        _assert_same(im, sigma)


@pytest.mark.parametrize("shape", [(1, 32, 32), (1, 128, 128), (3, 10, 10), (10, 2, 10), (10, 10, 1), (3, 3, 3)])
def test_axes_shorter_than_four_behave_like_simpleitk(shape):
    # ITK refuses fewer than 4 pixels along any axis; we hand those to SimpleITK
    im = _image(shape)
    assert not kernel_covers(im, 2.0)
    with pytest.raises(RuntimeError) as expected:
        _itk(im, 2.0)
    with pytest.raises(RuntimeError) as got:
        laplacian_of_gaussian(im, 2.0)
    assert "less than 4" in str(expected.value) and "less than 4" in str(got.value)


def test_bad_sigma_falls_back():
    im = _image((5, 5, 5))
    assert not kernel_covers(im, 0.0)
    with pytest.raises(RuntimeError):
        laplacian_of_gaussian(im, 0.0)


def test_thread_count_does_not_matter():
    im = _image((20, 24, 28), seed=2)
    old = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        for threads in (1, 2):
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
            _assert_same(im, 3.0)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(old)


def test_fixture_prepared_like_pyradiomics():
    from radiomics import imageoperations

    raw = sitk.ReadImage(str(FIXTURE))
    normalized = imageoperations.normalizeImage(raw)  # sitk.Normalize -> 64-bit float
    assert normalized.GetPixelID() == sitk.sitkFloat64
    for image in (normalized, sitk.Cast(normalized, sitk.sitkFloat32), raw):
        assert kernel_covers(image, 2.0)
        for sigma in (0.5, 1.0, 2.0, 3.0, 4.0, 5.0):
            _assert_same(image, sigma)


def test_kernel_argument_checks():
    a = np.zeros((5, 5, 5))
    out = np.empty((5, 5, 5), np.float32)
    with pytest.raises(TypeError):
        _log.laplacian(a, np.empty((5, 5, 5)), (1, 1, 1), 1.0)
    with pytest.raises(ValueError):
        _log.laplacian(a, np.empty((5, 5, 4), np.float32), (1, 1, 1), 1.0)
    with pytest.raises(ValueError):
        _log.laplacian(np.zeros((3, 5, 5)), np.empty((3, 5, 5), np.float32), (1, 1, 1), 1.0)
    with pytest.raises(ValueError):
        _log.laplacian(a, out, (1, 1), 1.0)
    with pytest.raises(ValueError):
        _log.laplacian(a, out, (1, 1, 1), -1.0)
    f = np.zeros((5, 5, 5), np.float32)
    with pytest.raises(ValueError):
        _log.laplacian(f, f, (1, 1, 1), 1.0)  # in place is not supported
    assert len(_log.coefficients(2.0, 1.0, 2)) == 20
