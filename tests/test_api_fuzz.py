"""Schemathesis over the service's own OpenAPI document: no generated request may cause
a 5xx. Runs the schemathesis command line against a real server (its pytest plugin does
not support the pytest version used here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from api_server import Server


def test_schemathesis_finds_no_server_errors(tmp_path):
    srv = Server(tmp_path / "data", env={"FRD_EXTRACT_ON_UPLOAD": "0"}).start()
    try:
        exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
        proc = subprocess.run(
            [
                exe,
                "run",
                f"{srv.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--request-timeout",
                "60",
                "--suppress-health-check",
                "all",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert httpx.get(f"{srv.url}/readyz").status_code == 200  # still healthy afterwards
    finally:
        srv.stop()
