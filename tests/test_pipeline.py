"""The whole pipeline on real images: stats files, cache, skipping, errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import texture_sets, textured, write_png

import frd
from frd.cache import FeatureCache
from frd.featureset import ExtractionError
from frd.inputs import ImageItem, load_set
from frd.sources import load_source
from frd.stats import StatsMismatch


def _python(code: str, *args, timeout: float = 300) -> str:
    """The output of ``python -c code args`` in a fresh interpreter, which must succeed."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory):
    return texture_sets(tmp_path_factory.mktemp("small"), 5, seed=11)


def test_stats_file_gives_the_folder_value(small_sets, tmp_path):
    a, b = small_sets
    direct = frd.compare(a, b, cache_dir=tmp_path, progress=False)
    stats = frd.compute_reference_stats(a, cache_dir=tmp_path, progress=False)
    path = stats.save(tmp_path / "a.frdstats")
    via_file = frd.compare(path, b, cache_dir=tmp_path, progress=False)
    assert via_file.value == direct.value
    assert via_file.features_used == direct.features_used
    assert via_file.n_reference == 5
    # Only the candidate was looked up: the reference came from the file.
    assert via_file.cache["hits"] == 5 and via_file.cache["extracted"] == 0


def test_stats_file_made_with_other_settings_is_refused(small_sets, tmp_path):
    a, b = small_sets
    path = frd.compute_reference_stats(a, bin_width=10, cache_dir=tmp_path, progress=False).save(
        tmp_path / "a.frdstats"
    )
    with pytest.raises(StatsMismatch, match="bin_width"):
        frd.compare(path, b, cache_dir=tmp_path, progress=False)


def test_cache_hit_skips_extraction(small_sets, tmp_path):
    a, b = small_sets
    first = frd.compare(a, b, cache_dir=tmp_path, progress=False)
    assert first.cache == {"enabled": True, "hits": 0, "extracted": 10}
    assert len(FeatureCache(tmp_path)) == 10
    second = frd.compare(a, b, cache_dir=tmp_path, progress=False)
    assert second.cache == {"enabled": True, "hits": 10, "extracted": 0}
    assert second.value == first.value
    # Other extraction settings are other cache entries.
    third = frd.compare(a, b, cache_dir=tmp_path, progress=False, bin_width=10)
    assert third.cache["extracted"] == 10 and third.value != first.value
    uncached = frd.compare(a, b, use_cache=False, progress=False, workers=1)
    assert uncached.cache["hits"] == 0 and uncached.value == first.value


def test_without_a_cache_no_image_is_hashed(small_sets, tmp_path, monkeypatch):
    # The cache keys hash every image's bytes before extraction starts; without a cache
    # nothing looks them up, so extraction reads each file once, and sooner.
    def hashed(item):
        raise AssertionError(f"{item.files[0]} was hashed without a cache")

    a, b = small_sets
    expected = frd.compare(a, b, cache_dir=tmp_path, progress=False, workers=1)
    monkeypatch.setattr(ImageItem, "content_hash", hashed)
    uncached = frd.compare(a, b, use_cache=False, progress=False, workers=1)
    assert uncached.value == expected.value and uncached.cache["extracted"] == 10
    with pytest.raises(AssertionError, match="hashed without a cache"):
        frd.compare(a, b, cache_dir=tmp_path / "other", progress=False, workers=1)


def test_a_run_loads_neither_yaml_nor_numpy_ma_nor_multiprocessing(tmp_path):
    # Start-up every run pays: the presets are TOML (Python's own reader), and the order
    # statistics never reach numpy's np.unique or median NaN check, which import numpy.ma
    # (numpy's nanmedian of fewer than 600 voxels, kept as pyradiomics calls it, still
    # does: these images have 1600 after resampling). A YAML parameter file loads PyYAML.
    # The forked worker of this two-process run speaks over plain pipes.
    a, b = texture_sets(tmp_path, 3, seed=5, size=80)
    code = (
        "import sys, frd; r = frd.compare(sys.argv[1], sys.argv[2], use_cache=False, progress=False, workers=2);"
        "print(r.value, 'yaml' in sys.modules, 'numpy.ma' in sys.modules, 'multiprocessing' in sys.modules)"
    )
    assert _python(code, a, b).split()[1:] == ["False", "False", "False"]


