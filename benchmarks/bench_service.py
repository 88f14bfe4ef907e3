"""Responsiveness benchmark of the REST service while feature extraction runs.

What it measures
----------------
The real service (``python -m frd serve``) is started on 127.0.0.1 at a free port with a
fresh temporary data dir and no API keys (loopback only). Two sets of seeded smooth random
textures (PNG, ``--size`` pixels square, ``--images`` per set) are uploaded. Once all the
client threads are connected, a comparison is started with ``{"bin_width": 7}`` - options
no feature cache holds yet, so the job really extracts features - and as soon as it runs,
for ``--seconds``:

  * ``--clients`` threads, each with its own keep-alive ``httpx.Client``, poll
    ``GET /v1/jobs/{id}`` back to back (or every ``--interval`` seconds), and
  * ``--uploads`` further image sets are posted to ``/v1/datasets`` at the same time,
    starting ``--upload-delay`` seconds in (default 2: while the extraction is under way
    rather than while the job is still starting its worker pool), and
  * ``--sync`` synchronous comparisons (``POST /v1/frd``, two sets of ``--sync-images``
    small PNGs each) are sent at once, at the same moment. The service runs a bounded
    number of them and sheds the rest with 429 and Retry-After (FRD_SYNC_SLOTS /
    FRD_SYNC_QUEUE): a 429 is an answer, a 5xx or a dropped connection an error.

After its extraction the comparison computes the distance and, unless ``--no-report``,
renders its HTML report - in the service process. The window's uploads queue extraction
jobs of their own (the service extracts on upload), which run once the comparison ends.
The jobs are sampled once a second and each running one is shown as ``extracting`` or
``finishing``, so one can see what the background work was during the window.

Every request is timed with ``time.perf_counter`` on the client. It reports the number
of polls, errors (non-2xx or exceptions) of polls and uploads separately, p50/p90/p99/max
of the polling latency (also split into polls that overlapped an upload and the rest),
each upload's latency, the job samples, and PASS/FAIL for the target:

  no errors (no 5xx, nothing dropped)   and   p99 of status polling < 100 ms
  and every job ended exactly once (all jobs in a final state, each run by one attempt,
  read from the service's database after it stopped)

After that window, once every job has ended, an idle baseline (the same pollers, nothing
else running) is measured for ``--baseline-seconds``. It tells a FAIL apart: high latency
even when idle means the poll path itself is too slow for that many clients; high latency
only under load means the background work or the uploads interfere with request handling.

The load generator runs on the same machine as the service, so it competes for the same
cores (as any co-located client would); latencies are end to end. For each window the
CPU used by the service process, its extraction workers and the load generator itself is
shown, and the share of CPU already busy before the start is printed, with a warning
when other work (a test run, a build) would inflate the figures. Linux only for those
CPU figures; the rest runs anywhere.

Run (from the repository root, in an environment with the service extra and httpx):

  python benchmarks/bench_service.py [--clients 50 --seconds 15] [--interval 0.5]
                                     [--no-report] [--json-out FILE]

Exit status 0 whether the target passes or not (this is a measurement); 2 if the server
does not start or the set-up (uploads, starting the job) fails; 130 when interrupted.
The server (with its worker processes) is stopped and the temp dir removed in every case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
P99_TARGET_MS = 100.0
COMPARE_OPTIONS = {"bin_width": 7}  # not the upload-time extraction's options: forces new work
TERMINAL_STATES = ("succeeded", "failed", "cancelled")
FileList = list[tuple[str, tuple[str, bytes, str]]]


class SetupError(RuntimeError):
    """The service could not be started or prepared; no measurement was possible."""


# --------------------------------------------------------------------------- data


def textured_image(rng: np.random.Generator, size: int, smooth: float) -> np.ndarray:
    """Gaussian-smoothed white noise as an 8-bit image."""
    noise = sitk.GetImageFromArray(rng.normal(0.0, 1.0, (size, size)))
    field_ = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, smooth))
    field_ = (field_ - field_.mean()) / field_.std()
    return np.clip(128 + 32 * field_, 0, 255).astype(np.uint8)


def make_image_set(folder: Path, n: int, size: int, smooth: float, seed: int) -> FileList:
    """Write ``n`` PNGs and return them as multipart ``files`` fields (bytes in memory,
    so disk reads on the client side are not part of an upload's latency)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n):
        path = folder / f"img{i:04d}.png"
        sitk.WriteImage(sitk.GetImageFromArray(textured_image(rng, size, smooth)), str(path))
        files.append(("files", (path.name, path.read_bytes(), "image/png")))
    return files


# --------------------------------------------------------------------------- machine


def machine_jiffies() -> tuple[int, int] | None:
    """(all, idle + iowait) CPU time of the machine so far (Linux /proc/stat), else None."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]
    except (OSError, ValueError, IndexError):
        return None


def cpu_busy_fraction(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over ``seconds``, None where /proc/stat is missing.

    Other work on the machine (a test run, a build) competes with the service for the
    same cores and inflates every latency; the report says so instead of hiding it.
    """
    before = machine_jiffies()
    time.sleep(seconds)
    after = machine_jiffies()
    if before is None or after is None:
        return None
    return 1.0 - (after[1] - before[1]) / max(1, after[0] - before[0])


def group_cpu_seconds(pgid: int) -> tuple[float, float] | None:
    """CPU seconds used so far by process ``pgid`` itself and by the rest of its process
    group (the extraction pool; reaped workers count through their parent's cutime)."""
    tick = os.sysconf("SC_CLK_TCK")
    leader = others = 0.0
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()  # after "pid (comm)"
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) != pgid:
            continue
        own, reaped = (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick
        if int(entry) == pgid:
            leader += own
            others += reaped
        else:
            others += own + reaped
    return leader, others


class CpuMeter:
    """CPU used during a window by the service process, its extraction workers, this load
    generator and the machine as a whole, in % of one core (the machine: % of all cores).

    Everything here shares the same cores, so this shows who had the CPU while the
    latencies were measured - e.g. whether the load generator itself was the bottleneck.
    """

    def __init__(self, service_pid: int):
        self.pid = service_pid
        self.t0, self.group0 = time.perf_counter(), group_cpu_seconds(service_pid)
        self.self0, self.machine0 = self._own(), machine_jiffies()

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system

    def stop(self) -> dict | None:
        elapsed = time.perf_counter() - self.t0
        group, own, machine = group_cpu_seconds(self.pid), self._own(), machine_jiffies()
        if None in (self.group0, group, self.machine0, machine) or elapsed <= 0:
            return None
        pct = lambda seconds: round(100 * seconds / elapsed, 1)  # noqa: E731
        return {
            "service_process_pct": pct(group[0] - self.group0[0]),
            "extraction_workers_pct": pct(group[1] - self.group0[1]),
            "load_generator_pct": pct(own - self.self0),
            "machine_busy_pct": round(
                100 * (1 - (machine[1] - self.machine0[1]) / max(1, machine[0] - self.machine0[0])), 1
            ),
        }


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """``python -m frd serve`` as a subprocess in its own process group.

    The group matters: extraction runs in a forkserver pool, and stopping the group
    makes sure no worker process outlives the benchmark.
    """

    def __init__(self, data_dir: Path, log_path: Path, workers: int | None):
        self.data_dir, self.log_path = data_dir, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "FRD_API_KEYS"}  # loopback, no keys
        if workers is not None:
            env["FRD_WORKERS"] = str(workers)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "frd",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--log-level",
                    "warning",
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(f"server exited with status {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SetupError(f"server did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)  # the group we created: server + its workers
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


