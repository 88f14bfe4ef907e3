"""frd.allocator: glibc's malloc thresholds in the processes frd owns, read back from
glibc itself (mallinfo2) in fresh processes, since the settings last a process's life."""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap

import pytest

from frd.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="glibc ≥ 2.33 (mallinfo2) only",
)

MIB = 1024 * 1024
# struct mallinfo2 (glibc's malloc.h), all size_t
MALLINFO2_FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()


def _heap_probe() -> dict:
    """Where glibc puts a 1 MiB block (heap or a mapping of its own), and how much free
    heap it keeps after a 16 MiB block is freed."""
    import numpy as np

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2_FIELDS]

    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = Mallinfo2
    before = mallinfo2().hblks
    block = np.ones(MIB // 8)
    mapped = mallinfo2().hblks - before
    large = np.ones(16 * MIB // 8)
    del large
    kept = mallinfo2().keepcost
    del block
    return {"mapped": mapped, "kept": kept}


PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from test_allocator import _heap_probe
    {before}
    print(json.dumps(_heap_probe()))
    """
)


def untuned_environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    return {**env, **extra}


def probe_in_fresh_process(before: str = "", env: dict | None = None) -> dict:
    """_heap_probe's answer in a new interpreter, after the code ``before``."""
    code = PROBE.format(tests=os.path.dirname(__file__), before=before)
    env = env or untuned_environment()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


TUNE = "from frd.allocator import tune_for_extraction; assert tune_for_extraction() is {}"


def test_tuned_process_keeps_image_sized_blocks_on_its_heap():
    # glibc's defaults: a 1 MiB block is a mapping of its own, freed heap goes back at once
    untuned = probe_in_fresh_process()
    assert untuned["mapped"] == 1
    assert untuned["kept"] < MIB

    tuned = probe_in_fresh_process(TUNE.format(True))
    assert tuned["mapped"] == 0  # under MMAP_THRESHOLD: from the heap
    assert 16 * MIB <= tuned["kept"] <= TRIM_THRESHOLD  # kept for the next image
    assert MMAP_THRESHOLD == 32 * MIB and TRIM_THRESHOLD == 64 * MIB


@pytest.mark.parametrize(
    "setting",
    [
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"},
    ],
)
def test_the_users_own_malloc_settings_win(setting):
    probe = probe_in_fresh_process(TUNE.format(False), env=untuned_environment(**setting))
    assert probe["mapped"] == 1  # their 128 KiB threshold, not ours


def test_the_frd_command_runs_tuned():
    # the probe runs among the exit handlers of a real command
    probe = probe_in_fresh_process(
        textwrap.dedent(
            """
            import atexit
            atexit.register(lambda: print(json.dumps(_heap_probe()), flush=True))
            sys.argv = ["frd", "compare", "--help"]
            from frd.cli import run
            run()
            """
        )
    )
    assert probe["mapped"] == 0 and probe["kept"] >= 16 * MIB


def test_workers_of_every_pool_run_tuned(monkeypatch):
    """The initializer of frd's pools and of the service's (a fresh interpreter each)."""
    from frd.executors import init_worker

    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(1, mp_context=context, initializer=init_worker, initargs=(0,)) as pool:
        probe = pool.submit(_heap_probe).result(timeout=120)
    assert probe["mapped"] == 0 and probe["kept"] >= 16 * MIB