def test_fully_cached_run_does_not_import_pyradiomics(small_sets, tmp_path):
    a, b = small_sets
    frd.compare(a, b, cache_dir=tmp_path, progress=False)
    code = (
        "import sys, frd; r = frd.compare(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3], progress=False);"
        "print(r.value, 'radiomics' in sys.modules, 'SimpleITK' in sys.modules)"
    )
    assert _python(code, a, b, tmp_path).split()[1:] == ["False", "False"]


def test_corrupt_and_empty_files_are_skipped_and_named(small_sets, tmp_path):
    a, b = small_sets
    cand = tmp_path / "cand"
    shutil.copytree(b, cand)
    good = (cand / "i0.png").read_bytes()
    (cand / "truncated.png").write_bytes(good[: len(good) // 2])
    (cand / "empty.png").write_bytes(b"")
    (cand / "text.png").write_text("this is not a PNG")
    result = frd.compare(a, cand, cache_dir=tmp_path, progress=False, max_skipped=0.5)
    skipped = {s["name"]: s["reason"] for s in result.skipped}
    assert set(skipped) == {"truncated.png", "empty.png", "text.png"}
    assert all(s["set"] == "candidate" for s in result.skipped)
    assert result.n_candidate == 5
    assert all(str(cand) in s["path"] for s in result.skipped)
    with pytest.raises(ExtractionError, match="strict"):
        frd.compare(a, cand, cache_dir=tmp_path, progress=False, strict=True, max_skipped=0.5)


@pytest.mark.parametrize("version", ["v1", "v0"])
@pytest.mark.parametrize("engine", ["frd", "pyradiomics"])
def test_images_with_nan_or_infinite_voxels_are_skipped_and_named(small_sets, tmp_path, engine, version):
    # v1 normalises each image first: one NaN or infinite voxel makes all of them NaN, and
    # the image cannot be binned. v0 bins the raw values: an infinite one cannot be binned,
    # but pyradiomics' nan-aware minimum and maximum step over a NaN voxel, and both
    # engines give that image's features, the same bits.
    a, _ = small_sets
    folder = tmp_path / "set"
    shutil.copytree(a, folder)
    for name, bad in (("nan.mha", np.nan), ("inf.mha", np.inf), ("minus_inf.mha", -np.inf)):
        pixels = np.random.default_rng(5).normal(100, 20, (40, 40))
        pixels[5, 7] = bad
        sitk.WriteImage(sitk.GetImageFromArray(pixels), str(folder / name))
    features = frd.extract_features(
        folder, cache_dir=tmp_path, progress=False, engine=engine, version=version, max_skipped=0.5, workers=1
    )
    reasons = {s.name: s.reason for s in features.skipped}
    expected = {"inf.mha", "minus_inf.mha"} | ({"nan.mha"} if version == "v1" else set())
    assert set(reasons) == expected
    for name, reason in reasons.items():
        assert reason == (
            "its original image: some of its voxels are not numbers (NaN) or infinite, and cannot be binned into "
            "gray levels; replace them (with the background's value, for example)"
        ), name
    assert len(features) == 5 + (version == "v0")
    if version == "v0":
        other = "pyradiomics" if engine == "frd" else "frd"
        row = [item.name for item in features.items].index("nan.mha")
        theirs = frd.extract_features(folder / "nan.mha", progress=False, engine=other, version="v0", use_cache=False)
        assert features.values[row].tobytes() == theirs.values[0].tobytes()


def test_masks_with_wrong_geometry_are_an_error_naming_both(small_sets, tmp_path):
    a, _ = small_sets
    write_png(tmp_path / "m" / "i0.png", np.ones((40, 40), np.uint8))
    for i in range(1, 5):
        write_png(tmp_path / "m" / f"i{i}_mask.png", np.ones((40, 40), np.uint8))
    write_png(tmp_path / "m" / "i3_mask.png", np.ones((30, 40), np.uint8))
    with pytest.raises(ExtractionError, match=r"i3_mask\.png.*i3\.png"):
        frd.extract_features(a, tmp_path / "m", cache_dir=tmp_path, progress=False, workers=1)


def test_masks_change_features_and_empty_masks_skip(small_sets, tmp_path):
    a, _ = small_sets
    for i in range(5):
        mask = np.zeros((40, 40), np.uint8)
        mask[5:35, 5:35] = 255 if i < 4 else 0  # 0/255 masks are read as 0/1
        write_png(tmp_path / "m" / f"i{i}.png", mask)
    with_masks = frd.extract_features(a, tmp_path / "m", cache_dir=tmp_path, progress=False, max_skipped=0.2)
    without = frd.extract_features(a, cache_dir=tmp_path, progress=False)
    assert len(with_masks) == 4 and with_masks.skipped[0].name == "i4.png"
    assert "at most one labelled voxel" in with_masks.skipped[0].reason
    assert not np.allclose(with_masks.values, without.values[:4])


def test_mixed_2d_and_3d_is_refused(small_sets, tmp_path):
    a, _ = small_sets
    vol = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (6, 12, 12)).astype(np.float32))
    vol.SetSpacing((2.0, 2.0, 2.0))
    (tmp_path / "v").mkdir()
    sitk.WriteImage(vol, str(tmp_path / "v" / "vol.nii.gz"))
    shutil.copy(a / "i0.png", tmp_path / "v" / "flat.png")
    with pytest.raises(ExtractionError, match="mixes 2D and 3D"):
        frd.extract_features(tmp_path / "v", cache_dir=tmp_path, progress=False)


