"""The run-walking GLRLM and the run-based zone labelling of frd/_kernels.c give what
pyradiomics' C module (GLRLM) and a plain voxel-by-voxel labelling (zones) give, on the
inputs their shortcuts treat specially: masks that fill only part of the volume (the
mask's box), single voxels, lines of runs of length 1 (pyradiomics' kept angles), gray
levels past 255 (wider compact arrays), garbage outside the mask, 1-sized dimensions and
force2D."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from radiomics import cMatrices

from frd import _kernels as K
from frd import matrices


def _masks(rng, shape):
    full = np.ones(shape, bool)
    one = np.zeros(shape, bool)
    one[tuple(rng.integers(0, s) for s in shape)] = True
    inner = np.zeros(shape, bool)
    inner[tuple(slice(s // 3, max(s // 3 + 1, 2 * s // 3)) for s in shape)] = True
    stripes = np.zeros(shape, bool)
    stripes[..., ::2] = True
    return {
        "full": full,
        "one": one,
        "random": rng.random(shape) < 0.6,
        "sparse": rng.random(shape) < 0.08,
        "inner": inner & (rng.random(shape) < 0.9),
        "stripes": stripes,
    }


SHAPES = [(1, 1, 5), (1, 6, 1), (4, 1, 1), (1, 9, 11), (3, 1, 8), (5, 7, 1), (4, 6, 7), (9, 12, 10)]


def _image(rng, shape, Ng, block):
    small = rng.integers(1, Ng + 1, size=tuple(-(-s // block) for s in shape))
    for axis in range(3):
        small = np.repeat(small, block, axis=axis)
    return np.ascontiguousarray(small[: shape[0], : shape[1], : shape[2]], dtype=np.int32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("Ng", [1, 3, 300])
def test_glrlm_runs_match_pyradiomics(shape, Ng):
    rng = np.random.default_rng(hash((shape, Ng)) % 2**32)
    for block, (name, mask) in itertools.product((1, 2), _masks(rng, shape).items()):
        image = _image(rng, shape, Ng, block)
        image[~mask] = rng.integers(-3, Ng + 50, size=int((~mask).sum()))  # ignored outside
        for image_, mask_, flags in (
            [(image, mask, (False, 0))]
            + [(image, mask, (True, d)) for d in range(3)]
            + ([(image[0], mask[0], (False, 0))] if shape[0] == 1 else [])
        ):
            Nr = max(shape)
            try:
                expected = cMatrices.calculate_glrlm(image_, mask_, Ng, Nr, *flags)[0]
            except (RuntimeError, IndexError, ValueError):
                continue  # no angles for this shape
            got = matrices.calculate_glrlm(image_, mask_, Ng, Nr, *flags)[0]
            assert got.shape == expected.shape and np.array_equal(got, expected), (shape, Ng, name, flags)


def test_glrlm_of_an_empty_mask_is_zero_and_levels_are_still_checked():
    image = np.full((3, 4, 5), 2, np.int32)
    angles = np.array([[0, 0, 1], [1, 1, 1]], np.int32)
    out = np.full((1, 2, 5, 2), np.nan)
    K.glrlm(image, np.zeros(image.shape, np.uint8), image.shape, angles, 2, 5, out)
    assert not out.any()
    mask = np.ones(image.shape, np.uint8)
    image[1, 2, 3] = 7
    with pytest.raises(IndexError, match="gray level 7 outside 1..2"):
        K.glrlm(image, mask, image.shape, angles, 2, 5, out)


def _zones_voxel_by_voxel(image, mask, across):
    """Zones grown from each unvisited mask voxel in memory order (26/8-connected)."""
    nz, ny, nx = mask.shape
    seen = np.zeros(mask.shape, bool)
    moves = [d for d in itertools.product((-1, 0, 1), repeat=3) if any(d) and (across is None or d[across] == 0)]
    levels, sizes = [], []
    for start in itertools.product(range(nz), range(ny), range(nx)):
        if not mask[start] or seen[start]:
            continue
        level = image[start] if image is not None else 0
        seen[start] = True
        stack, size = [start], 0
        while stack:
            v = stack.pop()
            size += 1
            for d in moves:
                w = (v[0] + d[0], v[1] + d[1], v[2] + d[2])
                if all(0 <= c < n for c, n in zip(w, mask.shape)) and mask[w] and not seen[w]:
                    if image is None or image[w] == level:
                        seen[w] = True
                        stack.append(w)
        levels.append(level)
        sizes.append(size)
    return np.array(levels, np.int32), np.array(sizes, np.int64)


@pytest.mark.parametrize("shape", SHAPES + [(2, 30, 3)])
@pytest.mark.parametrize("Ng", [1, 2, 6])
def test_zones_come_out_as_voxel_by_voxel_labelling_gives_them(shape, Ng):
    rng = np.random.default_rng(hash((shape, Ng, "zones")) % 2**32)
    masks = _masks(rng, shape)
    masks["empty"] = np.zeros(shape, bool)
    for block, (name, mask) in itertools.product((1, 2), masks.items()):
        image = _image(rng, shape, Ng, block)
        image[~mask] = rng.integers(-3, 9, size=int((~mask).sum()))
        inside = mask.view(np.uint8)
        for across in (None, 0, 1, 2):
            levels = np.empty(image.size, np.int32)
            sizes = np.empty(image.size, np.int64)
            count = K.glszm_zones(image, inside, shape, -1 if across is None else across, levels, sizes)
            want_levels, want_sizes = _zones_voxel_by_voxel(image, mask, across)
            assert np.array_equal(levels[:count], want_levels), (shape, Ng, name, across)
            assert np.array_equal(sizes[:count], want_sizes), (shape, Ng, name, across)
        assert K.count_parts(inside, shape) == len(_zones_voxel_by_voxel(None, mask, None)[0])
