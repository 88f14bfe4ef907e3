"""Chunked (streaming) statistics give the in-memory values: the v1 semantics survive."""

from __future__ import annotations

import numpy as np
import pytest

import frd
from frd.aggregate import ColumnMoments, Moments
from frd.cache import FeatureCache
from frd.featureset import extract_sets
from frd.inputs import load_set
from frd.options import FRDOptions


def test_moments_match_numpy_even_far_from_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(101, 7)) * [1, 2, 3, 4, 5, 6, 7] + 1e8  # large offset: naive sums fail
    moments, columns = Moments(7), ColumnMoments(7)
    for chunk in np.array_split(x, 9):
        moments.update(chunk)
        columns.update(chunk)
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(moments.covariance(), np.cov(x, rowvar=False), rtol=1e-7)
    norm = columns.normalizer("zscore", 0.0, 1.0, False, np.float64)
    np.testing.assert_allclose(norm.scale, x.std(axis=0), rtol=1e-7)
    np.testing.assert_array_equal(columns.normalizer("minmax", 0, 1, True, np.float64).centre, x.min(axis=0))


def test_non_finite_columns_are_flagged_and_do_not_spoil_the_others():
    x = np.arange(12.0).reshape(4, 3)
    x[2, 1] = np.inf
    moments = Moments(3)
    moments.update(x[:2])
    moments.update(x[2:])
    assert moments.finite.tolist() == [True, False, True]
    keep = [0, 2]
    np.testing.assert_allclose(moments.covariance()[np.ix_(keep, keep)], np.cov(x[:, keep], rowvar=False))


@pytest.mark.parametrize("chunk_rows", [1, 4])
def test_streaming_frd_equals_in_memory_v1(generated_2d, tmp_path, chunk_rows):
    memory = frd.compare(*generated_2d, cache_dir=tmp_path, progress=False)
    streamed = frd.compare(*generated_2d, cache_dir=tmp_path, progress=False, chunk_rows=chunk_rows)
    assert streamed.features_used == memory.features_used
    assert streamed.n_reference == memory.n_reference and streamed.n_candidate == memory.n_candidate
    assert abs(streamed.value - memory.value) <= 1e-6


def test_streaming_frd_equals_in_memory_v0_joint_and_independent(generated_2d, tmp_path):
    for extra in ({"version": "v0"}, {"norm_ref": "independent"}):
        memory = frd.compare(*generated_2d, cache_dir=tmp_path, progress=False, **extra)
        streamed = frd.compare(*generated_2d, cache_dir=tmp_path, progress=False, chunk_rows=3, **extra)
        assert streamed.value == pytest.approx(memory.value, rel=1e-6)


def test_streaming_without_cache_uses_a_scratch_store(generated_2d, tmp_path):
    memory = frd.compare(*generated_2d, use_cache=False, progress=False)
    streamed = frd.compare(*generated_2d, use_cache=False, progress=False, chunk_rows=5)
    assert abs(streamed.value - memory.value) <= 1e-6


def test_rows_stay_in_the_cache_when_not_kept(generated_2d, tmp_path):
    with FeatureCache(tmp_path) as cache:
        (fs,) = extract_sets([load_set(generated_2d[0])], FRDOptions(), cache=cache, progress=False, keep_values=False)
        assert fs.values is None and len(fs.keys) == 6
        rows = np.vstack(list(fs.chunks(cache, 4)))
    in_memory = frd.extract_features(generated_2d[0], cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(rows, in_memory.values)
