"""Issue 11: the service against hostile requests and unlucky operations, over HTTP
against a real uvicorn server (tests/api_server.py) and its real SQLite file.

Each test names the class of defect it guards: files outside an upload, jobs that run
twice or forever, data kept longer than asked, heavy work on request threads, tenancy."""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import zipfile

import httpx
import numpy as np
import pytest
import SimpleITK as sitk
from api_server import Server, temp_files, upload, wait_job
from conftest import textured, write_png


# ----- helpers ----------------------------------------------------------------------------
class OpenAudit:
    """Every open or read of one file by any process, seen by the kernel (inotify)."""

    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        assert self.fd >= 0
        wd = self.libc.inotify_add_watch(self.fd, str(path).encode(), self.IN_ACCESS | self.IN_OPEN)
        assert wd >= 0
        with open(path, "rb") as fh:  # the audit itself works: this open is seen ...
            fh.read(1)
        assert self.events() > 0  # ... and drained

    def events(self) -> int:
        time.sleep(0.2)
        try:
            return len(os.read(self.fd, 65536))
        except BlockingIOError:
            return 0

    def close(self):
        os.close(self.fd)


def images(folder, n, seed=0, size=48, prefix="i"):
    rng = np.random.default_rng(seed)
    return [write_png(folder / f"{prefix}{i}.png", textured(rng, size=size)) for i in range(n)]


def raw_multipart(parts: list[tuple[str, bytes, bytes]]) -> tuple[bytes, dict]:
    """A multipart body with file names sent byte for byte (clients escape a NUL)."""
    body = b""
    for field, filename, data in parts:
        body += (
            b'--XyZ\r\nContent-Disposition: form-data; name="'
            + field.encode()
            + b'"; filename="'
            + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    return body + b"--XyZ--\r\n", {"content-type": "multipart/form-data; boundary=XyZ"}


def all_bytes(root) -> list[tuple[str, bytes]]:
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            out.append((str(path), path.read_bytes()))
    return out


def job_row(data_dir, job_id):
    with sqlite3.connect(data_dir / "frd.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("hard") / "data", env={"FRD_SWEEP_SECONDS": "3600"}).start()
    yield srv
    srv.stop()


def _mha(data_file: str) -> bytes:
    return (
        b"ObjectType = Image\nNDims = 2\nDimSize = 8 8\nElementType = MET_UCHAR\n"
        b"ElementDataFile = " + data_file.encode() + b"\n"
    )


def _nrrd(field: str, data_file: str) -> bytes:
    return (
        b"NRRD0004\ntype: uchar\ndimension: 2\nsizes: 8 8\nencoding: raw\n"
        + field.encode()
        + b": "
        + data_file.encode()
        + b"\n\n"
    )


def _two_file_nifti(tmp_path) -> bytes:
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((8, 8), np.uint8)), str(tmp_path / "x.nii"))
    raw = bytearray((tmp_path / "x.nii").read_bytes())
    raw[344:348] = b"ni1\x00"
    return bytes(raw[:352])


