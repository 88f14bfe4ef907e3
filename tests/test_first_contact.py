"""A user's first hour: every invocation gives a value or one clear line, never a traceback.

All of these run the real `frd` command (`python -m frd`) in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest import texture_sets

import frd

REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd=None, env=None, timeout=600, prelude: str | None = None):
    """`python -m frd ARGS` (with ``prelude`` code run first, e.g. to hide a module)."""
    command = [sys.executable, "-m", "frd", *map(str, args)]
    if prelude:
        command = [
            sys.executable,
            "-c",
            prelude + "\nimport runpy, sys\nsys.argv = ['frd', *sys.argv[1:]]\n"
            "runpy.run_module('frd', run_name='__main__')",
            *map(str, args),
        ]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def hide(*modules: str) -> str:
    """Prelude making ``modules`` look uninstalled (their finders say they are not there)."""
    return textwrap.dedent(f"""
        import sys
        class _Hidden:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {set(modules)!r}:
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, _Hidden())
    """)


def strict_json(text: str):
    """json.loads that refuses NaN and ±Infinity, which are not JSON."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    return texture_sets(tmp_path_factory.mktemp("first"), 6, seed=21)


@pytest.fixture(scope="module")
def odd_inputs(sets, tmp_path_factory):
    a, _ = sets
    root = tmp_path_factory.mktemp("odd")
    (root / "one").mkdir()
    shutil.copy(a / "i0.png", root / "one" / "i0.png")
    (root / "empty").mkdir()
    (root / "not.frdstats").write_text("this is not a statistics file")
    np.savez(root / "frd_score_stats.npz", mu=np.zeros(3), sigma=np.eye(3))
    (root / "bad_schema.yaml").write_text("setting:\n  binWidth: -1\n")
    (root / "not_a_mapping.yaml").write_text("- just\n- a list\n")
    (root / "exists.frdstats").write_text("")
    stats = frd.compute_reference_stats(a, cache_dir=root / "cache", progress=False)
    stats.save(root / "a.frdstats")
    return root


def bad_invocations(a: Path, b: Path, odd: Path) -> list[tuple[list, str, str]]:
    """(arguments, what the one line must say, prelude) — each must fail before any work."""
    compare = ["compare", a, b, "--cache-dir", odd / "cache"]
    return [
        (compare + ["--bin-width", "-1"], "--bin-width must be greater than 0, not -1.0", ""),
        (compare + ["--workers", "0"], "argument -w/--workers: must be at least 1, not 0", ""),
        (compare + ["-w", "-3"], "must be at least 1, not -3", ""),
        (compare + ["--frd-version", "v3"], "invalid choice: 'v3'", ""),
        (compare + ["-f", "glcm", "bogus"], "--feature-classes takes names among firstorder", ""),
        (compare + ["-I", "Original", "Fourier"], "--image-types takes names among Original", ""),
        (compare + ["--log-sigma", "0"], "--log-sigma must be greater than 0", ""),
        (compare + ["--normalize-scale", "0"], "--normalize-scale must be greater than 0", ""),
        (compare + ["--norm-range", "1", "0"], "--norm-range takes two numbers LO < HI", ""),
        (compare + ["--resize", "0"], "--resize must be at least 1, not 0", ""),
        (compare + ["--resize", "5000"], "--resize must be at most 4096, not 5000", ""),
        (compare + ["--log-sigma", *["1"] * 11], "--log-sigma takes 1 to 10 numbers, not 11", ""),
        (compare + ["--exclude", "wavelet", "wavelet"], "--exclude names each of", ""),
        (compare + ["--resize", "2", "3", "4"], "--resize takes N (square) or W H", ""),
        (compare + ["--max-skipped", "2"], "--max-skipped must be at most 1, not 2.0", ""),
        (compare + ["--max-skipped", "lots"], "argument --max-skipped: takes a share", ""),
        (compare + ["--seed", "-1"], "--seed must be at least 0, not -1", ""),
        (compare + ["--bootstrap", "0"], "argument --bootstrap: must be at least 1", ""),
        (compare + ["--params-file", odd / "missing.yaml"], "--params-file cannot be read", ""),
        (compare + ["--params-file", odd / "not_a_mapping.yaml"], "--params-file must hold a pyradiomics", ""),
        (
            compare + ["--params-file", odd / "bad_schema.yaml"],
            "--params-file is not a valid pyradiomics parameter file",
            "",
        ),
        (compare + ["--report", odd / "no" / "such" / "folder" / "r.html"], "--report", ""),
        (compare + ["--report", odd / "r.html"], "pip install 'frd-radiomics[report]'", hide("matplotlib")),
        (compare + ["--resize", "64"], "pip install 'frd-radiomics[resize]'", hide("cv2")),
        (compare + ["--scheduler", "tcp://127.0.0.1:1"], "pip install 'frd-radiomics[dask]'", hide("distributed")),
        (
            ["compare", a, odd / "one", "--cache-dir", odd / "cache"],
            "the candidate set has 1 image; FRD needs at least 2",
            "",
        ),
        (
            ["compare", odd / "one", b, "--cache-dir", odd / "cache"],
            "the reference set has 1 image; FRD needs at least 2",
            "",
        ),
        (["compare", odd / "empty", b], "no images found", ""),
        (["compare", odd / "missing", b], "no such file or folder", ""),
        (["compare", a, odd / "a.frdstats"], "reference statistics can only be the reference", ""),
        (["compare", odd / "not.frdstats", b], "not an frd statistics file (made by `frd stats`)", ""),
        (["compare", odd / "frd_score_stats.npz", b], "a .npz of frd-score cannot serve as the reference", ""),
        (["compare", odd / "a.frdstats", b, "--frd-version", "v0"], "--frd-version: file has 'v1', requested 'v0'", ""),
        (
            ["stats", a, "-o", odd / "v0.frdstats", "--frd-version", "v0"],
            "--norm-ref joint (v0's default) depends on the candidate set",
            "",
        ),
        (
            ["stats", a, "-o", odd / "m.frdstats", "--match-sample-count"],
            "--match-sample-count needs both sets' images",
            "",
        ),
        (["stats", a, "-o", odd / "exists.frdstats"], "--output", ""),
        (["features", a, "-o", odd / "f.parquet"], "pip install 'frd-radiomics[parquet]'", hide("pyarrow")),
        (["ood", a, b, "--val-frac", "1.5"], "--val-frac must be a share between 0 and 1", ""),
        (["ood", odd / "a.frdstats", b], "needs the reference images' features", ""),
        (
            ["serve", "--host", "0.0.0.0"],
            "--host 0.0.0.0: refusing to listen on a non-loopback address without API keys",
            "",
        ),
        (["compare", a], "the following arguments are required: candidate", ""),
        (["compare", a, b, "--no-such-flag"], "unrecognized arguments: --no-such-flag", ""),
    ]