# --------------------------------------------------------------------------- set-up


def upload_set(client: httpx.Client, files: FileList) -> str:
    r = client.post("/v1/datasets", files=files)
    if r.status_code != 201:
        raise SetupError(f"upload failed: {r.status_code} {r.text[:500]}")
    return r.json()["id"]


def wait_for_job(client: httpx.Client, job_url: str, states: tuple[str, ...], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    job = client.get(job_url).json()
    while job["state"] not in states:
        if time.monotonic() > deadline:
            raise SetupError(f"job {job_url} not in {states} after {timeout:.0f} s: {job}")
        time.sleep(0.1)
        job = client.get(job_url).json()
    return job


def upload_pair(client: httpx.Client, reference: FileList, candidate: FileList, timeout: float) -> tuple[str, str]:
    """Upload both sets and let their upload-time extraction finish, so it does not occupy
    the single job slot during the window. Returns the two dataset ids."""
    ids = upload_set(client, reference), upload_set(client, candidate)
    for dataset_id in ids:
        extraction = client.get(f"/v1/datasets/{dataset_id}").json()["extraction"]
        if extraction:
            wait_for_job(client, f"/v1/jobs/{extraction['id']}", TERMINAL_STATES, timeout)
    return ids


def start_comparison(client: httpx.Client, ref_id: str, cand_id: str, report: bool, timeout: float) -> str:
    """Start the comparison and wait until it is running; returns the job's URL."""
    body = {"reference": ref_id, "candidate": cand_id, "options": COMPARE_OPTIONS}
    if not report:
        body["report"] = False  # only sent when asked: the service's default is a report
    r = client.post("/v1/comparisons", json=body)
    if r.status_code != 202:
        raise SetupError(f"starting the comparison failed: {r.status_code} {r.text[:500]}")
    job_url = r.headers["location"]
    job = wait_for_job(client, job_url, ("running", *TERMINAL_STATES), timeout)
    if job["state"] != "running":
        raise SetupError(f"the comparison ended before the window began: {job}")
    return job_url


# --------------------------------------------------------------------------- load


@dataclass
class Timed:
    """Successful requests as (start perf_counter, latency ms) pairs, and failures."""

    started: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def ok(self, t0: float) -> None:
        self.started.append(t0)
        self.latencies_ms.append((time.perf_counter() - t0) * 1000)


@dataclass
class Gate:
    """How the main thread opens the window for every client thread at once.

    Client threads first build their client and open a keep-alive connection (slow with
    50 threads on 2 cores), meet at ``ready``, and only then is the job started - so the
    short extraction is not half over before the first measured request - and ``go`` set.
    """

    ready: threading.Barrier
    go: threading.Event = field(default_factory=threading.Event)
    job_url: str = ""
    stop_at: float = float("inf")

    def enter(self, client: httpx.Client) -> bool:
        """Wait for the window; False when it was called off."""
        try:
            client.get("/healthz")  # connect outside the measurement
        except httpx.HTTPError:
            pass  # the measured requests will count the failure
        try:
            self.ready.wait()
        except threading.BrokenBarrierError:
            return False
        self.go.wait()
        return self.stop_at > 0

    def call_off(self) -> None:
        self.stop_at = 0.0
        self.ready.abort()
        self.go.set()


def poll_loop(base_url: str, gate: Gate, interval: float, offset: float, out: Timed) -> None:
    """One polling client: GET the job until the window closes, every ``interval`` s after
    a first pause of ``offset`` s (so paced clients are not all in step)."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        if not gate.enter(client):
            return
        time.sleep(offset)
        while time.perf_counter() < gate.stop_at:
            t0 = time.perf_counter()
            try:
                r = client.get(gate.job_url)
                if r.is_success:
                    out.ok(t0)
                else:
                    out.errors.append(f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")
            if interval:
                time.sleep(interval)


def post_once(
    base_url: str,
    path: str,
    files: FileList,
    gate: Gate,
    delay: float,
    out: Timed,
    answered,
    codes: list | None = None,
    timeout: float = 120.0,
) -> None:
    """One client posting ``files`` to ``path`` ``delay`` s after the window opens; a
    response ``answered(r)`` accepts is timed, anything else is an error."""
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        if not gate.enter(client):
            return
        time.sleep(delay)
        t0 = time.perf_counter()
        try:
            r = client.post(path, files=files)
            if codes is not None:
                codes.append(r.status_code)
            if answered(r):
                out.ok(t0)
            else:
                out.errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
        except httpx.HTTPError as exc:
            out.errors.append(f"{type(exc).__name__}: {exc}")


def upload_once(base_url: str, files: FileList, gate: Gate, delay: float, out: Timed) -> None:
    """One uploading client: post one image set ``delay`` s after the window opens."""
    post_once(base_url, "/v1/datasets", files, gate, delay, out, lambda r: r.status_code == 201)


def sync_once(base_url: str, files: FileList, gate: Gate, delay: float, out: Timed, codes: list) -> None:
    """One synchronous comparison ``delay`` s after the window opens; 200 and 429 (shed,
    with Retry-After) are answers, anything else an error."""
    post_once(
        base_url,
        "/v1/frd",
        files,
        gate,
        delay,
        out,
        codes=codes,
        timeout=300.0,
        answered=lambda r: r.status_code == 200 or (r.status_code == 429 and bool(r.headers.get("retry-after"))),
    )


def phase(job: dict) -> str:
    """A running job is extracting until its progress is complete (0/0: preparing its
    inputs and pool), then finishing: distance, analysis, the report."""
    done, total = job["progress"]["done"], job["progress"]["total"]
    return "extracting" if total == 0 or done < total else "finishing"


def sample_jobs(client: httpx.Client, job_url: str, t0: float) -> dict:
    """The watched comparison's state and progress, and which jobs run at all: the
    uploads of the window queue extraction jobs that take over once the comparison ends."""
    try:
        job = client.get(job_url).json()
        running = [j for j in client.get("/v1/jobs", params={"limit": 500}).json()["jobs"] if j["state"] == "running"]
    except httpx.HTTPError as exc:  # a lost sample must not end the measurement
        return {
            "t_s": round(time.perf_counter() - t0, 2),
            "state": "unknown",
            "done": 0,
            "total": 0,
            "extracting": False,
            "running_jobs": [f"(sample failed: {type(exc).__name__})"],
        }
    return {
        "t_s": round(time.perf_counter() - t0, 2),
        "state": job["state"],
        "done": job["progress"]["done"],
        "total": job["progress"]["total"],
        "extracting": any(phase(j) == "extracting" for j in running),
        "running_jobs": [f"{j['kind']} {j['progress']['done']}/{j['progress']['total']} ({phase(j)})" for j in running],
    }


@dataclass
class Window:
    job_url: str
    polls: Timed
    uploads: Timed
    sync: Timed
    sync_codes: list[int]
    samples: list[dict]  # the jobs, once a second
    seconds: float
    cpu: dict | None


def run_window(
    service: Service,
    start_job: Callable[[httpx.Client], str],
    *,
    clients: int,
    seconds: float,
    interval: float,
    upload_sets: list[FileList],
    upload_delay: float = 0.0,
    sync_files: FileList | None = None,
    sync_count: int = 0,
) -> Window:
    """Pollers (and uploaders) run together for ``seconds`` against the job ``start_job``
    returns once they are all connected; the main thread samples the jobs once a second
    and meters who used the CPU meanwhile."""
    base_url = service.url
    polls = [Timed() for _ in range(clients)]
    uploads = [Timed() for _ in upload_sets]
    syncs, sync_codes = [Timed() for _ in range(sync_count)], []
    gate = Gate(threading.Barrier(clients + len(upload_sets) + sync_count + 1))
    # Paced pollers start spread over one interval: started in step, 50 of them would
    # arrive as one burst per interval and measure their own queue, not the service.
    offsets = np.random.default_rng(0).uniform(0.0, interval, clients)
    threads = [
        threading.Thread(target=poll_loop, args=(base_url, gate, interval, offset, p), daemon=True)
        for p, offset in zip(polls, offsets)
    ]
    threads += [
        threading.Thread(target=upload_once, args=(base_url, files, gate, upload_delay, u), daemon=True)
        for files, u in zip(upload_sets, uploads)
    ]
    threads += [
        threading.Thread(
            target=sync_once, args=(base_url, sync_files, gate, upload_delay, out, sync_codes), daemon=True
        )
        for out in syncs
    ]
    for t in threads:
        t.start()
    samples = []
    with httpx.Client(base_url=base_url, timeout=30.0) as watcher:
        try:
            gate.ready.wait(timeout=120)
            gate.job_url = start_job(watcher)
        except threading.BrokenBarrierError:
            gate.call_off()
            raise SetupError("the client threads did not get ready within 120 s") from None
        except BaseException:
            gate.call_off()
            raise
        meter = CpuMeter(service.proc.pid)
        t0 = time.perf_counter()
        gate.stop_at = t0 + seconds
        gate.go.set()
        samples.append(sample_jobs(watcher, gate.job_url, t0))
        while time.perf_counter() < gate.stop_at:
            time.sleep(min(1.0, max(0.0, gate.stop_at - time.perf_counter())))
            samples.append(sample_jobs(watcher, gate.job_url, t0))
        window = time.perf_counter() - t0
        cpu = meter.stop()
    # Pollers stop by themselves at stop_at (plus one in-flight request); uploads are
    # bounded by their client timeout.
    for t in threads:
        t.join(timeout=150)
    return Window(gate.job_url, merge(polls), merge(uploads), merge(syncs), sync_codes, samples, window, cpu)


def merge(parts: list[Timed]) -> Timed:
    return Timed(
        [x for p in parts for x in p.started],
        [x for p in parts for x in p.latencies_ms],
        [e for p in parts for e in p.errors],
    )


def split_by_uploads(polls: Timed, uploads: Timed) -> tuple[list[float], list[float]]:
    """Poll latencies of requests that overlapped an upload in flight, and the rest:
    tells the uploads' share of a slowdown apart from the extraction's."""
    busy = [(t, t + ms / 1000) for t, ms in zip(uploads.started, uploads.latencies_ms)]
    during, outside = [], []
    for t, ms in zip(polls.started, polls.latencies_ms):
        end = t + ms / 1000
        (during if any(t < b and end > a for a, b in busy) else outside).append(ms)
    return during, outside


# --------------------------------------------------------------------------- report


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(max(values))}


def extraction_summary(samples: list[dict]) -> dict:
    """Whether some job (the comparison, or an upload's extraction) was extracting at the
    start, at the end and in how many of the once-a-second samples in between."""
    first, last = samples[0], samples[-1]
    return {
        "comparison_at_start": {k: first[k] for k in ("state", "done", "total")},
        "comparison_at_end": {k: last[k] for k in ("state", "done", "total")},
        "extracting_at_start": first["extracting"],
        "extracting_at_end": last["extracting"],
        "fraction_of_samples_extracting": sum(s["extracting"] for s in samples) / len(samples),
        "fraction_of_samples_any_job": sum(bool(s["running_jobs"]) for s in samples) / len(samples),
    }


def summarise(window: Window) -> dict:
    polls = window.polls
    summary = {
        "requests": len(polls.latencies_ms) + len(polls.errors),
        "ok": len(polls.latencies_ms),
        "errors": len(polls.errors),
        "error_kinds": sorted(set(polls.errors))[:10],
        "window_s": window.seconds,
        "rate_per_s": len(polls.latencies_ms) / window.seconds,
        "latency_ms": percentiles(polls.latencies_ms),
        "cpu": window.cpu,
    }
    if window.uploads.started:
        during, outside = split_by_uploads(polls, window.uploads)
        summary["while_uploading"] = {"polls": len(during), "latency_ms": percentiles(during)}
        summary["without_uploads"] = {"polls": len(outside), "latency_ms": percentiles(outside)}
    return summary


def verdict(load: dict, uploads: Timed, sync: Timed, jobs: dict) -> dict:
    p99 = load["latency_ms"]["p99"]
    passed = (
        not load["errors"]
        and not uploads.errors
        and not sync.errors
        and p99 is not None
        and p99 < P99_TARGET_MS
        and jobs["exactly_once"]
    )
    return {
        "passed": passed,
        "jobs_exactly_once": jobs["exactly_once"],
        "poll_errors": load["errors"],
        "upload_errors": len(uploads.errors),
        "sync_errors": len(sync.errors),
        "p99_ms": p99,
        "p99_target_ms": P99_TARGET_MS,
    }


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def latency_line(label: str, lat: dict) -> str:
    return (
        f"  {label:<30} p50 {fmt_ms(lat['p50']):>6}  p90 {fmt_ms(lat['p90']):>6}  "
        f"p99 {fmt_ms(lat['p99']):>6}  max {fmt_ms(lat['max']):>6}"
    )


def print_polls(title: str, s: dict) -> None:
    print(f"{title}: {s['requests']} polls in {s['window_s']:.1f} s ({s['rate_per_s']:.0f}/s), {s['errors']} errors")
    print(latency_line("latency ms, all", s["latency_ms"]))
    for key, label in (("while_uploading", "overlapping an upload"), ("without_uploads", "no upload in flight")):
        if key in s:
            print(latency_line(f"{label} ({s[key]['polls']})", s[key]["latency_ms"]))
    for kind in s["error_kinds"]:
        print(f"  error: {kind}")
    if s["cpu"]:
        c = s["cpu"]
        print(
            f"  CPU, % of one core: service process {c['service_process_pct']:.0f}, extraction workers "
            f"{c['extraction_workers_pct']:.0f}, this load generator {c['load_generator_pct']:.0f}; "
            f"machine busy {c['machine_busy_pct']:.0f}% of all cores"
        )


def print_extraction(extraction: dict, samples: list[dict]) -> None:
    a, b = extraction["comparison_at_start"], extraction["comparison_at_end"]
    print(
        f"extraction: comparison {a['state']} {a['done']}/{a['total']} at start, "
        f"{b['state']} {b['done']}/{b['total']} at end; extracting in "
        f"{extraction['fraction_of_samples_extracting']:.0%} of the once-a-second samples "
        f"(start: {'yes' if extraction['extracting_at_start'] else 'no'}, "
        f"end: {'yes' if extraction['extracting_at_end'] else 'no'}), "
        f"some job running in {extraction['fraction_of_samples_any_job']:.0%}"
    )
    for s in samples:
        print(f"  {s['t_s']:5.1f} s  running: {', '.join(s['running_jobs']) or '-'}")
    if not extraction["extracting_at_start"] or not extraction["extracting_at_end"]:
        print(
            "note: extraction did not cover the whole window (see above what ran instead); "
            "more --images or fewer --seconds make it cover more"
        )


def print_report(figures: dict, uploads: Timed, samples: list[dict]) -> None:
    print()
    if figures["idle_baseline"]:
        print_polls("idle baseline", figures["idle_baseline"])
    print_polls("under load   ", figures["under_load"])
    print(
        f"uploads: {len(uploads.latencies_ms)}/{figures['setup']['uploads']} ok, {len(uploads.errors)} "
        "errors; latency s: " + (", ".join(f"{x / 1000:.2f}" for x in sorted(uploads.latencies_ms)) or "n/a")
    )
    for err in uploads.errors:
        print(f"  error: {err}")
    sync = figures["sync"]
    print(
        f"synchronous comparisons: {sync['sent']} sent at once: {sync['codes']}; {sync['errors']} errors; "
        "latency s: " + (", ".join(f"{x / 1000:.2f}" for x in sync["latency_ms"]) or "n/a")
    )
    for err in sync["error_kinds"]:
        print(f"  error: {err}")
    jobs = figures["jobs"]
    print(
        f"jobs: {jobs['total']} in all, states {jobs['states']}, attempts {jobs['attempts']} -> "
        f"{'each ended exactly once' if jobs['exactly_once'] else 'NOT each exactly once'}"
    )
    print_extraction(figures["extraction"], samples)
    v = figures["target"]
    print(
        f"\ntarget: no errors, every job ended once, p99 poll latency < {P99_TARGET_MS:.0f} ms -> "
        f"{'PASS' if v['passed'] else 'FAIL'}  (poll errors {v['poll_errors']}, "
        f"upload errors {v['upload_errors']}, sync errors {v['sync_errors']}, jobs exactly once "
        f"{'yes' if v['jobs_exactly_once'] else 'NO'}, p99 {fmt_ms(v['p99_ms'])} ms)"
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50, help="concurrent polling clients (default 50)")
    p.add_argument("--seconds", type=float, default=15.0, help="length of the loaded window (default 15)")
    p.add_argument("--uploads", type=int, default=4, help="concurrent uploads during the window (default 4)")
    p.add_argument(
        "--upload-delay",
        type=float,
        default=2.0,
        help="seconds into the window at which the uploads start (default 2: the comparison's "
        "extraction is under way, not still starting its worker pool)",
    )
    p.add_argument(
        "--sync",
        type=int,
        default=20,
        help="synchronous comparisons (POST /v1/frd) sent at once during the window (default 20)",
    )
    p.add_argument("--sync-images", type=int, default=4, help="images per set of a synchronous comparison (default 4)")
    p.add_argument("--images", type=int, default=20, help="images per set (default 20)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="pause of each poller between its polls, s (default 0: back to back)",
    )
    p.add_argument(
        "--baseline-seconds",
        type=float,
        default=5.0,
        help="idle baseline after the loaded window, s (default 5; 0 skips it)",
    )
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help='ask for the comparison without its HTML report ("report": false); by default '
        "the service renders one after the extraction, in its own process",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="FRD_WORKERS of the service (default: its own default, all cores)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated images")
    p.add_argument("--json-out", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if min(args.clients, args.images) < 1 or args.uploads < 0 or min(args.interval, args.upload_delay) < 0:
        p.error("--clients and --images must be >= 1, --uploads, --interval and --upload-delay >= 0")
    if args.upload_delay >= args.seconds:
        p.error("--upload-delay must be shorter than --seconds")
    if not 0 < args.seconds <= 600 or args.clients > 500 or args.uploads > 50 or not 0 <= args.sync <= 100:
        p.error("keep it bounded: --seconds <= 600, --clients <= 500, --uploads <= 50, 0 <= --sync <= 100")
    return args


def announce_machine() -> float | None:
    busy = cpu_busy_fraction()
    if busy is not None:
        print(
            f"CPU busy before start: {busy:.0%}"
            + ("  WARNING: other work is running on this machine; latencies will be inflated" if busy > 0.2 else ""),
            flush=True,
        )
    return busy


def run_benchmark(service: Service, args: argparse.Namespace, sets: list[FileList]) -> tuple[Window, Window | None]:
    """The loaded window, then (optionally) the idle baseline, against a started service."""
    with httpx.Client(base_url=service.url, timeout=60.0) as client:
        ref_id, cand_id = upload_pair(client, sets[0], sets[1], timeout=300)
    print(
        f"measuring for {args.seconds:g} s with {args.clients} pollers, {args.uploads} uploads and "
        f"{args.sync} synchronous comparisons, from the moment the comparison runs ...",
        flush=True,
    )
    loaded = run_window(
        service,
        lambda c: start_comparison(c, ref_id, cand_id, args.report, timeout=300),
        clients=args.clients,
        seconds=args.seconds,
        interval=args.interval,
        upload_sets=sets[2:],
        upload_delay=args.upload_delay,
        sync_files=sync_files(sets, args.sync_images),
        sync_count=args.sync,
    )
    if args.baseline_seconds <= 0:
        return loaded, None
    # Wait for every job (the comparison and the uploads' extractions) to end, so nothing
    # but the pollers uses the machine. The same, now finished, job is polled: the request
    # does the same work either way.
    with httpx.Client(base_url=service.url, timeout=60.0) as client:
        wait_all_jobs(client, timeout=600)
    print(f"idle baseline: {args.baseline_seconds:g} s, same pollers, no jobs running ...", flush=True)
    idle = run_window(
        service,
        lambda _: loaded.job_url,
        clients=args.clients,
        seconds=args.baseline_seconds,
        interval=args.interval,
        upload_sets=[],
    )
    return loaded, idle


def sync_files(sets: list[FileList], n: int) -> FileList:
    """A small synchronous request: ``n`` images of the first two sets as reference and candidate."""
    return [("reference", spec) for _, spec in sets[0][:n]] + [("candidate", spec) for _, spec in sets[1][:n]]


def job_ledger(db_path: Path) -> dict:
    """Every job of the run, from the service's own database once it has stopped: each
    must be in a final state and have been run by exactly one attempt."""
    import sqlite3

    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT state, attempts FROM jobs").fetchall()
    states, attempts = {}, {}
    for state, n in rows:
        states[state] = states.get(state, 0) + 1
        attempts[n] = attempts.get(n, 0) + 1
    return {
        "total": len(rows),
        "states": states,
        "attempts": attempts,
        "exactly_once": bool(rows) and set(states) <= set(TERMINAL_STATES) and set(attempts) == {1},
    }


def measure(args: argparse.Namespace, work: Path) -> dict:
    sets = [
        make_image_set(work / "images" / f"set{i}", args.images, args.size, smooth=1.0 + 0.5 * i, seed=args.seed + i)
        for i in range(2 + args.uploads)
    ]
    busy = announce_machine()
    service = Service(work / "data", work / "server.log", args.workers)
    print(
        f"starting {sys.executable} -m frd serve on {service.url} "
        f"({os.cpu_count()} CPUs, FRD_WORKERS={args.workers or 'default'}) ...",
        flush=True,
    )
    try:
        service.start()
        loaded, idle = run_benchmark(service, args, sets)
    finally:
        service.stop()
    jobs = job_ledger(work / "data" / "frd.sqlite3")
    load = summarise(loaded)
    figures = {
        "setup": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "compare_options": COMPARE_OPTIONS,
            "cpu_busy_before_start": busy,
        },
        "idle_baseline": summarise(idle) if idle else None,
        "under_load": load,
        "uploads": {
            "ok": len(loaded.uploads.latencies_ms),
            "errors": len(loaded.uploads.errors),
            "error_kinds": loaded.uploads.errors[:10],
            "latency_ms": sorted(loaded.uploads.latencies_ms),
        },
        "sync": {
            "sent": args.sync,
            "codes": {str(c): loaded.sync_codes.count(c) for c in sorted(set(loaded.sync_codes))},
            "errors": len(loaded.sync.errors),
            "error_kinds": loaded.sync.errors[:10],
            "latency_ms": sorted(loaded.sync.latencies_ms),
        },
        "jobs": jobs,
        "extraction": extraction_summary(loaded.samples),
        "job_samples": loaded.samples,
        "target": verdict(load, loaded.uploads, loaded.sync, jobs),
    }
    print_report(figures, loaded.uploads, loaded.samples)
    return figures


def wait_all_jobs(client: httpx.Client, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.get("/v1/jobs", params={"limit": 500}).json()["jobs"]
        if all(j["state"] in TERMINAL_STATES for j in jobs):
            return
        time.sleep(0.5)
    raise SetupError(f"jobs still running after {timeout:.0f} s")


def interrupt(signum, frame) -> None:
    """SIGTERM takes the same way out as Ctrl-C, so the server and temp dir are cleaned up."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    work = Path(tempfile.mkdtemp(prefix="frd-bench-service-"))
    try:
        figures = measure(args, work)
        if args.json_out:
            args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
        return 0
    except SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
