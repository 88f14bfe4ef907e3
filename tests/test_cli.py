"""The `frd` command as users run it (real processes)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import frd


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "frd", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def test_compare_prints_value_and_json(generated_2d, tmp_path):
    a, b = generated_2d
    plain = run("compare", a, b, "--cache-dir", tmp_path, "-q")
    assert plain.stdout.startswith("FRD (v1): ")
    payload = json.loads(run("compare", a, b, "--cache-dir", tmp_path, "--json").stdout)
    assert float(plain.stdout.split(": ")[1]) == payload["frd"]
    for key in ("n_reference", "n_candidate", "features_used", "skipped", "options", "versions", "timings"):
        assert key in payload
    assert payload["options"]["norm_ref"] == "d1" and payload["versions"]["pyradiomics"].startswith("pyradiomics")
    assert payload["cache"]["hits"] == 12  # the second run extracted nothing
    api = frd.compare(a, b, cache_dir=tmp_path, progress=False)
    assert api.value == payload["frd"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_output_that_cannot_be_written_is_an_error(generated_2d, tmp_path):
    # The command ends its process itself, without the interpreter's teardown (frd.cli.run);
    # output a full disk refuses is still an error then, never a silent success.
    a, b = generated_2d
    for command in (["compare", a, b, "-q"], ["features", a, "-o", tmp_path / "features.csv"]):
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                [sys.executable, "-m", "frd", *map(str, command), "--cache-dir", str(tmp_path)],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
            )
        assert proc.returncode == 2, command
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("frd: error: ") and last.endswith("No space left on device"), last


def test_stats_then_compare_equals_folder_compare(generated_2d, tmp_path):
    a, b = generated_2d
    stats = tmp_path / "ref.frdstats"
    run("stats", a, "-o", stats, "--cache-dir", tmp_path)
    from_stats = json.loads(run("compare", stats, b, "--cache-dir", tmp_path, "--json").stdout)
    from_dirs = json.loads(run("compare", a, b, "--cache-dir", tmp_path, "--json").stdout)
    assert from_stats["frd"] == from_dirs["frd"]
    refused = run("stats", a, "-o", stats, "--cache-dir", tmp_path, check=False)
    assert refused.returncode == 2 and "exists" in refused.stderr
    other = run("compare", stats, b, "--cache-dir", tmp_path, "--bin-width", "8", check=False)
    assert other.returncode == 2 and "other settings" in other.stderr


def test_features_csv_export(generated_2d, tmp_path):
    a, _ = generated_2d
    out = tmp_path / "features.csv"
    run("features", a, "-o", out, "--cache-dir", tmp_path)
    rows = list(csv.reader(out.open()))
    assert rows[0][:3] == ["image", "image_path", "mask_path"]
    assert len(rows) == 7 and len(rows[0]) == 3 + 398
    assert rows[1][0] == "img0.png"
    features = frd.extract_features(a, cache_dir=tmp_path, progress=False)
    assert [float(v) for v in rows[1][3:]] == features.values[0].tolist()


def test_user_errors_exit_2_with_a_clear_message(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run("compare", tmp_path / "empty", tmp_path / "empty", check=False)
    assert proc.returncode == 2
    assert "no images found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("compare", tmp_path / "missing", tmp_path / "empty", check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_python_dash_m_and_console_script_agree():
    help_text = run("--help").stdout
    assert "compare" in help_text and "stats" in help_text and "features" in help_text


def test_batch_mode_writes_metrics_json(generated_2d, tmp_path):
    import shutil

    a, b = generated_2d
    shutil.copytree(a, tmp_path / "input" / "reference")
    shutil.copytree(b, tmp_path / "input" / "candidate")
    proc = run("batch", "--input", tmp_path / "input", "--output", tmp_path / "output", "--cache-dir", tmp_path / "c")
    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text())
    assert proc.stdout.strip() == f"FRD (v1): {metrics['frd']}"
    assert metrics["n_reference"] == 6 and metrics["n_candidate"] == 6


def test_batch_mode_failure_gives_reason_on_last_stderr_line(tmp_path):
    (tmp_path / "input" / "reference").mkdir(parents=True)
    proc = run("batch", "--input", tmp_path / "input", "--output", tmp_path / "output", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("frd: error:")
    assert not (tmp_path / "output" / "metrics.json").exists()


def test_batch_mode_checks_its_output_folder_before_any_work(generated_2d, tmp_path):
    # (An output folder owned by another uid is refused the same way, with --user and chown
    # as the fix: docker/ci-build.sh checks it in the image; here root would ignore modes.)
    import shutil

    a, b = generated_2d
    shutil.copytree(a, tmp_path / "input" / "reference")
    shutil.copytree(b, tmp_path / "input" / "candidate")
    (tmp_path / "output").write_text("")  # a file where the folder should be
    proc = run(
        "batch",
        "--input",
        tmp_path / "input",
        "--output",
        tmp_path / "output",
        "--cache-dir",
        tmp_path / "cache",
        check=False,
    )
    assert proc.returncode == 2
    expected = f"frd: error: the output folder {tmp_path / 'output'} is a file: give --output a folder"
    assert proc.stderr.strip().splitlines()[-1] == expected
    assert not (tmp_path / "cache").exists()  # nothing was extracted