def test_bad_invocations_give_one_clear_line_and_exit_2(sets, odd_inputs):
    env = {k: v for k, v in os.environ.items() if k not in ("FRD_API_KEYS", "FRD_DASK_ADDRESS")}
    for args, expected, prelude in bad_invocations(*sets, odd_inputs):
        started = time.monotonic()
        proc = run(*args, prelude=prelude or None, env=env, timeout=120)
        where = f"frd {' '.join(map(str, args))}"
        assert proc.returncode == 2, f"{where}: exit {proc.returncode}\n{proc.stderr}"
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, f"{where}: {proc.stderr}"
        assert lines[0].startswith("frd"), where
        assert expected in lines[0], f"{where}: {lines[0]}"
        assert "Traceback" not in proc.stderr and "site-packages" not in proc.stderr, where
        assert proc.stdout == "", where
        assert time.monotonic() - started < 60, f"{where}: refused only after work"  # no extraction ran


def test_identical_sets_give_zero_and_valid_json_everywhere(sets, tmp_path):
    a, _ = sets
    plain = run("compare", a, a, "--cache-dir", tmp_path, "-q")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == "FRD (v1): -inf (identical: the two sets' statistics are equal, d² = 0)"
    payload = strict_json(run("compare", a, a, "--cache-dir", tmp_path, "--json", "--bootstrap", "20").stdout)
    assert payload["identical"] is True and payload["d2"] == 0.0 and payload["frd"] is None
    assert payload["n_reference"] == payload["n_candidate"] == 6
    v0 = strict_json(run("compare", a, a, "--cache-dir", tmp_path, "--json", "--frd-version", "v0").stdout)
    assert v0["identical"] is True and v0["frd"] == 0.0  # v0 reports d² itself
    shutil.copytree(a, tmp_path / "in" / "reference")
    shutil.copytree(a, tmp_path / "in" / "candidate")
    batch = run("batch", "--input", tmp_path / "in", "--output", tmp_path / "out", "--cache-dir", tmp_path)
    assert batch.returncode == 0, batch.stderr
    assert strict_json((tmp_path / "out" / "metrics.json").read_text())["identical"] is True


def test_v0_prints_no_library_noise_unless_verbose(sets, tmp_path):
    a, b = sets
    quiet = run("compare", a, b, "--frd-version", "v0", "--no-cache", "-w", "2")
    assert quiet.returncode == 0, quiet.stderr
    assert "GLCM is symmetrical" not in quiet.stderr
    loud = run("compare", a, b, "--frd-version", "v0", "--no-cache", "-w", "2", "--verbose")
    assert loud.stderr.count("GLCM is symmetrical") == 12  # once per image, from each worker
    assert loud.stdout == quiet.stdout