# ----- 1. no file outside an upload is ever read --------------------------------------------
def test_detached_header_uploads_are_refused_and_nothing_outside_is_opened(server, tmp_path):
    sentinel = tmp_path / "secret.raw"
    sentinel.write_bytes(bytes(range(64)))
    audit = OpenAudit(sentinel)
    deep = "../" * 30 + str(sentinel).lstrip("/")
    hostile = {
        "abs.mha": _mha(str(sentinel)),
        "rel.mha": _mha(deep),
        "list.mha": _mha("LIST") + str(sentinel).encode() + b"\n",
        "lower.mha": _mha("local"),
        "environ.mha": _mha("/proc/self/environ"),
        "datafile.nrrd": _nrrd("data file", str(sentinel)),
        "spelled.nrrd": _nrrd("DataFile", deep),
        "pair.nii": _two_file_nifti(tmp_path),
        "pair.nii.gz": gzip.compress(_two_file_nifti(tmp_path)),
    }
    good = images(tmp_path / "ok", 1)[0].read_bytes()
    with server.client() as c:
        r = c.post(
            "/v1/datasets", files=[("files", (n, b)) for n, b in hostile.items()] + [("files", ("ok.png", good))]
        )
        assert r.status_code == 201, r.text
        assert [a["name"] for a in r.json()["accepted"]] == ["ok.png"]
        reasons = {x["name"]: x["reason"] for x in r.json()["rejected"]}
        assert set(reasons) == set(hostile)
        assert all("separate data file" in why for why in reasons.values()), reasons
        # All refused: 422 naming each file; the synchronous endpoint refuses them too.
        r = c.post("/v1/datasets", files=[("files", ("abs.mha", hostile["abs.mha"]))])
        assert r.status_code == 422 and r.json()["error"]["rejected"][0]["name"] == "abs.mha"
        r = c.post(
            "/v1/frd",
            files=[("reference", ("a.mha", hostile["abs.mha"])), ("candidate", ("b.nrrd", hostile["datafile.nrrd"]))],
        )
        assert r.status_code == 422
        # A zip archive's members go through the same check.
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("images/z.mha", hostile["abs.mha"])
        r = c.post("/v1/datasets", files=[("archive", ("z.zip", buf.getvalue()))])
        assert r.status_code == 422 and "separate data file" in r.text
    assert audit.events() == 0, "a file outside the upload was opened"
    audit.close()


# ----- 2. jobs: exactly once, never stranded, never poison ------------------------------------
def test_options_that_would_take_the_machine_get_422_before_any_job(server, tmp_path):
    with server.client() as c:
        ds = upload(c, images(tmp_path, 3)).json()["id"]
        before = len(c.get("/v1/jobs").json()["jobs"])
        for options, word in (
            ({"resize": [100000, 100000]}, "resize"),
            ({"log_sigma": [float(i) for i in range(1, 60)]}, "log_sigma"),
            ({"log_sigma": [500.0]}, "log_sigma"),
            ({"bin_width": 0.0001}, "gray levels"),  # v1: normalised intensities
            ({"version": "v0", "bin_width": 0.001}, "gray levels"),  # 8-bit headers: 255 / 0.001 bins
            ({"seed": -5}, "seed"),
            ({"normalize_scale": 1e12}, "normalize_scale"),
        ):
            r = c.post("/v1/comparisons", json={"reference": ds, "candidate": ds, "options": options})
            assert r.status_code == 422, (options, r.text)
            assert word in r.text, (options, r.text)
        r = c.post(
            "/v1/frd",
            files=[("reference", ("a.png", b"x")), ("candidate", ("b.png", b"x"))],
            data={"options": json.dumps({"resize": [99999, 2]})},
        )
        assert r.status_code == 422
        assert len(c.get("/v1/jobs").json()["jobs"]) == before  # no job was made


def test_lease_lost_during_a_job_means_no_write_and_one_end(tmp_path):
    """Another runner takes the job while it runs: the first stops and writes nothing
    more (no progress, no result, no statistics row); the job ends exactly once."""
    data = tmp_path / "data"
    srv = Server(data, env={"FRD_EXTRACT_ON_UPLOAD": "0"}).start()
    try:
        with srv.client() as c:
            ds = upload(c, images(tmp_path / "a", 40, size=128)).json()["id"]
            r = c.post("/v1/reference-stats", json={"dataset": ds})
            loc = r.headers["location"]
            job_id = loc.rsplit("/", 1)[1]
            deadline = time.monotonic() + 120
            while c.get(loc).json()["progress"]["done"] < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            # Another runner (on another host) takes the job over.
            with sqlite3.connect(data / "frd.sqlite3", timeout=30) as db:
                assert (
                    db.execute(
                        "UPDATE jobs SET lease_owner = 'elsewhere:1:x', lease_until = ? "
                        "WHERE id = ? AND state = 'running'",
                        (time.time() + 3600, job_id),
                    ).rowcount
                    == 1
                )
            taken = job_row(data, job_id)
            time.sleep(6)  # the first runner notices at its next progress step or heartbeat
            after = job_row(data, job_id)
            assert after["state"] == "running" and after["result"] is None and after["finished"] is None
            assert after["done"] == taken["done"] and after["lease_owner"] == "elsewhere:1:x"
            with sqlite3.connect(data / "frd.sqlite3") as db:
                assert db.execute("SELECT COUNT(*) FROM reference_stats").fetchone()[0] == 0
                # The other runner dies: its lease expires and the service takes the job back.
                db.execute("UPDATE jobs SET lease_until = ? WHERE id = ?", (time.time() - 1, job_id))
            job = wait_job(c, loc)
            assert job["state"] == "succeeded", job
            row = job_row(data, job_id)
            assert row["attempts"] == 2
            with sqlite3.connect(data / "frd.sqlite3") as db:
                assert db.execute("SELECT COUNT(*) FROM reference_stats").fetchone()[0] == 1
    finally:
        srv.stop()