def test_candidate_of_other_dimensionality_is_refused(small_sets, tmp_path):
    a, _ = small_sets
    vol = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (6, 12, 12)).astype(np.float32))
    vol.SetSpacing((2.0, 2.0, 2.0))
    for i in range(2):
        (tmp_path / "v").mkdir(exist_ok=True)
        sitk.WriteImage(vol, str(tmp_path / "v" / f"vol{i}.nii.gz"))
    with pytest.raises(ExtractionError, match="2D but the candidate set is 3D"):
        frd.compare(a, tmp_path / "v", cache_dir=tmp_path, progress=False)


def test_results_keep_input_order_with_a_process_pool(small_sets, tmp_path):
    a, _ = small_sets
    pooled = frd.extract_features(a, use_cache=False, progress=False, workers=2)
    serial = frd.extract_features(a, use_cache=False, progress=False, workers=1)
    assert [i.name for i in pooled.items] == [f"i{i}.png" for i in range(5)]
    np.testing.assert_array_equal(pooled.values, serial.values)


def test_the_calling_process_extracts_beside_the_pool(small_sets, monkeypatch):
    # With -w N, this process takes images from the same queue as the N - 1 pool workers
    # (so that their start-up overlaps work); every image is extracted exactly once and
    # the results come back in input order with the inline values.
    from frd import executors

    a, b = small_sets
    items = load_set(a) + load_set(b)
    options = frd.FRDOptions()
    here = []
    original = executors.extract_task

    def counted(item, *args):
        here.append(item.name)
        return original(item, *args)

    # Pickled by name, so the pool's workers still run the original function.
    counted.__module__, counted.__qualname__ = original.__module__, original.__qualname__
    monkeypatch.setattr(executors, "extract_task", counted)
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    outcomes = dict(executors.LocalExecutor(2).run(items, options))
    assert sorted(outcomes) == list(range(len(items)))
    assert 0 < len(here) < len(items)  # both sides worked
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == threads  # ITK's setting restored
    monkeypatch.undo()
    inline = dict(executors.InlineExecutor().run(items, options))
    for i in range(len(items)):
        assert outcomes[i][0] == "ok"
        np.testing.assert_array_equal(outcomes[i][1].values, inline[i][1].values)


_FORK_PROBE = """
import sys, threading
import numpy as np
import psutil
from frd import FRDOptions, executors
from frd.inputs import load_set

if sys.argv[3] == "thread":  # another Python thread could hold a lock when fork copies one
    threading.Thread(target=threading.Event().wait, daemon=True).start()
items = load_set(sys.argv[1]) + load_set(sys.argv[2])
me = psutil.Process()
kinds = set()
outcomes = {}
for i, outcome in executors.LocalExecutor(2).run(items, FRDOptions()):
    outcomes[i] = outcome
    for child in me.children():  # a fork runs this very command line; loky's workers their own
        try:
            kinds.add("fork" if child.cmdline() == me.cmdline() else "fresh interpreter")
        except psutil.Error:  # it ended meanwhile
            pass
inline = dict(executors.InlineExecutor().run(items, FRDOptions()))
assert sorted(outcomes) == list(range(len(items)))
assert all(np.array_equal(outcomes[i][1].values, inline[i][1].values) for i in outcomes)
print(executors._fork_is_safe(), sorted(kinds))
"""


_REPEATED_RUNS = """
import sys, time
import psutil
from frd import FRDOptions, executors
from frd.inputs import load_set

items = load_set(sys.argv[1]) + load_set(sys.argv[2])
for run in range(4):
    assert all(outcome[0] == "ok" for _, outcome in executors.LocalExecutor(3).run(items, FRDOptions()))
time.sleep(0.5)  # the last run's workers end after it returns: they are not awaited
children = psutil.Process().children()
print(len(children), sum(c.status() == psutil.STATUS_ZOMBIE for c in children))
"""


