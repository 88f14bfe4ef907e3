"""The "frd" engine gives pyradiomics' feature values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import textured, write_png
from frd.extract import Extractor
from frd.inputs import load_set
from frd.options import FRDOptions


def _vectors(items, **options):
    plain = Extractor(FRDOptions(engine="pyradiomics", **options))
    fast = Extractor(FRDOptions(engine="frd", **options))
    return [(plain(i), fast(i)) for i in items]


def _assert_identical(pairs):
    for plain, fast in pairs:
        assert fast.names == plain.names
        # Bit-identical, NaNs included.
        np.testing.assert_array_equal(fast.values.view(np.int64), plain.values.view(np.int64))


@pytest.mark.parametrize("bin_width", [5, 25])
def test_2d_fixtures_v1_identical(fixtures_2d, bin_width):
    items = load_set(fixtures_2d[0])[:4]
    _assert_identical(_vectors(items, bin_width=bin_width))


def test_2d_v0_and_masks_identical(tmp_path):
    rng = np.random.default_rng(4)
    for i in range(3):
        write_png(tmp_path / "img" / f"c{i}.png", textured(rng, size=64))
        mask = np.zeros((64, 64), np.uint8)
        mask[8 + i : 50, 10:56 - i] = 1
        write_png(tmp_path / "msk" / f"c{i}.png", mask)
    items = load_set(tmp_path / "img", tmp_path / "msk")
    _assert_identical(_vectors(items))
    _assert_identical(_vectors(items, version="v0", bin_width=3))


def test_3d_identical(tmp_path):
    rng = np.random.default_rng(6)
    noise = sitk.GetImageFromArray(rng.normal(0, 1, (10, 14, 14)))
    field = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, 1.0))
    volume = sitk.GetImageFromArray((300 + 80 * field / field.std()).astype(np.int16))
    volume.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(volume, str(tmp_path / "v.nii.gz"))
    _assert_identical(_vectors(load_set(tmp_path)))


def test_engine_is_validated_and_part_of_the_cache_key_only():
    with pytest.raises(ValueError, match="engine"):
        FRDOptions(engine="fast-and-wrong")
    a, b = FRDOptions(engine="frd"), FRDOptions(engine="pyradiomics")
    assert a.extraction_fingerprint() != b.extraction_fingerprint()
    assert a.statistics_fingerprint() == b.statistics_fingerprint()


def test_many_textures_and_bin_widths_identical(tmp_path):
    # Varied textures and bin widths hit every path of pyradiomics' matrix clean-up
    # (no, one or several empty gray levels and zone sizes), which the compact GLSZM
    # must reproduce to the bit.
    rng = np.random.default_rng(12)
    for i, smooth in enumerate((0.5, 1.0, 2.0, 4.0)):
        write_png(tmp_path / "img" / f"t{i}.png", textured(rng, size=40, smooth=smooth, scale=20 + 30 * i))
    items = load_set(tmp_path / "img")
    for bin_width in (1, 3, 10, 40):
        _assert_identical(_vectors(items, version="v0", bin_width=bin_width))
        _assert_identical(_vectors(items, bin_width=bin_width, image_types=("Original",)))


def _with_each_dimension(shapes):
    """(shape, d) for d = None (no force2D) and every dimension the shape has."""
    return [(shape, d) for shape in shapes for d in (None, *range(len(shape)))]


@pytest.mark.parametrize(("shape", "across"), _with_each_dimension([(7, 9, 11), (1, 12, 10), (12, 10)]))
def test_zone_kernel_matches_pyradiomics_glszm(shape, across):
    # The compiled zone labelling against pyradiomics' own GLSZM builder, as dense
    # gray level x zone size counts: blocky random levels make zones of many sizes.
    from radiomics import _cmatrices

    from frd.matrices import gray_level_zones

    rng = np.random.default_rng(sum(shape) + (across or 7))
    image = rng.integers(1, 5, shape).astype(np.int64)
    image = np.where(rng.random(shape) < 0.6, np.roll(image, 1, -1), image)
    mask = rng.random(shape) < 0.85
    Ng, Ns = int(image.max()), int(mask.sum())
    dense = _cmatrices.calculate_glszm(image, mask, Ng, Ns, across is not None, across or 0)[0]

    levels, sizes = gray_level_zones(image, mask, across)
    ours = np.zeros_like(dense)
    np.add.at(ours, (levels - 1, sizes - 1), 1)
    np.testing.assert_array_equal(ours, dense)
    assert sizes.sum() == Ns


@pytest.mark.parametrize(("shape", "force2d"), [
    (shape, d) for shape, d in _with_each_dimension([(6, 9, 11), (1, 12, 10), (12, 10), (3, 2, 30)]) if d != 1])
@pytest.mark.parametrize("distances", [[1], [1, 2]])
def test_matrix_kernels_match_pyradiomics_c(shape, force2d, distances):
    # Every entry, shape, dtype and memory layout of the GLCM, GLRLM and NGTDM equal to
    # what pyradiomics' C module returns for the same call, NGTDM sums to the bit.
    from radiomics import cMatrices

    from frd.matrices import MATRICES

    rng = np.random.default_rng(len(shape) * 100 + sum(shape) + (force2d or 5) + len(distances))
    image = rng.integers(1, 7, shape).astype(np.int64)
    image = np.where(rng.random(shape) < 0.5, np.roll(image, 1, -1), image)
    mask = rng.random(shape) < 0.8
    Ng, Nr = 6, max(shape)
    flags = (force2d is not None, force2d or 0)
    d = np.array(distances)
    calls = [
        ("calculate_glcm", (image, mask, d, Ng, *flags)),
        ("calculate_glrlm", (image, mask, Ng, Nr, *flags)),
        ("calculate_ngtdm", (image, mask, d, Ng, *flags)),
    ]
    for name, args in calls:
        ours, theirs = getattr(MATRICES, name)(*args), getattr(cMatrices, name)(*args)
        if isinstance(theirs, tuple):  # (matrix, angles)
            np.testing.assert_array_equal(ours[1], theirs[1])
            ours, theirs = ours[0], theirs[0]
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert ours.flags.c_contiguous and theirs.flags.c_contiguous
        np.testing.assert_array_equal(ours.view(np.int64), theirs.view(np.int64), err_msg=name)
        assert ours.any()


def test_matrix_kernels_reject_levels_outside_range():
    from frd.matrices import MATRICES

    image = np.full((4, 4, 4), 3)
    with pytest.raises(IndexError, match="gray level 3 outside 1..2"):
        MATRICES.calculate_glcm(image, np.ones_like(image, bool), np.array([1]), 2, False, 0)


def test_engine_refuses_another_pyradiomics_series():
    from frd.engine import check_pyradiomics_version

    check_pyradiomics_version("v3.1.4")
    check_pyradiomics_version("3.1.0")
    with pytest.raises(RuntimeError, match="mirrors pyradiomics 3.1.x, but v3.2.0"):
        check_pyradiomics_version("v3.2.0")


@pytest.mark.slow
def test_3d_fixture_volumes_identical(fixtures_3d):
    # One real volume of each 3D fixture set (32x32x16 resampled to 180x180x88), every
    # filter: all 1,014 values bit-identical to plain pyradiomics.
    items = [load_set(folder)[0] for folder in fixtures_3d]
    pairs = _vectors(items)
    assert all(len(plain.values) > 1000 for plain, _ in pairs)
    _assert_identical(pairs)


def test_kernels_refuse_wrong_buffers_and_release_the_others():
    # A refused buffer must release the ones already taken. A bytearray cannot grow while
    # a buffer of it is held, so the mask (taken before the refused argument) tells.
    from frd import _kernels

    image = np.ones((2, 3, 4), np.int32)
    mask = bytearray(b"\x01" * image.size)
    levels, sizes = np.empty(image.size, np.int32), np.empty(image.size, np.int64)

    def mask_is_free():
        mask.append(0)  # BufferError while still held
        mask.pop()
        return True

    with pytest.raises(TypeError, match="sizes \\(int64\\)"):
        _kernels.glszm_zones(image, mask, image.shape, -1, levels, sizes.astype(np.int32))
    assert mask_is_free()
    with pytest.raises(ValueError, match="do not match the shape"):
        _kernels.glszm_zones(image, mask, (2, 3, 5), -1, levels, sizes)
    assert mask_is_free()
    with pytest.raises(TypeError, match="out \\(float64\\)"):
        _kernels.glcm(image, mask, image.shape, np.array([[0, 0, 1]], np.int32), 1, np.empty(1, np.float32))
    assert mask_is_free()
    assert _kernels.glszm_zones(image, mask, image.shape, -1, levels, sizes) == 1
    assert sizes[0] == image.size and mask_is_free()