def test_a_job_that_kills_the_service_is_not_retried_forever(tmp_path):
    data = tmp_path / "data"
    env = {"FRD_EXTRACT_ON_UPLOAD": "0", "FRD_MAX_ATTEMPTS": "2"}
    srv = Server(data, env=env).start()
    with srv.client() as c:
        ds = upload(c, images(tmp_path / "a", 30, size=128)).json()["id"]
        loc = c.post("/v1/comparisons", json={"reference": ds, "candidate": ds}).headers["location"]
        wait_job(c, loc, states=("running",))
    for attempt in (1, 2):  # as if the job ran the service out of memory, twice
        srv.kill()
        srv = Server(data, env=env, port=srv.port).start()
        with srv.client() as c:
            job = wait_job(c, loc, states=("running", "failed", "succeeded"))
            if attempt == 1:
                assert job["state"] == "running"
    try:
        with srv.client() as c:
            job = wait_job(c, loc)
            assert job["state"] == "failed" and "2 times" in job["error"] and "not retried" in job["error"]
            assert job_row(data, loc.rsplit("/", 1)[1])["attempts"] == 2
            assert c.get("/readyz").status_code == 200
    finally:
        srv.stop()


def test_a_locked_database_delays_jobs_but_stops_nothing(tmp_path):
    """A backup tool holds the write lock longer than the busy timeout: liveness and
    status answer at once, writes answer 503, and afterwards the runner carries on."""
    data = tmp_path / "data"
    srv = Server(data, env={"FRD_EXTRACT_ON_UPLOAD": "0", "FRD_DB_BUSY_TIMEOUT": "0.5"}).start()
    try:
        with srv.client() as c:
            ds = upload(c, images(tmp_path / "a", 12, size=96)).json()["id"]
            loc = c.post("/v1/comparisons", json={"reference": ds, "candidate": ds}).headers["location"]
            wait_job(c, loc, states=("running", "succeeded"))
            locker = sqlite3.connect(data / "frd.sqlite3", isolation_level=None)
            locker.execute("BEGIN IMMEDIATE")
            try:
                slowest = 0.0
                end = time.monotonic() + 6  # 12 busy timeouts
                while time.monotonic() < end:
                    for path in ("/healthz", loc):
                        t = time.perf_counter()
                        assert c.get(path).status_code == 200
                        slowest = max(slowest, time.perf_counter() - t)
                    time.sleep(0.1)
                r = c.post("/v1/comparisons", json={"reference": ds, "candidate": ds})
                assert r.status_code == 503 and r.headers["retry-after"]
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            assert slowest < 0.5, slowest
            assert wait_job(c, loc)["state"] == "succeeded"
            again = c.post("/v1/comparisons", json={"reference": ds, "candidate": ds, "options": {"version": "v0"}})
            assert wait_job(c, again.headers["location"])["state"] == "succeeded"
            assert c.get("/readyz").status_code == 200
            assert job_row(data, loc.rsplit("/", 1)[1])["attempts"] == 1
    finally:
        srv.stop()