def test_more_skipped_than_allowed_fails_naming_the_files(sets, tmp_path):
    a, b = sets
    cand = tmp_path / "cand"
    shutil.copytree(b, cand)
    (cand / "broken.png").write_bytes((b / "i0.png").read_bytes()[:200])
    refused = run("compare", a, cand, "--cache-dir", tmp_path)  # 1 of 7 skipped: more than 10 %
    assert refused.returncode == 2
    line = refused.stderr.strip().splitlines()[-1]
    assert "--max-skipped allows 10% of a set to be skipped, but 1 of 7 images of the candidate set were" in line
    assert "broken.png" in line
    allowed = run("compare", a, cand, "--cache-dir", tmp_path, "--max-skipped", "20%", "--json")
    payload = strict_json(allowed.stdout)
    assert payload["n_candidate"] == 6 and [s["name"] for s in payload["skipped"]] == ["broken.png"]


def test_a_script_without_main_guard_can_use_the_process_pool(sets, tmp_path):
    # Worker processes must not re-run the caller's script (multiprocessing's spawn and
    # forkserver do, and then the script's own frd.compare() call breaks the pool).
    a, b = sets
    script = tmp_path / "evaluate.py"
    script.write_text(
        f"import frd\nprint(frd.compare({str(a)!r}, {str(b)!r}, workers=2, use_cache=False, progress=False).value)\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == frd.compare(a, b, use_cache=False, progress=False, workers=1).value


def test_a_source_checkout_without_kernel_is_a_clear_error_and_pyradiomics_still_runs(sets, tmp_path):
    # `python -m frd` inside a source checkout imports that tree (the current folder comes
    # first on the path), whose compiled kernel is not built after a plain `pip install .`.
    # `python -S` with site-packages on PYTHONPATH is such an install: no .pth file, so no
    # editable-install finder maps `frd` to this repository.
    a, b = sets
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "frd", checkout / "frd", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p.endswith("site-packages"))}

    def frd_here(*args):
        return subprocess.run(
            [sys.executable, "-S", "-m", "frd", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=checkout,
            env=env,
            timeout=600,
        )

    engine = frd_here("compare", a, b, "--no-cache", "-w", "2")
    assert engine.returncode == 2, engine.stderr
    assert engine.stderr.startswith(
        "frd: error: the frd engine's compiled kernel is not built in "
        f"{checkout / 'frd'}: this looks like a source checkout"
    ), engine.stderr
    assert len(engine.stderr.strip().splitlines()) == 1
    # The pool's workers import the same tree as their parent (this one), so the plain
    # pyradiomics path runs there and gives the installed package's value.
    plain = frd_here("compare", a, b, "--no-cache", "-w", "2", "--engine", "pyradiomics", "-q")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == run("compare", a, b, "--no-cache", "-w", "2", "-q").stdout


def test_a_worker_running_another_frd_refuses_the_task(sets):
    # A Dask worker (or any worker) with another frd installation gives an error, never features.
    from frd.executors import extract_task, worker_identity
    from frd.inputs import load_set

    item = load_set(sets[0])[0]
    mine = worker_identity(with_path=True)
    assert extract_task(item, frd.FRDOptions(), None, mine)[0] == "ok"
    status, message = extract_task(item, frd.FRDOptions(), None, ("0.0.1", *mine[1:]))
    assert status == "error" and message.endswith("workers must use the same installation")
    assert f"runs frd {frd.__version__} from {mine[2]}" in message and "this process runs frd 0.0.1" in message


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:  # it ended while we looked
        return []


def test_a_worker_killed_mid_run_is_an_error_not_a_subset(tmp_path):
    a, b = texture_sets(tmp_path / "big", 40, seed=3, size=128)
    proc = subprocess.Popen(
        [sys.executable, "-m", "frd", "compare", str(a), str(b), "--no-cache", "-w", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 180
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            # the command line forks its workers (copies of itself: the same command line);
            # a kill at any moment of their work is the same loss to the run
            workers = [p for p in parent.children() if _cmdline(p) == _cmdline(parent)]
            if workers:
                victim = workers[0]
            time.sleep(0.05)
        assert victim is not None, f"the pool's workers were never seen (exit {proc.poll()})"
        victim.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("frd: error: an extraction worker process died (exit status {SIGKILL(-9)})"), last
    assert out == ""


def test_ood_screens_a_single_image(sets, tmp_path):
    a, b = sets
    (tmp_path / "one").mkdir()
    shutil.copy(b / "i3.png", tmp_path / "one" / "scan.png")
    proc = run("ood", a, tmp_path / "one", "--json", "--output-dir", tmp_path / "ood", "--cache-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    payload = strict_json(proc.stdout)
    assert payload["frd"] is None and payload["n_test"] == 1
    assert [image["name"] for image in payload["images"]] == ["scan.png"]
    assert payload["images"][0]["score"] > 0


def test_one_usable_image_after_skipping_is_refused(sets, tmp_path):
    a, b = sets
    cand = tmp_path / "cand"
    cand.mkdir()
    shutil.copy(b / "i0.png", cand / "good.png")
    (cand / "broken.png").write_bytes(b"\x89PNG\r\n")
    proc = run("compare", a, cand, "--cache-dir", tmp_path, "--max-skipped", "1")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "frd: error: the candidate set has 1 usable image; FRD needs at least 2"
    )
