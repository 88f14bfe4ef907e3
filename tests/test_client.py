"""frd.Client and `frd compare --server` against a real `frd serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import SimpleITK as sitk
from api_server import Server

import frd
from frd.errors import ServerError


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("remote") / "data", env={"FRD_API_KEYS": "key-a,key-b"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def local_value(fixtures_2d, tmp_path_factory):
    return frd.compare(*fixtures_2d, cache_dir=tmp_path_factory.mktemp("local"), progress=False).value


def uploaded_bytes(server: Server) -> float:
    text = httpx.get(server.url + "/metrics").text  # loopback: no metrics key needed
    return float(re.search(r"^frd_upload_bytes_total ([0-9.e+]+)$", text, re.M).group(1))


def test_remote_value_equals_local_and_files_are_sent_once(service, fixtures_2d, local_value):
    before = uploaded_bytes(service)
    with frd.Client(service.url, "key-a") as client:
        first = client.compare(*fixtures_2d)
        assert first["frd"] == local_value and first["n_reference"] == first["n_candidate"] == 10
        sent = uploaded_bytes(service) - before
        assert sent == sum(p.stat().st_size for d in fixtures_2d for p in d.glob("*.png"))
        again = client.compare(*fixtures_2d)  # the same folders: nothing is sent again
    assert again["frd"] == local_value
    assert uploaded_bytes(service) - before == sent
    # another tenant's files are not "known" to this key: key-b uploads its own copy
    with frd.Client(service.url, "key-b") as other:
        assert other.upload(fixtures_2d[0])["uploaded_bytes"] == sum(
            p.stat().st_size for p in fixtures_2d[0].glob("*.png")
        )


def test_arrays_go_to_the_service_and_give_the_local_value(service, fixtures_2d, local_value):
    d1, d2 = fixtures_2d
    arrays = [
        np.stack([sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in sorted(d.glob("*.png"))]) for d in (d1, d2)
    ]
    with frd.Client(service.url, "key-a") as client:
        assert client.compare(*arrays)["frd"] == local_value


def test_cli_server_gives_the_local_output(service, fixtures_2d, tmp_path):
    env = {**os.environ, "FRD_API_KEY": "key-a"}
    local = subprocess.run(
        [sys.executable, "-m", "frd", "compare", *map(str, fixtures_2d), "--cache-dir", str(tmp_path), "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    remote = subprocess.run(
        [sys.executable, "-m", "frd", "compare", *map(str, fixtures_2d), "--server", service.url, "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    local_json = json.loads(
        subprocess.run(
            [sys.executable, "-m", "frd", "compare", *map(str, fixtures_2d), "--cache-dir", str(tmp_path), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    remote_json = json.loads(
        subprocess.run(
            [sys.executable, "-m", "frd", "compare", *map(str, fixtures_2d), "--server", service.url, "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
    )
    for key in (
        "frd",
        "d2",
        "identical",
        "n_reference",
        "n_candidate",
        "features_used",
        "d2_split",
        "warnings",
        "robust",
        "frd_version",
        "scale",
        "dimensionality",
    ):
        assert remote_json[key] == local_json[key], key
    local_json["options"].pop("params_file")  # a server path: never in the service's answers
    assert remote_json["options"] == local_json["options"]


def test_a_wrong_key_is_one_clear_line(service, fixtures_2d):
    env = {**os.environ, "FRD_API_KEY": "not-a-key"}
    proc = subprocess.run(
        [sys.executable, "-m", "frd", "compare", *map(str, fixtures_2d), "--server", service.url],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"frd: error: {service.url}: the service refused the API key (unknown API key"
        "); give the key of your account (FRD_API_KEY, or api_key=)"
    )


def test_errors_the_service_answers_are_server_errors(service, fixtures_2d):
    with frd.Client(service.url, "key-a") as client:
        with pytest.raises(ServerError, match=r"options.bin_width.*\(422 "):
            client.compare(*fixtures_2d, options={"bin_width": -1})
        with pytest.raises(ServerError, match="no dataset 'ds_missing'"):
            client.compare("ds_missing", fixtures_2d[1])


def test_a_service_killed_mid_job_is_waited_out(fixtures_2d, tmp_path, local_value):
    data = tmp_path / "data"
    server = Server(data, env={"FRD_API_KEYS": "key-a"}).start()
    outcome: dict = {}
    client = frd.Client(server.url, "key-a", retries=60)

    def run():
        try:
            outcome["result"] = client.compare(*fixtures_2d, options={"engine": "pyradiomics"})
        except Exception as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        # kill -9 once the comparison job runs (its datasets are uploaded)
        while time.monotonic() < deadline:
            jobs = httpx.get(server.url + "/metrics").text
            if re.search(r'frd_jobs\{kind="compare",state="running"\} [1-9]', jobs):
                break
            time.sleep(0.1)
        server.kill()
        time.sleep(2)
        server = Server(data, env={"FRD_API_KEYS": "key-a"}, port=server.port).start()
        thread.join(600)
    finally:
        server.stop()
        client.close()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"]["frd"] == local_value
