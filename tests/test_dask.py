"""Extraction on a Dask cluster (a real LocalCluster on 127.0.0.1 with two worker processes)."""

from __future__ import annotations

import os
import shutil

import distributed
import pytest
from conftest import texture_sets

import frd


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40
    ) as c:
        yield c


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    return texture_sets(tmp_path_factory.mktemp("dask"), 8, seed=21)


def test_dask_gives_the_local_value_in_input_order(cluster, sets):
    local = frd.compare(*sets, use_cache=False, progress=False, workers=2)
    remote = frd.compare(*sets, use_cache=False, progress=False, scheduler=cluster.scheduler_address)
    assert abs(remote.value - local.value) <= 1e-9
    a = frd.extract_features(sets[0], use_cache=False, progress=False, scheduler=cluster.scheduler_address)
    assert [i.name for i in a.items] == [f"i{i}.png" for i in range(8)]


def test_environment_variable_selects_the_cluster(cluster, sets, monkeypatch):
    def ran_our_task():
        import sys

        return "frd.extract" in sys.modules  # imported by a worker only when it extracts

    with distributed.Client(cluster.scheduler_address) as client:
        client.restart()  # fresh worker processes: nothing of ours loaded yet
        assert not any(client.run(ran_our_task).values())
        monkeypatch.setenv("FRD_DASK_ADDRESS", cluster.scheduler_address)
        frd.extract_features(sets[0], use_cache=False, progress=False, workers=1)
        assert any(client.run(ran_our_task).values())


def test_a_worker_dying_mid_run_does_not_lose_images(cluster, sets, tmp_path):
    expected = frd.compare(*sets, use_cache=False, progress=False, workers=2).value
    killed = []

    def kill_one_worker(done, total):
        if done == 3 and not killed:
            with distributed.Client(cluster.scheduler_address) as client:
                victim = sorted(client.scheduler_info()["workers"])[0]
                client.run(os._exit, 1, workers=[victim], on_error="ignore")
                killed.append(victim)

    result = frd.compare(
        *sets, use_cache=False, progress=False, scheduler=cluster.scheduler_address, on_progress=kill_one_worker
    )
    assert killed
    assert result.n_reference == 8 and result.n_candidate == 8
    assert abs(result.value - expected) <= 1e-9


def test_bad_images_are_reported_per_file_over_dask(cluster, sets, tmp_path):
    cand = tmp_path / "cand"
    shutil.copytree(sets[1], cand)
    (cand / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = frd.compare(
        sets[0], cand, use_cache=False, progress=False, scheduler=cluster.scheduler_address, max_skipped=0.2
    )
    assert [s["name"] for s in result.skipped] == ["broken.png"]
    assert result.n_candidate == 8