def test_a_failed_commit_rolls_back_and_frees_the_database(tmp_path):
    from api.db import Database

    db = Database(tmp_path / "x.sqlite3", busy_timeout=0.5)
    conn = db.connect()
    conn.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
    )
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction() as tx:  # the foreign key is checked only at COMMIT
            tx.execute("INSERT INTO child VALUES (42)")
    assert not conn.in_transaction
    other = sqlite3.connect(tmp_path / "x.sqlite3", timeout=0.5)
    other.execute("INSERT INTO parent VALUES (1)")  # not blocked by a dangling write transaction
    other.commit()
    assert db.one("SELECT COUNT(*) AS n FROM child")["n"] == 0


# ----- 3. heavy work never on request threads -----------------------------------------------
def test_synchronous_requests_are_bounded(tmp_path):
    srv = Server(tmp_path / "data", env={"FRD_SYNC_SLOTS": "1", "FRD_SYNC_QUEUE": "0"}).start()
    try:
        files = [("reference", (p.name, p.read_bytes())) for p in images(tmp_path / "r", 6, seed=1)]
        files += [("candidate", (p.name, p.read_bytes())) for p in images(tmp_path / "c", 6, seed=2)]
        results = []

        def post():
            with srv.client() as c:
                r = c.post("/v1/frd", files=files)
                results.append((r.status_code, r.headers.get("retry-after")))

        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        codes = sorted(code for code, _ in results)
        assert len(codes) == 4 and 200 in codes and 429 in codes and set(codes) <= {200, 429}, results
        assert all(retry for code, retry in results if code == 429)
        assert temp_files(srv.data_dir) == []
    finally:
        srv.stop()


# ----- 4. retention and tenancy --------------------------------------------------------------
def test_deleting_the_last_dataset_that_uses_a_blob_removes_it(server, tmp_path):
    shared = images(tmp_path / "s", 1, seed=11, prefix="shared")[0]
    own = images(tmp_path / "o", 2, seed=12, prefix="own")
    with server.client() as c:
        first = upload(c, [shared, own[0]]).json()
        second = upload(c, [shared, own[1]]).json()
        for ds in (first, second):
            wait_job(c, f"/v1/jobs/{c.get(ds['links']['self']).json()['extraction']['id']}")
        blobs = server.data_dir / "blobs"
        sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (shared, *own)}
        stored = lambda: {p for p, h in sha.items() if (blobs / h[:2] / h).is_file()}  # noqa: E731
        assert stored() == {shared, *own}
        assert c.delete(f"/v1/datasets/{first['id']}").status_code == 204
        assert stored() == {shared, own[1]}  # the shared file stays for the second dataset
        assert c.delete(f"/v1/datasets/{second['id']}").status_code == 204
        assert stored() == set()
        remaining = {p for p, _ in all_bytes(server.data_dir)}
        contents = [b for _, b in all_bytes(server.data_dir)]
        for path in (shared, *own):  # no byte of the deleted uploads remains anywhere
            data = path.read_bytes()
            assert not any(data in blob for blob in contents), (path, remaining)
        # ... nor of a synchronous request's uploads, once it has been answered.
        sync = images(tmp_path / "y", 4, seed=13, prefix="sync")
        files = [("reference", (p.name, p.read_bytes())) for p in sync[:2]]
        files += [("candidate", (p.name, p.read_bytes())) for p in sync[2:]]
        assert c.post("/v1/frd", files=files).status_code in (200, 422)
        contents = [b for _, b in all_bytes(server.data_dir)]
        assert not any(p.read_bytes() in blob for p in sync for blob in contents)


def test_a_dataset_in_use_cannot_be_deleted(tmp_path):
    srv = Server(tmp_path / "data", env={"FRD_EXTRACT_ON_UPLOAD": "0"}).start()
    try:
        with srv.client() as c:
            ds = upload(c, images(tmp_path / "a", 16, size=96)).json()["id"]
            loc = c.post("/v1/comparisons", json={"reference": ds, "candidate": ds}).headers["location"]
            r = c.delete(f"/v1/datasets/{ds}")
            assert r.status_code == 409 and r.json()["error"]["jobs"] == [loc.rsplit("/", 1)[1]]
            assert wait_job(c, loc)["state"] == "succeeded"
            assert c.delete(f"/v1/datasets/{ds}").status_code == 204
    finally:
        srv.stop()


