"""The GLRLM feature sums of the kernel against pyradiomics' numpy expressions, bit for bit.

pyradiomics' matrix arrives in either memory layout (run lengths or gray levels outermost,
depending on which ``numpy.delete`` calls copied it), and numpy's sums follow the layout of
the array they reduce, which for some features is P's and for others a C-ordered product:
random non-integer matrices (where the order of additions shows) in both layouts check
every sum.
"""

from __future__ import annotations

import numpy as np
import pytest

from frd.matrices import glrlm_feature_sums

ROWS = ("sre", "lre", "gln", "rln", "np", "lglre", "hglre", "srlgle", "srhgle", "lrlgle", "lrhgle", "glv", "rv")


def _pyradiomics_sums(P, pr, pg, ivector, jvector, Nr) -> dict:
    # pyradiomics' expressions (radiomics/glrlm.py), before the division by Nr and the mean
    i2, j2 = ivector[None, :, None] ** 2, jvector[None, :, None] ** 2
    pgn, prn = pg / Nr[:, None, :], pr / Nr[:, None, :]
    u_i = np.sum(pgn * ivector[None, :, None], 1, keepdims=True)
    u_j = np.sum(prn * jvector[None, :, None], 1, keepdims=True)
    I2, J2 = ivector[None, :, None, None] ** 2, jvector[None, None, :, None] ** 2
    return {
        "sre": np.sum(pr / j2, 1),
        "lre": np.sum(pr * j2, 1),
        "gln": np.sum(pg**2, 1),
        "rln": np.sum(pr**2, 1),
        "np": np.sum(pr * jvector[None, :, None], 1),
        "lglre": np.sum(pg / i2, 1),
        "hglre": np.sum(pg * i2, 1),
        "srlgle": np.sum(P / (I2 * J2), (1, 2)),
        "srhgle": np.sum(P * I2 / J2, (1, 2)),
        "lrlgle": np.sum(P * J2 / I2, (1, 2)),
        "lrhgle": np.sum(P * (J2 * I2), (1, 2)),
        "glv": np.sum(pgn * (ivector[None, :, None] - u_i) ** 2, 1),
        "rv": np.sum(prn * (jvector[None, :, None] - u_j) ** 2, 1),
    }


@pytest.mark.parametrize("ng,nr,na", [(2, 2, 4), (7, 5, 4), (40, 13, 4), (31, 64, 13), (150, 9, 13), (3, 200, 2)])
@pytest.mark.parametrize("run_lengths_outer", [False, True])
def test_every_sum_is_numpys(ng, nr, na, run_lengths_outer):
    rng = np.random.default_rng(ng * 1000 + nr * 10 + na)
    P = rng.random((1, ng, nr, na)) * rng.integers(1, 10**6, (1, ng, nr, 1)) / 7.0
    P[rng.random(P.shape) < 0.3] = 0.0
    if run_lengths_outer:  # the layout numpy.delete leaves after pyradiomics' deletions
        P = np.ascontiguousarray(P.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    pr, pg = np.sum(P, 1), np.sum(P, 2)
    ivector = np.sort(rng.choice(np.arange(1, 4 * ng + 1), ng, replace=False)).astype(float)
    jvector = np.arange(1, nr + 1, dtype=float)
    Nr = np.sum(P, (1, 2))
    ours = glrlm_feature_sums(P, pr, pg, ivector, jvector, Nr)
    assert ours is not None
    theirs = _pyradiomics_sums(P, pr, pg, ivector, jvector, Nr)
    for row, name in enumerate(ROWS):
        assert np.array_equal(ours[row].view(np.uint64), theirs[name][0].view(np.uint64)), name


def test_other_layouts_are_left_to_numpy():
    P = np.ones((1, 4, 3, 1))  # a single angle: numpy sums pairwise
    assert (
        glrlm_feature_sums(P, np.sum(P, 1), np.sum(P, 2), np.arange(1.0, 5), np.arange(1.0, 4), np.ones((1, 1))) is None
    )
