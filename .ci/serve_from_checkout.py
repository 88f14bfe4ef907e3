"""After the README's first command (a plain, non-editable `pip install .`): start `frd serve`
from the repository root, as a user would, and run one real comparison job through it.

Run from the repository root of a fresh clone, inside the virtual environment the README's
command made, with the service extra installed (and httpx):

    python .ci/serve_from_checkout.py example-data/reference example-data/candidate

It fails (exit 1, with the service's log) unless the job succeeds with the value that
`frd compare` printed for the same folders. The worker processes then imported the
installed frd, not the source tree the service was started in (whose compiled kernel is
not built), which is what this guards.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def main(reference: str, candidate: str) -> int:
    expected = json.loads(
        subprocess.run(
            ["frd", "compare", reference, candidate, "--json", "-q"], check=True, capture_output=True, text=True
        ).stdout
    )["frd"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = Path(tempfile.mkdtemp(prefix="frd-serve-"))
    log = open(data / "serve.log", "wb")
    server = subprocess.Popen(
        ["frd", "serve", "--port", str(port), "--data-dir", str(data / "d")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the service did not start")
                time.sleep(0.2)
            # The web page ships in the installed package: the page and its script are served.
            page = client.get("/")
            if page.status_code != 200 or 'src="static/app.js"' not in page.text:
                raise RuntimeError(f"the web page is not served: {page.status_code} {page.text[:200]!r}")
            if client.get("/static/app.js").status_code != 200:
                raise RuntimeError("the web page's script is not served")
            ids = []
            for folder in (reference, candidate):
                files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted(Path(folder).iterdir())]
                response = client.post("/v1/datasets", files=files)
                response.raise_for_status()
                ids.append(response.json()["id"])
            job = client.post("/v1/comparisons", json={"reference": ids[0], "candidate": ids[1]})
            job.raise_for_status()
            location = job.headers["location"]
            deadline = time.monotonic() + 600
            while (state := client.get(location).json())["state"] not in ("succeeded", "failed", "cancelled"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the job did not finish: {state}")
                time.sleep(0.5)
            if state["state"] != "succeeded":
                raise RuntimeError(f"the job ended {state['state']}: {state.get('error')}")
            value = client.get(state["links"]["result"]).json()["frd"]
            if value != expected:
                raise RuntimeError(f"the service gave {value}, `frd compare` gave {expected}")
            print(f"frd serve from the repository root: job {state['id']} succeeded, FRD {value}")
            return 0
    except Exception as exc:
        log.flush()
        print(f"serve_from_checkout: {exc}\n--- service log ---\n{(data / 'serve.log').read_text()}", file=sys.stderr)
        return 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