def test_retention_expires_datasets_results_and_their_bytes(tmp_path):
    data = tmp_path / "data"
    # 0.00003 days ≈ 2.6 s; a sweep every second.
    srv = Server(data, env={"FRD_RETENTION_DAYS": "0.00003", "FRD_SWEEP_SECONDS": "1"}).start()
    try:
        paths = images(tmp_path / "a", 3, seed=21)
        with srv.client() as c:
            body = upload(c, paths).json()
            job = c.get(body["links"]["self"]).json()["extraction"]["id"]
            wait_job(c, f"/v1/jobs/{job}")
            deadline = time.monotonic() + 30
            while c.get(body["links"]["self"]).status_code != 404 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert c.get(body["links"]["self"]).status_code == 404
            while c.get(f"/v1/jobs/{job}").status_code != 404 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert c.get(f"/v1/jobs/{job}").status_code == 404
        contents = [b for _, b in all_bytes(data)]
        assert not any(p.read_bytes() in blob for p in paths for blob in contents)
        with sqlite3.connect(next((data / "cache").glob("*/features.sqlite3"))) as cache:
            assert cache.execute("SELECT COUNT(*) FROM features").fetchone()[0] == 0
    finally:
        srv.stop()


def test_cache_hits_stay_within_a_tenant_and_metrics_need_their_key(tmp_path):
    srv = Server(tmp_path / "data", env={"FRD_API_KEYS": "alpha,beta", "FRD_METRICS_KEY": "scrape"}).start()
    try:
        paths = images(tmp_path / "a", 3, seed=31)
        results = {}
        for key in ("alpha", "beta", "alpha"):
            with srv.client(key) as c:
                body = upload(c, paths).json()
                wait_job(c, f"/v1/jobs/{c.get(body['links']['self']).json()['extraction']['id']}")
                results.setdefault(key, []).append(
                    c.get(body["links"]["self"]).json()["extraction"]["result"]["cache_hits"]
                )
        assert results == {"alpha": [0, 3], "beta": [0]}  # beta learns nothing of alpha's images
        assert httpx.get(srv.url + "/metrics").status_code == 401
        assert srv.client("alpha").get("/metrics").status_code == 401  # a tenant's key is not enough
        assert srv.client("scrape").get("/metrics").status_code == 200
    finally:
        srv.stop()


