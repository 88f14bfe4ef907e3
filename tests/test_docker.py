"""The image's scripts that run the same outside a container: the entry point, the health
check and the builder's choice of requirements. The image itself is built and checked
running by docker/ci-build.sh (CI), not here."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX shell scripts")


# ----------------------------------------------------------------------- health check


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def healthcheck(*args, **env):
    return subprocess.run(
        [sys.executable, "-I", str(ROOT / "docker" / "healthcheck.py"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthcheck_prints_one_line_and_fails_on_anything_but_2xx(health_server):
    url = f"http://127.0.0.1:{health_server.server_port}/healthz"
    proc = healthcheck(url)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(f"healthy: {url} answered 200 in ") and proc.stdout.count("\n") == 1
    _Health.status = 503
    try:
        proc = healthcheck(url)
    finally:
        _Health.status = 200
    assert proc.returncode == 1 and proc.stdout == f"unhealthy: {url} answered 503 Service Unavailable\n"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/healthz"
    proc = healthcheck(closed)
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout.startswith(f"unhealthy: {closed}: ") and proc.stdout.count("\n") == 1
    proc = healthcheck("not a url")
    assert proc.returncode == 1 and proc.stdout.startswith("unhealthy: not a url: ") and proc.stdout.count("\n") == 1


def test_healthcheck_url_from_the_environment(health_server):
    url = f"http://127.0.0.1:{health_server.server_port}/healthz"
    proc = healthcheck(FRD_HEALTHCHECK_URL=url)
    assert proc.returncode == 0 and url in proc.stdout


# ----------------------------------------------------------------------- entrypoint


@pytest.fixture
def fake_frd(tmp_path):
    """A stand-in `frd` on PATH that records its arguments (the entry point's own logic is
    what is tested; the image runs the real one in CI)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "frd"
    fake.write_text('#!/bin/sh\necho "args: $*"\n')
    fake.chmod(0o755)
    return bin_dir


def entrypoint(*args, bin_dir, **env):
    full = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(
        [str(ROOT / "docker" / "entrypoint.sh"), *args], env=full, capture_output=True, text=True, timeout=30
    )


@posix_only
def test_entrypoint_defaults_to_frd_serve_and_creates_the_data_folder(fake_frd, tmp_path):
    data = tmp_path / "new" / "data"
    proc = entrypoint(bin_dir=fake_frd, FRD_DATA_DIR=str(data))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "args: serve --host 0.0.0.0"
    assert data.is_dir()
    other = tmp_path / "other"
    proc = entrypoint("frd", "serve", "--data-dir", str(other), bin_dir=fake_frd, FRD_DATA_DIR=str(data))
    assert proc.returncode == 0 and other.is_dir()


@posix_only
def test_entrypoint_refuses_an_unusable_data_folder_before_starting(fake_frd, tmp_path):
    (tmp_path / "file").write_text("")
    proc = entrypoint(bin_dir=fake_frd, FRD_DATA_DIR=str(tmp_path / "file" / "data"))
    assert proc.returncode == 1
    assert "args:" not in proc.stdout and "data folder" in proc.stderr


@posix_only
def test_entrypoint_passes_other_commands_through(fake_frd, tmp_path):
    proc = entrypoint("frd", "batch", "--input", "/in", bin_dir=fake_frd, FRD_DATA_DIR=str(tmp_path / "file" / "x"))
    assert proc.returncode == 0 and proc.stdout.strip() == "args: batch --input /in"  # no data-dir check
    proc = entrypoint("--version", bin_dir=fake_frd)
    assert proc.stdout.strip() == "args: --version"
    proc = entrypoint("sh", "-c", "exit 7", bin_dir=fake_frd)
    assert proc.returncode == 7  # exec'd: the command's own status


# ----------------------------------------------------------------------- builder


@posix_only
def test_build_venv_refuses_an_extra_the_project_does_not_define(tmp_path):
    proc = subprocess.run(
        ["sh", str(ROOT / "docker" / "build-venv.sh"), "deps", str(tmp_path / "venv"), "service,no-such-extra"],
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "defines no extra no-such-extra" in proc.stderr
    assert not (tmp_path / "venv").exists()  # refused before anything was installed
