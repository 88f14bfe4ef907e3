"""The host side of docker/ci-build.sh: test images, and the REST service and Dask
scheduler of running containers, reached through their ports published on 127.0.0.1.
Runs with the project's environment (numpy, SimpleITK, httpx), not inside the image.

    python docker/ci_checks.py images DIR              DIR/reference, DIR/candidate: 6 PNGs each
    python docker/ci_checks.py api URL KEY DIR [--scheduler-metrics URL]
        /healthz, 401 without a key, DIR/reference and DIR/candidate uploaded, a comparison
        job; prints the result's FRD. With --scheduler-metrics: also the Dask scheduler's
        count of finished tasks before and after, which must have grown by one
        extraction per image
    python docker/ci_checks.py workers METRICS_URL N   exit 0 when N workers are connected
    python docker/ci_checks.py same-frd A B            two metrics.json files (or numbers) agree
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path


def fail(message: str) -> None:
    sys.exit(f"ci_checks: FAILED: {message}")


def make_images(root: Path) -> None:
    """Small 16-bit PNG "scans": an ellipse in noise, the candidate set smoother."""
    import numpy as np
    import SimpleITK as sitk

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:48, 0:48] / 48
    ellipse = ((x - 0.5) / 0.3) ** 2 + ((y - 0.5) / 0.25) ** 2 < 1
    for name, smooth in (("reference", 0.8), ("candidate", 2.0)):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(6):
            image = 400 + 300 * ellipse + rng.normal(0, 60, (48, 48))
            image = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), smooth))
            sitk.WriteImage(
                sitk.GetImageFromArray(np.clip(image, 0, 65535).astype(np.uint16)), str(folder / f"scan{i}.png")
            )


def finished_tasks(metrics_url: str) -> int:
    """Tasks the Dask scheduler has seen through to the end, from its Prometheus metrics."""
    import httpx

    text = httpx.get(metrics_url, timeout=10).text
    counts = re.findall(
        r'^dask_scheduler_prefix_state_totals_total\{[^}]*state="memory"[^}]*\} ([0-9.e+]+)$', text, re.MULTILINE
    )
    return int(sum(float(c) for c in counts))


def check_api(url: str, key: str, root: Path, scheduler_metrics: str | None) -> float:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as anonymous:
        health = anonymous.get("/healthz")
        if health.status_code != 200:
            fail(f"/healthz answered {health.status_code}")
        refused = anonymous.get("/v1/jobs")
        if refused.status_code != 401 or refused.json().get("error", {}).get("status") != 401:
            fail(f"/v1/jobs without a key answered {refused.status_code} {refused.text[:200]}")
        wrong = anonymous.get("/v1/jobs", headers={"Authorization": "Bearer not-a-key"})
        if wrong.status_code != 401:
            fail(f"/v1/jobs with a wrong key answered {wrong.status_code}")
    print("api: /healthz 200; 401 without a key and with a wrong one")

    before = finished_tasks(scheduler_metrics) if scheduler_metrics else 0
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"}) as client:
        ids, n_images = [], 0
        for name in ("reference", "candidate"):
            paths = sorted((root / name).glob("*.png"))
            n_images += len(paths)
            files = [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]
            response = client.post("/v1/datasets", files=files)
            body = response.json()
            if response.status_code != 201 or len(body.get("accepted", [])) != len(paths) or body.get("rejected"):
                fail(f"upload of {name}: {response.status_code} {response.text[:300]}")
            ids.append(body["id"])
        response = client.post("/v1/comparisons", json={"reference": ids[0], "candidate": ids[1]})
        if response.status_code != 202:
            fail(f"POST /v1/comparisons: {response.status_code} {response.text[:300]}")
        location = response.headers["location"]
        deadline = time.monotonic() + 300
        while True:
            job = client.get(location).json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                fail(f"the comparison job is still {job['state']} after 300 s")
            time.sleep(0.5)
        if job["state"] != "succeeded":
            fail(f"the comparison job {job['state']}: {job.get('error')}")
        result = client.get(job["links"]["result"]).json()
    if result["n_reference"] != 6 or result["n_candidate"] != 6 or not math.isfinite(result["frd"]):
        fail(f"unexpected result {result}")
    print(f"api: 2 datasets uploaded, comparison job {job['id']} succeeded: FRD {result['frd']!r}")
    if scheduler_metrics:
        after = finished_tasks(scheduler_metrics)
        print(f"dask: the scheduler counts {after - before} finished tasks for this comparison ({before} -> {after})")
        if after - before < n_images:
            fail(f"expected at least {n_images} tasks (one extraction per image) on the Dask workers")
    return result["frd"]


def workers(metrics_url: str) -> int:
    """Workers connected to the Dask scheduler, from its Prometheus metrics."""
    import httpx

    text = httpx.get(metrics_url, timeout=10).text
    counts = re.findall(r'^dask_scheduler_workers\{state="[^"]*"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return int(sum(float(n) for n in counts))


def frd_of(value: str) -> float:
    path = Path(value)
    return float(json.loads(path.read_text())["frd"]) if path.is_file() else float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci_checks.py")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("images").add_argument("dir", type=Path)
    api = sub.add_parser("api")
    api.add_argument("url")
    api.add_argument("key")
    api.add_argument("dir", type=Path)
    api.add_argument("--scheduler-metrics")
    api.add_argument("--frd-out", type=Path, help="write the comparison's FRD here")
    count = sub.add_parser("workers")
    count.add_argument("metrics_url")
    count.add_argument("n", type=int)
    same = sub.add_parser("same-frd")
    same.add_argument("a")
    same.add_argument("b")
    args = parser.parse_args(argv)

    if args.command == "images":
        make_images(args.dir)
    elif args.command == "api":
        value = check_api(args.url.rstrip("/"), args.key, args.dir, args.scheduler_metrics)
        if args.frd_out:
            args.frd_out.write_text(repr(value) + "\n")
    elif args.command == "workers":
        found = workers(args.metrics_url)
        print(f"dask: {found} workers connected to the scheduler")
        return 0 if found == args.n else 1
    else:
        a, b = frd_of(args.a), frd_of(args.b)
        # The same code and the same features on both sides; only the linear algebra
        # libraries of two installations may differ in the last bits.
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            fail(f"FRD {a!r} ({args.a}) differs from {b!r} ({args.b})")
        difference = "" if a == b else f", |difference| {abs(a - b):.3g}"
        print(f"same FRD: {a!r} ({args.a}) and {b!r} ({args.b}){difference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