def test_forked_workers_of_earlier_runs_are_reaped(small_sets):
    # A program that compares again and again forks new workers each time; those of the
    # runs before are waited for then, so at most the last run's (ended) workers remain.
    a, b = small_sets
    children, zombies = map(int, _python(_REPEATED_RUNS, a, b).split())
    assert children <= 2 and zombies <= 2  # two helpers beside this process, from the last run only


_FORK_FAILS = """
import os, sys, time
import psutil
from frd import FRDOptions, executors
from frd.inputs import load_set

real_fork, forks = os.fork, []

def fork():
    if forks:
        raise BlockingIOError(11, "Resource temporarily unavailable")
    forks.append(1)
    return real_fork()

os.fork = fork
try:
    executors._ForkedWorkers(2, 0, load_set(sys.argv[1]), FRDOptions())
except BlockingIOError as exc:
    print("raised", exc.errno)
time.sleep(0.2)
print(len(psutil.Process().children()), len(os.listdir("/proc/self/fd")))
"""


def test_a_fork_that_fails_ends_the_workers_started_before_it(small_sets):
    # No process left waiting for work that never comes, no pipe left open.
    a, _ = small_sets
    before = int(_python("import os; print(len(os.listdir('/proc/self/fd')))"))
    raised, counts = _python(_FORK_FAILS, a, timeout=120).splitlines()
    children, fds = map(int, counts.split())
    assert raised == "raised 11" and children == 0
    assert fds <= before + 2  # the probe's own imports may hold a file or two


_EXIT_AFTER_A_RUN = """
import atexit, os, sys

@atexit.register  # before frd's own: runs after it
def children_left():
    try:
        print("a child left:", os.waitpid(-1, os.WNOHANG))
    except ChildProcessError:
        print("no child left")

from frd import FRDOptions, executors
from frd.inputs import load_set

items = load_set(sys.argv[1]) + load_set(sys.argv[2])
assert all(outcome[0] == "ok" for _, outcome in executors.LocalExecutor(2).run(items, FRDOptions()))
"""


def test_a_process_ends_after_its_forked_workers(small_sets):
    # As multiprocessing joined its children: the workers, told to end after the run, are
    # waited for at exit, so their CPU time counts as the process's (GNU time, a shell).
    a, b = small_sets
    assert _python(_EXIT_AFTER_A_RUN, a, b).strip() == "no child left"


def test_worker_messages_of_any_size_arrive_whole():
    # Length-prefixed pickles over a pipe: a message larger than the pipe's buffer is
    # written in parts and read back whole; a closed writing end is an end of file.
    import os
    import threading

    from frd.executors import _receive, _send

    read, write = os.pipe()
    message = (7, ("ok", np.arange(300_000, dtype=np.float64), "x" * 100_000))
    writer = threading.Thread(target=lambda: (_send(write, message), _send(write, None), os.close(write)))
    writer.start()
    i, (status, values, text) = _receive(read)
    assert (i, status, text) == (7, "ok", "x" * 100_000)
    np.testing.assert_array_equal(values, message[1][1])
    assert _receive(read) is None
    writer.join()
    with pytest.raises(EOFError):
        _receive(read)
    os.close(read)


@pytest.mark.parametrize("threads", ["alone", "thread"])
def test_workers_are_forked_only_where_that_is_safe(small_sets, threads):
    # From a process with no other Python thread (the command line), the workers are forks
    # that inherit its imports; beside another thread they are loky's fresh interpreters
    # (the fork would copy a lock that thread might hold). The values are the same.
    a, b = small_sets
    safe, kinds = _python(_FORK_PROBE, a, b, threads).strip().split(" ", 1)
    if threads == "alone":
        assert safe == "True" and kinds == "['fork']"
    else:
        assert safe == "False" and kinds == "['fresh interpreter']"


_IN_FLIGHT = """
import sys, time
from frd import FRDOptions, executors
from frd.inputs import load_set

items = load_set(sys.argv[1]) + load_set(sys.argv[2])
seconds = float(sys.argv[3])
executors.PREFETCH_BELOW = 0.1


def extract_task(item, options, *args):  # every image takes `seconds`, here and in the fork
    time.sleep(seconds)
    return ("ok", item.name)


send, receive = executors._send, executors._receive
held = most = 0


def counted_send(fd, message):  # the dispatcher hands the worker an image
    global held, most
    held += 1
    most = max(most, held)
    send(fd, message)


def counted_receive(fd):  # the dispatcher reads back one of its results
    global held
    held -= 1
    return receive(fd)


executors.extract_task, executors._send, executors._receive = extract_task, counted_send, counted_receive
outcomes = dict(executors.LocalExecutor(2).run(items, FRDOptions()))
assert sorted(outcomes) == list(range(len(items))), outcomes
print(most)
"""