def test_no_server_path_in_any_error_body(server, tmp_path):
    good = images(tmp_path / "g", 3, seed=41)
    mask = write_png(tmp_path / "m" / "i0.png", np.ones((20, 20), np.uint8))  # wrong size
    bodies = []
    with server.client() as c:
        broken = good[0].read_bytes()
        files = [("files", (p.name, p.read_bytes())) for p in good[1:]]
        files += [("files", ("broken.png", broken[: len(broken) // 2]))]
        body = c.post("/v1/datasets", files=files).json()
        job = wait_job(c, f"/v1/jobs/{c.get(body['links']['self']).json()['extraction']['id']}")
        bodies.append(json.dumps(c.get(body["links"]["self"]).json()))
        other = upload(c, images(tmp_path / "h", 4, seed=42)).json()["id"]
        r = c.post("/v1/comparisons", json={"reference": other, "candidate": body["id"]})
        job = wait_job(c, r.headers["location"])
        bodies.append(json.dumps(job))
        bodies.append(c.get(f"/v1/comparisons/{job['id']}").text)
        masked = c.post(
            "/v1/datasets",
            files=[("files", ("i0.png", good[0].read_bytes())), ("masks", ("i0.png", mask.read_bytes()))],
        ).json()
        job = wait_job(c, f"/v1/jobs/{c.get(masked['links']['self']).json()['extraction']['id']}")
        assert job["state"] == "failed" and "does not fit" in job["error"]
        bodies.append(json.dumps(job))
        bodies.append(
            c.post(
                "/v1/datasets",
                files=[("files", ("a.png", good[0].read_bytes())), ("masks", ("zzz.png", good[1].read_bytes()))],
            ).text
        )
        bodies.append(c.post("/v1/datasets", files=[("archive", ("x.zip", b"PK\x03\x04broken"))]).text)
        bodies.append(
            c.post(
                "/v1/frd", files=[("reference", ("a.png", broken[:100])), ("candidate", ("b.png", broken[:100]))]
            ).text
        )
    for text in bodies:
        assert str(server.data_dir) not in text and "/tmp/" not in text and "/work/" not in text, text


# ----- 5. faults and hostile requests found live ---------------------------------------------
def test_crafted_upload_names_are_4xx_and_leave_nothing(server, tmp_path):
    png = images(tmp_path, 1)[0].read_bytes()
    with server.client() as c:
        before = {p for p, _ in all_bytes(server.data_dir / "blobs")}
        for name in (
            b"bad\x00name.png",
            b"tab\tname.png",
            b"x" * 300 + b".png",
            b"d/" + b"y" * 250 + b".png",
            "\u00e9".encode() * 150 + b".png",
        ):
            body, headers = raw_multipart([("files", name, png)])
            r = c.post("/v1/datasets", content=body, headers=headers)
            assert r.status_code in (400, 422), (name, r.text)
        r = c.post("/v1/datasets", files=[("files", ("a.png", png)), ("files", ("a.png/b.png", png))])
        assert r.status_code == 201 and [x["name"] for x in r.json()["rejected"]] == ["a.png/b.png"]
        r = c.post("/v1/datasets", files=[("files", ("a.png/b.png", png)), ("files", ("a.png", png))])
        assert r.status_code == 201 and [x["name"] for x in r.json()["rejected"]] == ["a.png"]
        assert c.get("/readyz").status_code == 200
    assert temp_files(server.data_dir) == []
    assert not [p for p in (server.data_dir / "datasets").iterdir() if p.name.startswith(".")]
    after = {p for p, _ in all_bytes(server.data_dir / "blobs")}
    assert len(after - before) <= 1  # only the one accepted image's blob


def test_json_bodies_have_a_size_limit(server):
    with server.client() as c:
        big = {"reference": "ds_x", "candidate": "ds_y", "options": {"version": "v1"}, "pad": "x" * (2 << 20)}
        r = c.post("/v1/comparisons", content=json.dumps(big), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

        def chunks():  # no Content-Length: counted while it arrives
            yield b'{"reference": "ds_x", "candidate": "ds_y", "pad": "'
            for _ in range(40):
                yield b"x" * 65536
            yield b'"}'

        r = c.post("/v1/comparisons", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.get("/healthz").status_code == 200


def test_kill_9_leaves_no_process_and_restart_cleans_temp_files(tmp_path):
    data = tmp_path / "data"
    srv = Server(data, env={"FRD_WORKERS": "2"}).start()
    with srv.client() as c:
        body = upload(c, images(tmp_path / "a", 40, size=128)).json()
        wait_job(c, f"/v1/jobs/{c.get(body['links']['self']).json()['extraction']['id']}", states=("running",))
    # An upload interrupted half-way leaves a temp file behind ...
    sock = socket.create_connection(("127.0.0.1", srv.port))
    head = (
        b"POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        b'Content-Length: 10000000\r\n\r\n--B\r\nContent-Disposition: form-data; name="files"; '
        b'filename="p.png"\r\n\r\n'
    )
    sock.sendall(head + b"\x89PNG" + b"\0" * 200000)
    deadline = time.monotonic() + 10
    while not temp_files(data) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert temp_files(data)
    group = srv.proc.pid
    os.kill(srv.proc.pid, signal.SIGKILL)  # the service alone: nobody stops its workers
    srv.proc.wait()
    sock.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-o", "pid=", "-g", str(group)], capture_output=True, text=True).stdout.split()
        if not ps:
            break
        time.sleep(0.5)
    try:
        assert ps == [], "processes of the killed service are still alive"
    finally:
        for pid in ps:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    srv.log.close()
    again = Server(data, port=srv.port).start()
    try:
        deadline = time.monotonic() + 15
        while temp_files(data) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert temp_files(data) == []
    finally:
        again.stop()


def test_an_exception_in_the_runner_fails_the_job_and_the_runner_goes_on(tmp_path):
    """A job the runner cannot even start (its row is damaged) ends failed, not stranded
    in 'running', and the runner keeps serving other jobs."""
    from api.db import Database
    from api.jobs import JobRunner
    from api.settings import Settings
    from api.store import BlobStore

    settings = Settings(data_dir=tmp_path, lease_seconds=3.0)
    db = Database(tmp_path / "frd.sqlite3")
    runner = JobRunner(db, BlobStore(tmp_path), settings)
    db.execute(
        "INSERT INTO jobs (id, owner, kind, state, params, created) VALUES "
        "('job_bad', 'o', 'compare', 'queued', '{not json', 1), ('job_odd', 'o', 'nonsense', 'queued', '{}', 2)"
    )
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = {r["id"]: r for r in db.all("SELECT id, state, error, lease_owner FROM jobs")}
            if all(r["state"] != "queued" and r["state"] != "running" for r in rows.values()):
                break
            time.sleep(0.1)
        assert {k: r["state"] for k, r in rows.items()} == {"job_bad": "failed", "job_odd": "failed"}
        assert all(r["lease_owner"] is None and r["error"] for r in rows.values())
        assert runner.alive
    finally:
        runner.stop()


# ----- a full disk ------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MB filesystem (tmpfs) for the data dir, so the disk fills for real."""
    import shutil

    from conftest import missing_tool

    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        missing_tool("a tmpfs mount (root)", "run the test as root, as CI does")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode:
        missing_tool("a tmpfs mount", proc.stderr.decode(errors="replace").strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder):
    """Write a file until the filesystem is full; returns it."""
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC: the disk is really full
    return filler


def test_a_full_disk_answers_507_and_keeps_what_was_accepted(small_disk, tmp_path):
    data = small_disk / "data"
    server = Server(data).start()
    try:
        with server.client() as c:
            kept = upload(c, images(tmp_path / "a", 4, seed=21, size=64)).json()
            wait_job(c, f"/v1/jobs/{c.get(kept['links']['self']).json()['extraction']['id']}")
            filler = fill(small_disk)
            before = {p: p.read_bytes() for p in (data / "blobs").rglob("*") if p.is_file()}
            late = images(tmp_path / "b", 6, seed=22, size=256)
            r = upload(c, late)
            assert r.status_code == 507, r.text
            assert r.json()["error"]["code"] == "storage_full" and r.headers["retry-after"]
            assert "nothing of it was kept" in r.json()["error"]["message"]
            files = [("reference", (p.name, p.read_bytes())) for p in late[:3]]
            files += [("candidate", (p.name, p.read_bytes())) for p in late[3:]]
            assert c.post("/v1/frd", files=files).status_code == 507  # a synchronous request too
            # Nothing half-written is left, and what was accepted before is untouched.
            assert temp_files(data) == []
            after = {p: p.read_bytes() for p in (data / "blobs").rglob("*") if p.is_file()}
            assert after == before
            assert c.get("/healthz").status_code == 200
            assert c.get(kept["links"]["self"]).json()["n_images"] == 4
            # Space again: the service carries on where it was, no restart needed.
            filler.unlink()
            again = upload(c, late)
            assert again.status_code == 201, again.text
            wait_job(c, f"/v1/jobs/{c.get(again.json()['links']['self']).json()['extraction']['id']}")
            loc = c.post("/v1/comparisons", json={"reference": kept["id"], "candidate": again.json()["id"]})
            job = wait_job(c, loc.headers["location"])
            assert job["state"] == "succeeded", job
    finally:
        server.stop()
