"""The GLCM and NGTDM of frd/_kernels.c give what pyradiomics' C module gives, bit for bit,
on the inputs their shortcuts treat specially: masks that fill only part of the volume
(the mask's box, padded by the angles' reach; angles longer than the box), single voxels,
voxels on the image's borders, gray levels at the limits of the compact arrays (255/256
for the GLCM's 1 or 2 byte image; the NGTDM's 32 or 64 bit packing of neighbour counts
and level sums), garbage outside the mask, 1-sized dimensions, force2D, distances whose
offsets make a box (NGTDM's box sums) or do not (its sums per angle), and gray levels
whose GLCM tables are too large (counted straight into the matrix)."""

from __future__ import annotations

import numpy as np
import pytest
from radiomics import cMatrices

from frd import _kernels as K
from frd import matrices


def _masks(rng, shape):
    one = np.zeros(shape, bool)
    one[tuple(rng.integers(0, s) for s in shape)] = True
    corner = np.zeros(shape, bool)
    corner[tuple(slice(s - 1, s) for s in shape)] = True
    inner = np.zeros(shape, bool)
    inner[tuple(slice(s // 3, max(s // 3 + 1, 2 * s // 3)) for s in shape)] = True
    edge = np.zeros(shape, bool)
    edge[..., :2] = True
    stripes = np.zeros(shape, bool)
    stripes[..., ::2, :] = True
    return {
        "full": np.ones(shape, bool),
        "one": one,
        "corner": corner,
        "random": rng.random(shape) < 0.6,
        "inner": inner & (rng.random(shape) < 0.9),
        "edge": edge,
        "stripes": stripes,
    }


SHAPES = [(1, 1, 5), (1, 6, 1), (4, 1, 1), (1, 9, 11), (3, 1, 8), (5, 7, 1), (4, 6, 7), (7, 9, 8)]


def _image(rng, shape, Ng, mask):
    image = rng.integers(1, Ng + 1, size=shape).astype(np.int32)
    image[rng.random(shape) < 0.4] = Ng  # runs of one level, and the widest one
    image[~mask] = rng.integers(-3, Ng + 70000, size=int((~mask).sum()))  # ignored outside
    return image


def _cases(shape, Ng, seed):
    """(image, mask, force2D, force2Ddimension) in 3D, and as planes for 1-thick volumes."""
    rng = np.random.default_rng(seed)
    for name, mask in _masks(rng, shape).items():
        image = _image(rng, shape, Ng, mask)
        for flags in [(False, 0)] + [(True, d) for d in range(3)]:
            yield name, image, mask, flags
        if shape[0] == 1:
            yield name, image[0], mask[0], (False, 0)


def _equal(got, expected):
    return got.shape == expected.shape and np.array_equal(got.view(np.uint64), expected.view(np.uint64))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("Ng", [1, 3, 255, 256])
def test_glcm_matches_pyradiomics(shape, Ng):
    for name, image, mask, flags in _cases(shape, Ng, hash((shape, Ng)) % 2**32):
        for distances in ([1], [2], [1, 3]):
            try:
                expected = cMatrices.calculate_glcm(image, mask, np.array(distances), Ng, *flags)[0]
            except (RuntimeError, IndexError, ValueError):
                continue  # no angles for this shape
            got = matrices.calculate_glcm(image, mask, distances, Ng, *flags)[0]
            assert _equal(got, expected), (shape, Ng, name, flags, distances)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("Ng", [1, 3, 256, 30000])
def test_ngtdm_matches_pyradiomics(shape, Ng):
    # distances [1] and [1, 2] make a box of offsets (box sums); [2] and [1, 3] do not. With
    # 3 distances (342 offsets in 3D) and Ng = 30000, counts and sums need 64 bits.
    for name, image, mask, flags in _cases(shape, Ng, hash((shape, Ng, 1)) % 2**32):
        for distances in ([1], [1, 2], [2], [1, 3]) + (([1, 2, 3], [2, 3]) if Ng > 256 else ()):
            try:
                expected = cMatrices.calculate_ngtdm(image, mask, np.array(distances), Ng, *flags)
            except (RuntimeError, IndexError, ValueError):
                continue  # no angles for this shape
            got = matrices.calculate_ngtdm(image, mask, distances, Ng, *flags)
            assert _equal(got, expected), (shape, Ng, name, flags, distances)


def test_ngtdm_means_of_a_larger_volume_match_pyradiomics():
    """Fractional means of a real-like volume, a partial mask: the differences of whole
    rows at once (SSE2), added in voxel order."""
    rng = np.random.default_rng(7)
    shape = (6, 33, 45)
    image = np.clip(rng.normal(20, 6, shape).round(), 1, 40).astype(np.int32)
    mask = rng.random(shape) < 0.85
    mask[:, :, :3] = False
    for flags in [(False, 0), (True, 0)]:
        expected = cMatrices.calculate_ngtdm(image, mask, np.array([1]), 40, *flags)
        got = matrices.calculate_ngtdm(image, mask, [1], 40, *flags)
        assert _equal(got, expected), flags
        expected = cMatrices.calculate_glcm(image, mask, np.array([1]), 40, *flags)[0]
        got = matrices.calculate_glcm(image, mask, [1], 40, *flags)[0]
        assert _equal(got, expected), flags


def test_glcm_tables_of_2_byte_levels_match_pyradiomics():
    """Ng = 256 (a 2 byte compact image) on a box large enough for counting tables."""
    rng = np.random.default_rng(11)
    shape = (3, 150, 150)
    image = rng.integers(1, 257, size=shape).astype(np.int32)
    image[:, 40:90, 50:100] = 256
    mask = np.ones(shape, bool)
    mask[:, :2, :] = False
    mask[1, 100:, 100:] = False
    image[~mask] = 0
    expected = cMatrices.calculate_glcm(image, mask, np.array([1]), 256, False, 0)[0]
    got = matrices.calculate_glcm(image, mask, [1], 256, False, 0)[0]
    assert _equal(got, expected)


def test_glcm_of_many_gray_levels_matches_pyradiomics():
    """Ng = 4096: a table per angle would pass 64 MB, so pairs are counted into the matrix."""
    rng = np.random.default_rng(3)
    Ng = 4096
    image = rng.integers(1, Ng + 1, size=(1, 1, 9)).astype(np.int32)
    image[0, 0, [2, 3, 4]] = Ng
    mask = np.ones(image.shape, bool)
    mask[0, 0, 6] = False
    expected = cMatrices.calculate_glcm(image, mask, np.array([1]), Ng, False, 0)[0]
    got = matrices.calculate_glcm(image, mask, [1], Ng, False, 0)[0]
    assert _equal(got, expected)


def test_empty_masks_and_gray_levels_outside_1_to_Ng():
    image = np.full((3, 4, 5), 2, np.int32)
    angles = np.array([[0, 0, 1], [1, 1, 1], [0, -1, 0]], np.int32)
    empty = np.zeros(image.shape, np.uint8)
    out = np.full((1, 2, 2, 3), np.nan)
    K.glcm(image, empty, image.shape, angles, 2, out)
    assert not out.any()
    out = np.full((1, 2, 3), np.nan)
    K.ngtdm(image, empty, image.shape, angles, 2, out)
    assert out.tolist() == [[[0, 0, 1], [0, 0, 2]]]
    mask = np.ones(image.shape, np.uint8)
    image[1, 2, 3] = 7
    for kernel, out in ((K.glcm, np.zeros((1, 2, 2, 3))), (K.ngtdm, np.zeros((1, 2, 3)))):
        with pytest.raises(IndexError, match="gray level 7 outside 1..2"):
            kernel(image, mask, image.shape, angles, 2, out)
