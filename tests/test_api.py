"""The REST service, tested over HTTP against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import numpy as np
import pytest
from api_server import Server, temp_files, upload, wait_job
from conftest import textured, write_png

import frd


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("svc") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def fixture_value(fixtures_2d, tmp_path_factory):
    return frd.compare(*fixtures_2d, cache_dir=tmp_path_factory.mktemp("c"), progress=False).value


@pytest.fixture(scope="module")
def uploaded(server, fixtures_2d):
    with server.client() as c:
        ids = []
        for folder in fixtures_2d:
            r = upload(c, sorted(folder.glob("*.png")))
            assert r.status_code == 201, r.text
            body = r.json()
            assert len(body["accepted"]) == 10 and body["rejected"] == []
            assert r.headers["location"] == f"/v1/datasets/{body['id']}"
            ids.append(body["id"])
    return ids


def test_upload_compare_gives_the_cli_value(server, uploaded, fixture_value):
    with server.client() as c:
        ref, cand = uploaded
        r = c.post("/v1/comparisons", json={"reference": ref, "candidate": cand})
        assert r.status_code == 202
        job = wait_job(c, r.headers["location"])
        assert job["state"] == "succeeded", job
        result = c.get(job["links"]["result"]).json()
        assert result["frd"] == fixture_value
        assert result["n_reference"] == 10 and result["n_features"] == 393
        dataset = c.get(f"/v1/datasets/{ref}").json()
        assert dataset["n_images"] == 10
        assert (
            wait_job(c, f"/v1/jobs/{c.get(f'/v1/datasets/{ref}').json()['extraction']['id']}")["state"] == "succeeded"
        )


def test_reference_stats_then_compare(server, uploaded, fixture_value):
    with server.client() as c:
        # v0 normalises jointly by default: statistics cannot hold that, refused up front.
        refused = c.post("/v1/reference-stats", json={"dataset": uploaded[0], "options": {"version": "v0"}})
        assert refused.status_code == 422 and "joint" in refused.json()["error"]["message"]
        r = c.post("/v1/reference-stats", json={"dataset": uploaded[0]})
        job = wait_job(c, r.headers["location"])
        stats_id = job["links"]["result"].rsplit("/", 1)[1]
        assert c.get(f"/v1/reference-stats/{stats_id}").json()["n"] == 10
        r = c.post("/v1/comparisons", json={"reference": stats_id, "candidate": uploaded[1]})
        job = wait_job(c, r.headers["location"])
        assert c.get(job["links"]["result"]).json()["frd"] == fixture_value


def test_reference_stats_can_be_deleted(server, uploaded):
    with server.client() as c:
        job = wait_job(c, c.post("/v1/reference-stats", json={"dataset": uploaded[0]}).headers["location"])
        stats_id = job["links"]["result"].rsplit("/", 1)[1]
        stored = list(server.data_dir.rglob(f"{stats_id}.frdstats"))
        assert len(stored) == 1
        assert c.delete(f"/v1/reference-stats/{stats_id}").status_code == 204
        assert c.get(f"/v1/reference-stats/{stats_id}").status_code == 404
        assert not stored[0].exists()
        assert c.delete(f"/v1/reference-stats/{stats_id}").status_code == 404


def test_idempotency_key_returns_the_same_job(server, uploaded):
    with server.client() as c:
        body = {"reference": uploaded[0], "candidate": uploaded[1], "options": {"version": "v0"}}
        first = c.post("/v1/comparisons", json=body, headers={"Idempotency-Key": "abc-1"})
        again = c.post("/v1/comparisons", json=body, headers={"Idempotency-Key": "abc-1"})
        assert first.status_code == again.status_code == 202
        assert first.json()["id"] == again.json()["id"]
        other = c.post(
            "/v1/comparisons", json={**body, "options": {"version": "v1"}}, headers={"Idempotency-Key": "abc-1"}
        )
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
        wait_job(c, first.headers["location"])


def test_cancel_a_queued_or_running_job(server, tmp_path):
    rng = np.random.default_rng(9)
    paths = [write_png(tmp_path / f"c{i}.png", textured(rng, size=96)) for i in range(12)]
    with server.client() as c:
        cand = upload(c, paths).json()["id"]
        r = c.post("/v1/comparisons", json={"reference": cand, "candidate": cand, "options": {"bin_width": 7}})
        cancel = c.delete(r.headers["location"])
        assert cancel.status_code in (200, 202)
        job = wait_job(c, r.headers["location"])
        assert job["state"] == "cancelled"
        assert c.get(f"/v1/comparisons/{job['id']}").status_code == 409


def test_sync_endpoint_and_its_size_limit(server, fixtures_2d, fixture_value):
    d1, d2 = fixtures_2d
    files = [("reference", (p.name, p.read_bytes())) for p in sorted(d1.glob("*.png"))]
    files += [("candidate", (p.name, p.read_bytes())) for p in sorted(d2.glob("*.png"))]
    with server.client() as c:
        r = c.post("/v1/frd", files=files, data={"options": json.dumps({"version": "v1"})})
        assert r.status_code == 200, r.text
        assert r.json()["frd"] == fixture_value
        too_many = files * 4  # 80 files > the default limit of 64
        r = c.post("/v1/frd", files=too_many)
        assert r.status_code == 413 and "/v1/comparisons" in r.json()["error"]["message"]


def test_identical_sets_are_a_valid_answer_not_a_server_error(server, fixtures_2d, uploaded):
    d1, _ = fixtures_2d
    files = [
        (group, (p.name, p.read_bytes())) for group in ("reference", "candidate") for p in sorted(d1.glob("*.png"))
    ]
    with server.client() as c:
        r = c.post("/v1/frd", files=files)
        assert r.status_code == 200, r.text
        body = json.loads(r.text, parse_constant=lambda token: pytest.fail(f"{token} is not JSON"))
        assert body["identical"] is True and body["d2"] == 0.0 and body["frd"] is None
        ref, _ = uploaded
        job = wait_job(c, c.post("/v1/comparisons", json={"reference": ref, "candidate": ref}).headers["location"])
        assert job["state"] == "succeeded", job
        result = c.get(job["links"]["result"])
        assert result.status_code == 200 and result.json()["identical"] is True


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\0" * 64)
    body += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + body


def test_bad_files_are_rejected_with_reasons(server, fixtures_2d):
    good = sorted(fixtures_2d[0].glob("*.png"))[0].read_bytes()
    files = [
        ("files", ("ok.png", good)),
        ("files", ("fake.png", b"this is text, not an image")),
        ("files", ("truncated.png", good[: len(good) // 2])),
        ("files", ("empty.png", b"")),
        ("files", ("bomb.png", _png_header_only(60000, 60000))),
        ("files", ("../escape.png", good)),
    ]
    with server.client() as c:
        r = c.post("/v1/datasets", files=files)
        assert r.status_code == 201, r.text
        body = r.json()
        # Only headers are read at upload; a file whose pixels are corrupt is found by the
        # extraction workers and reported among the skipped images (without a path).
        assert [a["name"] for a in body["accepted"]] == ["ok.png", "truncated.png"]
        reasons = {x["name"]: x["reason"] for x in body["rejected"]}
        assert set(reasons) == {"fake.png", "empty.png", "bomb.png", "../escape.png"}
        assert "not a supported image" in reasons["fake.png"]
        assert "exceeds the limit" in reasons["bomb.png"]
        extraction = wait_job(c, f"/v1/jobs/{c.get(body['links']['self']).json()['extraction']['id']}")
        assert extraction["state"] == "succeeded", extraction
        skipped = c.get(body["links"]["self"]).json()["extraction"]["result"]["skipped"]
        assert [s["name"] for s in skipped] == ["truncated.png"] and "/" not in skipped[0]["reason"]
        none_ok = c.post("/v1/datasets", files=files[1:2])
        assert none_ok.status_code == 422 and none_ok.json()["error"]["code"] == "no_images"


def test_hostile_archives_are_refused(server):
    def zip_with(name, data, compress=zipfile.ZIP_STORED):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=compress) as zf:
            zf.writestr(name, data)
        return buf.getvalue()

    with server.client() as c:
        r = c.post("/v1/datasets", files=[("archive", ("a.zip", zip_with("../../x.png", b"x")))])
        assert r.status_code == 422 and "'..'" in r.json()["error"]["message"]
        bomb = zip_with("zeros.png", b"\0" * (16 << 20), zipfile.ZIP_DEFLATED)
        r = c.post("/v1/datasets", files=[("archive", ("b.zip", bomb))])
        assert r.status_code == 422 and "compression ratio" in r.json()["error"]["message"]
        assert str(server.data_dir) not in r.text
        assert c.get("/readyz").status_code == 200


def test_errors_have_one_shape_and_metrics_exist(server):
    with server.client() as c:
        r = c.get("/v1/datasets/ds_nope")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = c.post("/v1/comparisons", json={"reference": 3})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
        r = c.post("/v1/datasets", content=b"not multipart", headers={"content-type": "text/plain"})
        assert r.status_code == 400 and "Traceback" not in r.text
        assert c.get("/readyz").json()["status"] == "ready"
        metrics = c.get("/metrics").text
        assert "frd_jobs{" in metrics and "frd_upload_bytes_total" in metrics
        assert c.get("/docs").status_code == 200


def test_request_and_file_size_limits_are_counted_while_streaming(tmp_path, fixtures_2d):
    env = {"FRD_MAX_FILE_MB": "1", "FRD_MAX_REQUEST_MB": "3", "FRD_MAX_FILES": "6", "FRD_MAX_ARCHIVE_MEMBERS": "2"}
    srv = Server(tmp_path / "data", env=env).start()
    try:
        with srv.client() as c:
            big = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 << 20)
            r = c.post("/v1/datasets", files=[("files", ("big.png", big))])
            assert r.status_code == 413 and "big.png" in r.json()["error"]["message"]
            many = [("files", (f"f{i}.png", b"\x89PNG" + b"\0" * (900 << 10))) for i in range(5)]
            # A lying Content-Length does not matter: bytes are counted as they arrive.
            r = c.post("/v1/datasets", files=many)
            assert r.status_code == 413 and "request body" in r.json()["error"]["message"]
            tiny = [("files", (f"t{i}.png", b"\x89PNG")) for i in range(7)]
            r = c.post("/v1/datasets", files=tiny)
            assert r.status_code == 413 and "more than 6 files" in r.json()["error"]["message"]
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                for i in range(3):
                    zf.writestr(f"m{i}.png", b"x")
            r = c.post("/v1/datasets", files=[("archive", ("m.zip", buf.getvalue()))])
            assert r.status_code == 422 and "members" in r.json()["error"]["message"]
            assert c.get("/readyz").status_code == 200  # hostile input left the service healthy
        assert temp_files(tmp_path / "data") == []  # nothing half-written is left
    finally:
        srv.stop()


def test_api_keys_isolate_tenants(tmp_path, fixtures_2d):
    srv = Server(tmp_path / "data", env={"FRD_API_KEYS": "alpha-key,beta-key"}).start()
    try:
        paths = sorted(fixtures_2d[0].glob("*.png"))[:3]
        with srv.client("alpha-key") as alpha, srv.client("beta-key") as beta, srv.client() as nobody:
            ds = upload(alpha, paths).json()["id"]
            assert alpha.get(f"/v1/datasets/{ds}").status_code == 200
            assert beta.get(f"/v1/datasets/{ds}").status_code == 404
            assert nobody.get(f"/v1/datasets/{ds}").status_code == 401
            assert srv.client("wrong").get(f"/v1/datasets/{ds}").status_code == 401
            r = beta.post("/v1/comparisons", json={"reference": ds, "candidate": ds})
            assert r.status_code == 404
            assert beta.delete(f"/v1/datasets/{ds}").status_code == 404
            assert alpha.delete(f"/v1/datasets/{ds}").status_code == 204
            assert alpha.get(f"/v1/datasets/{ds}").status_code == 404
    finally:
        srv.stop()


def test_kill_9_mid_job_and_restart_finishes_it(tmp_path, fixtures_2d, fixture_value):
    data = tmp_path / "data"
    env = {"FRD_EXTRACT_ON_UPLOAD": "0"}
    srv = Server(data, env=env).start()
    with srv.client() as c:
        ids = [upload(c, sorted(f.glob("*.png"))).json()["id"] for f in fixtures_2d]
        r = c.post("/v1/comparisons", json={"reference": ids[0], "candidate": ids[1]})
        location = r.headers["location"]
        wait_job(c, location, states=("running",))
        # Let it extract a few images, then kill it without any shutdown.
        wait = 0
        while c.get(location).json()["progress"]["done"] < 3 and wait < 600:
            wait += 1
            __import__("time").sleep(0.1)
    srv.kill()
    again = Server(data, env=env, port=srv.port).start()
    try:
        with again.client() as c:
            job = wait_job(c, location)
            assert job["state"] == "succeeded", job
            assert c.get(job["links"]["result"]).json()["frd"] == fixture_value
    finally:
        again.stop()


def test_two_services_on_one_data_dir_run_each_job_once(tmp_path, fixtures_2d):
    import sqlite3

    data = tmp_path / "data"
    env = {"FRD_EXTRACT_ON_UPLOAD": "0"}
    a = Server(data, env=env).start()
    b = Server(data, env=env).start()
    try:
        with a.client() as ca, b.client() as cb:
            ids = [upload(ca, sorted(f.glob("*.png"))[:4]).json()["id"] for f in fixtures_2d]
            locations = []
            for i in range(6):
                client = ca if i % 2 else cb
                body = {"reference": ids[0], "candidate": ids[1], "options": {"version": "v0", "bin_width": 20 + i}}
                locations.append(client.post("/v1/comparisons", json=body).headers["location"])
            jobs = [wait_job(ca, loc) for loc in locations]
        assert all(j["state"] == "succeeded" for j in jobs)
        with sqlite3.connect(data / "frd.sqlite3") as db:
            rows = db.execute("SELECT attempts, lease_owner FROM jobs WHERE kind = 'compare'").fetchall()
        assert len(rows) == 6 and all(r[0] == 1 for r in rows)
    finally:
        a.stop()
        b.stop()


def test_uvicorn_factory_entry_point(tmp_path):
    import os
    import subprocess
    import sys
    import time

    import httpx
    from api_server import free_port

    port = free_port()
    env = {**os.environ, "FRD_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["checks"]["job_runner"] == "ok"
        assert (tmp_path / "data" / "frd.sqlite3").is_file()
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_refuses_public_host_without_keys(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FRD_API_KEYS"}
    proc = subprocess.run(
        [sys.executable, "-m", "frd", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "without API keys" in proc.stderr


def test_report_and_ood_through_the_service(server, uploaded):
    with server.client() as c:
        r = c.post(
            "/v1/comparisons",
            json={"reference": uploaded[0], "candidate": uploaded[1], "bootstrap": 20, "report": True},
        )
        job = wait_job(c, r.headers["location"])
        result = c.get(job["links"]["result"]).json()
        assert result["ci"]["low"] <= result["frd"] <= result["ci"]["high"]
        assert "warnings" in result and "d2_split" in result
        report = c.get(job["links"]["report"])
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert report.text.count("data:image/png;base64,") >= 6 and str(server.data_dir) not in report.text
        r = c.post("/v1/ood", json={"reference": uploaded[0], "test": uploaded[1], "assumption": "counting"})
        job = wait_job(c, r.headers["location"])
        ood = c.get(job["links"]["result"]).json()
        assert len(ood["images"]) == 10 and 0 <= ood["nfrd"] <= 1