@pytest.mark.parametrize("seconds, most", [(0.01, 2), (0.2, 1)])
def test_a_worker_holds_a_second_image_only_when_images_are_short(small_sets, seconds, most):
    # A second image in flight hides the dispatcher's latency on short images; on long ones
    # (volumes) it would hand the worker the two largest at once and unbalance the end.
    a, b = small_sets
    assert int(_python(_IN_FLIGHT, a, b, seconds)) == most


def test_volumes_are_handed_out_by_physical_extent(fixtures_3d, tmp_path):
    # Both presets resample to a fixed spacing: the 3D fixtures all hold 32×32×16 voxels,
    # but their extents in mm, and so their extraction times, differ by half. The order of
    # their compressed sizes would start with one of the middle ones.
    from frd import executors

    items = load_set(fixtures_3d[0]) + load_set(fixtures_3d[1])
    images = [sitk.ReadImage(item.files[0]) for item in items]
    extent = [np.prod(np.multiply(image.GetSize(), image.GetSpacing())) for image in images]
    order = [items[i].name for i in executors._largest_first(items)]
    assert order == [items[i].name for i in sorted(range(len(items)), key=lambda i: -extent[i])]
    assert set(order[:2]) == {"d1_01.nii.gz", "d1_04.nii.gz"} and order[-1] == "d1_02.nii.gz"
    by_bytes = sorted(items, key=lambda item: -Path(item.files[0]).stat().st_size)
    assert by_bytes[0].name == "d1_03.nii.gz"

    # A header that cannot be read counts by its bytes, and is left for the extraction to
    # report; images in memory count by their shape and spacing.
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(Path(items[0].files[0]).read_bytes()[:20])  # a gzip stream cut before the header
    mixed = [ImageItem("broken.nii.gz", (str(broken),)), items[1]]
    assert [mixed[i].name for i in executors._largest_first(mixed)] == [items[1].name, "broken.nii.gz"]
    small_coarse, large_fine = sitk.Image(10, 10, sitk.sitkFloat32), sitk.Image(20, 20, sitk.sitkFloat32)
    small_coarse.SetSpacing((3.0, 3.0))
    in_memory = load_source([large_fine, small_coarse])
    assert executors._largest_first(in_memory) == [1, 0]


def test_one_process_runs_with_itk_threads_off_and_gives_them_back(small_sets, monkeypatch):
    # As in every worker, ITK's filters use one thread while this process extracts (its
    # threads cost more than they save on FRD's images); the caller's setting comes back,
    # and the values are those of a run with two processes.
    from frd import executors

    a, _ = small_sets
    seen = []
    extract = executors.extract_task

    def watched(item, options, *args, **kwargs):
        seen.append(sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())
        return extract(item, options, *args, **kwargs)

    monkeypatch.setattr(executors, "extract_task", watched)
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(3)
    try:
        inline = frd.extract_features(a, workers=1, use_cache=False, progress=False)
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 3
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)
    assert seen == [1] * 5
    monkeypatch.undo()
    pooled = frd.extract_features(a, workers=2, use_cache=False, progress=False)
    assert inline.values.tobytes() == pooled.values.tobytes()


def test_concurrent_runs_share_one_cache(small_sets, tmp_path):
    a, b = small_sets
    code = (
        "import sys, frd; "
        "print(frd.compare(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3], workers=1, progress=False).value)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(a), str(b), str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    values = {p.communicate()[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(values) == 1
    cache = FeatureCache(tmp_path)
    assert len(cache) == 10
    assert cache._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_match_sample_count_is_seeded(small_sets, tmp_path):
    a, b = small_sets
    bigger = tmp_path / "bigger"
    shutil.copytree(a, bigger)
    rng = np.random.default_rng(5)
    for i in range(3):
        write_png(bigger / f"extra{i}.png", textured(rng, size=40))
    one = frd.compare(bigger, b, match_sample_count=True, seed=4, cache_dir=tmp_path, progress=False)
    two = frd.compare(bigger, b, match_sample_count=True, seed=4, cache_dir=tmp_path, progress=False)
    assert one.value == two.value and one.n_reference == 5 and one.options["seed"] == 4
