"""Wall-clock and memory benchmark: ``frd compare`` against the reference ``frd-score``.

What it measures
----------------
One run compares the same two image folders, each command timed as a whole process
(interpreter start-up, imports, image reading, feature extraction, distance):

  ref default     python -m frd_score REF CAND             (its default: cores - 2 workers)
  ref -w 2        python -m frd_score REF CAND -w 2
  ours cold       python -m frd compare REF CAND --json     (empty feature cache)
  ours warm ref   the same, the cache already holding the reference set's features
                  (filled beforehand, untimed, by ``frd stats REF``); the candidate is new
  ours cached     the same compare again, both sets cached

For each configuration it reports the median wall time over ``--repeats`` runs, the peak
resident memory, the FRD value and the speed-up relative to both reference runs. It
checks that every FRD value agrees to within 1e-3 (exit status 1 if not) and prints
PASS/FAIL against the speed targets:

  cold      >= 1.7x ref default   and   >= 1.0x ref -w 2
  warm ref  >= 3x ref default
  cached    >= 50x ref default

Peak RSS is that of the largest single process of the command's tree (parent or one
worker), not the sum over a worker pool: it comes from ``/usr/bin/time -v`` per command
when available, else from ``getrusage(RUSAGE_CHILDREN)``, whose ``ru_maxrss`` is a running
maximum over every child so far and therefore only an upper bound (marked ``<=``). Both
count only processes that were waited for; workers a pool kills instead (our forkserver
pool's) are missed, so with psutil installed every process of the tree also has its peak
read every 0.1 s while the command runs (by a thread at idle priority, so that it takes no
core from the command), and the larger figure is reported.

Input
-----
By default two sets of smooth random textures (seeded; the candidate set is smoother and
lower in contrast) are written as PNGs into a temporary folder. ``--data DIR`` uses
``DIR/reference`` and ``DIR/candidate`` instead, generating them there first if missing,
so the same images can be reused across runs.

Run (from the repository root, in an environment with ``frd`` and ``frd-score``):

  python benchmarks/bench_compare.py [--n 40 --size 256] [--repeats 3] [--json-out FILE]

Only the standard library, numpy, SimpleITK and (if present) psutil are imported here;
the tools under test run as subprocesses of the same interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

AGREEMENT_TOLERANCE = 1e-3
GNU_TIME = Path("/usr/bin/time")
REFERENCE_LINE = re.compile(r"FRD \(v1\):\s*(\S+)")

# (configuration, baseline it is compared with, minimum speed-up)
TARGETS = [
    ("ours cold", "ref default", 1.7),
    ("ours cold", "ref -w 2", 1.0),
    ("ours warm ref", "ref default", 3.0),
    ("ours cached", "ref default", 50.0),
]


# --------------------------------------------------------------------------- data


def textured_image(rng: np.random.Generator, size: int, smooth: float, contrast: float, dtype: type) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled into the integer type's range."""
    noise = sitk.GetImageFromArray(rng.normal(0.0, 1.0, (size, size)))
    field_ = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, smooth))
    field_ = (field_ - field_.mean()) / field_.std()
    top = np.iinfo(dtype).max
    return np.clip(top / 2 + contrast * top / 8 * field_, 0, top).astype(dtype)


def write_image_set(folder: Path, n: int, size: int, smooth: float, contrast: float, dtype: type, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = textured_image(rng, size, smooth, contrast, dtype)
        sitk.WriteImage(sitk.GetImageFromArray(image), str(folder / f"img{i:04d}.png"))


def prepare_data(root: Path, n: int, size: int, bits: int, seed: int) -> tuple[Path, Path]:
    """The two folders under ``root``; generated only when missing so --data can be reused."""
    ref, cand = root / "reference", root / "candidate"
    dtype = np.uint8 if bits == 8 else np.uint16
    # Different seeds and smoothing so the sets differ in texture, not only in noise.
    if not ref.is_dir():
        write_image_set(ref, n, size, smooth=1.0, contrast=1.0, dtype=dtype, seed=seed)
    if not cand.is_dir():
        write_image_set(cand, n, size, smooth=2.5, contrast=0.75, dtype=dtype, seed=seed + 1)
    return ref, cand


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    wall_s: float
    rss_mb: float | None
    rss_exact: bool  # False when the figure is the ru_maxrss upper bound
    stdout: str
    # CPU seconds (user + system) of the whole process tree: every process waited for, which
    # on success includes pool workers. Unlike wall time it hardly depends on how many other
    # processes share the machine.
    cpu_s: float | None = None


def run_timed(cmd: list[str], cwd: Path) -> Run:
    """Run ``cmd`` to completion; wall time, peak RSS and stdout. Raises on failure."""
    time_file = cwd / ".time-v.txt"
    use_gnu_time = GNU_TIME.exists()
    full = [str(GNU_TIME), "-v", "-o", str(time_file), *cmd] if use_gnu_time else cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(full, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = _TreeSampler(proc.pid)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sampled_mb = sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-3000:]}")
    if use_gnu_time:
        rss_mb, exact = _gnu_time_rss_mb(time_file), True
    else:
        # ru_maxrss (KiB on Linux) is the max over all children so far, not this one alone.
        rss_mb, exact = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, False
    if sampled_mb is not None and (rss_mb is None or sampled_mb > rss_mb):
        rss_mb, exact = sampled_mb, True
    # The reference prints its result line via print(); keep stderr too in case it logs it.
    return Run(wall, rss_mb, exact, stdout + "\n" + stderr, cpu)


class _TreeSampler:
    """Largest peak RSS of any single process in a process tree (psutil), read every 0.1 s.

    Each process's peak is its own high-water mark (Linux's ``VmHWM``), so a late read
    still sees it; elsewhere its current RSS. The thread runs at idle priority where the
    system has one (Linux's ``SCHED_IDLE``): walking the process table costs about 2 % of a
    core, which at normal priority it took from the command while the command kept every
    core busy (a ``-w 2`` run on two cores) but not while a core was free (``-w 1``), and so
    made the first look slower against the second than it is.
    """

    def __init__(self, pid: int):
        self.peak = 0
        self._done = threading.Event()
        try:
            import psutil
        except ImportError:
            self._thread = None
            return
        self._root = psutil.Process(pid)
        self._thread = threading.Thread(target=self._run, args=(psutil,), daemon=True)
        self._thread.start()

    def _run(self, psutil) -> None:
        try:  # this thread alone (Linux: the calling thread's policy)
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError):
            pass
        while not self._done.is_set():
            try:
                processes = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                return
            for process in processes:
                try:
                    self.peak = max(self.peak, _peak_rss(process))
                except psutil.Error:
                    pass
            self._done.wait(0.1)

    def stop(self) -> float | None:
        self._done.set()
        if self._thread is None:
            return None
        self._thread.join()
        return self.peak / 2**20


def _peak_rss(process) -> int:
    """A process's peak RSS in bytes so far (its current RSS where the peak is not kept)."""
    try:
        with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return process.memory_info().rss


def _gnu_time_rss_mb(time_file: Path) -> float | None:
    match = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", time_file.read_text())
    return int(match.group(1)) / 1024 if match else None


def parse_reference_frd(output: str) -> float:
    match = REFERENCE_LINE.search(output)
    if not match:
        raise RuntimeError(f"no 'FRD (v1): <value>' line in frd_score output:\n{output[-2000:]}")
    return float(match.group(1))


def parse_our_frd(output: str) -> float:
    # --json prints one JSON object on stdout; stderr (appended after it) may hold notices.
    start = output.index("{")
    payload, _ = json.JSONDecoder().raw_decode(output[start:])
    return float(payload["frd"])


@dataclass
class Result:
    name: str
    command: list[str]
    walls_s: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    rss_exact: bool = True
    frd_values: list[float] = field(default_factory=list)
    cpus_s: list[float] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return statistics.median(self.walls_s)

    @property
    def cpu_s(self) -> float | None:
        return statistics.median(self.cpus_s) if self.cpus_s else None

    @property
    def frd(self) -> float:
        return statistics.median(self.frd_values)

    def add(self, run: Run, frd: float) -> None:
        self.walls_s.append(run.wall_s)
        if run.cpu_s is not None:
            self.cpus_s.append(run.cpu_s)
        self.frd_values.append(frd)
        self.rss_exact = self.rss_exact and run.rss_exact
        if run.rss_mb is not None:  # peak over the repeats
            self.rss_mb = max(self.rss_mb or 0.0, run.rss_mb)


def bench_reference(name: str, extra: list[str], ref: Path, cand: Path, repeats: int, work: Path) -> Result:
    cmd = [sys.executable, "-m", "frd_score", str(ref), str(cand), *extra]
    result = Result(name, cmd)
    for _ in range(repeats):
        run = run_timed(cmd, work)
        result.add(run, parse_reference_frd(run.stdout))
    return result


def bench_ours(ref: Path, cand: Path, repeats: int, work: Path) -> list[Result]:
    """Cold, warm-reference and fully cached runs, each repeat with the intended cache state."""

    def compare_cmd(cache: Path) -> list[str]:
        return [sys.executable, "-m", "frd", "compare", str(ref), str(cand), "--cache-dir", str(cache), "--json"]

    def fresh_cache(tag: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"cache-{tag}-", dir=work))

    shown = work / "cache-<tmp>"  # cache paths differ per repeat; show a placeholder
    cold, warm, cached = (Result(name, compare_cmd(shown)) for name in ("ours cold", "ours warm ref", "ours cached"))

    for _ in range(repeats):
        cache = fresh_cache("cold")
        run = run_timed(compare_cmd(cache), work)
        cold.add(run, parse_our_frd(run.stdout))

    last_warm_cache = None
    for _ in range(repeats):
        cache = fresh_cache("warm")
        # Untimed: put only the reference set's features into the cache.
        run_timed(
            [
                sys.executable,
                "-m",
                "frd",
                "stats",
                str(ref),
                "-o",
                str(cache / "ref.frdstats"),
                "--cache-dir",
                str(cache),
                "-q",
            ],
            work,
        )
        run = run_timed(compare_cmd(cache), work)
        warm.add(run, parse_our_frd(run.stdout))
        last_warm_cache = cache

    # The warm run has just cached the candidate too, so this cache now holds both sets.
    for _ in range(repeats):
        run = run_timed(compare_cmd(last_warm_cache), work)
        cached.add(run, parse_our_frd(run.stdout))

    return [cold, warm, cached]


# --------------------------------------------------------------------------- report


def speedup(baseline: Result, result: Result) -> float:
    return baseline.wall_s / result.wall_s


def print_table(results: list[Result]) -> None:
    by_name = {r.name: r for r in results}
    base_default, base_w2 = by_name["ref default"], by_name["ref -w 2"]
    header = (
        f"{'configuration':<15} {'wall s':>9} {'peak RSS MB':>12} {'FRD':>12} {'x ref default':>14} {'x ref -w 2':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        rss = "n/a" if r.rss_mb is None else f"{'' if r.rss_exact else '<='}{r.rss_mb:.0f}"
        print(
            f"{r.name:<15} {r.wall_s:>9.2f} {rss:>12} {r.frd:>12.6f} "
            f"{speedup(base_default, r):>13.2f}x {speedup(base_w2, r):>10.2f}x"
        )


def check_agreement(results: list[Result]) -> tuple[bool, float]:
    values = [v for r in results for v in r.frd_values]
    spread = max(values) - min(values)
    return spread <= AGREEMENT_TOLERANCE, spread


def check_targets(results: list[Result]) -> list[dict]:
    by_name = {r.name: r for r in results}
    checks = []
    for name, baseline, minimum in TARGETS:
        ratio = speedup(by_name[baseline], by_name[name])
        checks.append(
            dict(configuration=name, baseline=baseline, target=minimum, speedup=ratio, passed=ratio >= minimum)
        )
    return checks


def print_targets(checks: list[dict]) -> None:
    print("\ntargets:")
    for c in checks:
        verdict = "PASS" if c["passed"] else "FAIL"
        print(
            f"  {c['configuration']:<14} >= {c['target']:>4g}x {c['baseline']:<12} "
            f"measured {c['speedup']:7.2f}x  {verdict}"
        )


def write_json(path: Path, args, results: list[Result], agree: bool, spread: float, checks: list[dict]) -> None:
    base_default, base_w2 = results[0], results[1]
    payload = dict(
        setup=dict(
            n=args.n,
            size=args.size,
            bits=args.bits,
            repeats=args.repeats,
            ref_repeats=args.ref_repeats,
            cpu_count=os.cpu_count(),
            python=sys.version.split()[0],
            rss_source="/usr/bin/time -v"
            if GNU_TIME.exists()
            else "getrusage(RUSAGE_CHILDREN).ru_maxrss (upper bound)",
        ),
        configurations=[
            dict(
                asdict(r),
                wall_s=r.wall_s,
                frd=r.frd,
                speedup_vs_ref_default=speedup(base_default, r),
                speedup_vs_ref_w2=speedup(base_w2, r),
            )
            for r in results
        ],
        values_agree=agree,
        frd_spread=spread,
        tolerance=AGREEMENT_TOLERANCE,
        targets=checks,
    )
    path.write_text(json.dumps(payload, indent=2) + "\n")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=40, help="images per set (default 40)")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="PNG bit depth (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated images")
    p.add_argument(
        "--data", type=Path, metavar="DIR", help="use DIR/reference and DIR/candidate (generated there if missing)"
    )
    p.add_argument("--repeats", type=int, default=1, help="runs per configuration of ours (median)")
    p.add_argument(
        "--ref-repeats", type=int, help="runs per reference configuration (default: --repeats; they are slow)"
    )
    p.add_argument("--json-out", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.ref_repeats is None:
        args.ref_repeats = args.repeats
    if min(args.repeats, args.ref_repeats, args.n) < 1:
        p.error("--n, --repeats and --ref-repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Everything transient (caches, stats files, the tools' working dir) lives here, so
    # nothing lands in the repository and every cold run really starts empty.
    work = Path(tempfile.mkdtemp(prefix="frd-bench-"))
    try:
        ref, cand = prepare_data(args.data or work / "data", args.n, args.size, args.bits, args.seed)
        print(
            f"data: {ref} vs {cand} ({args.n} images each, {args.size}x{args.size}, "
            f"{args.bits}-bit); {os.cpu_count()} CPUs",
            flush=True,
        )

        results = []
        for name, extra in (("ref default", []), ("ref -w 2", ["-w", "2"])):
            print(f"running {name} ...", flush=True)
            results.append(bench_reference(name, extra, ref, cand, args.ref_repeats, work))
        print("running ours (cold, warm ref, cached) ...\n", flush=True)
        results += bench_ours(ref, cand, args.repeats, work)

        print_table(results)
        agree, spread = check_agreement(results)
        print(
            f"\nvalues agree: {'yes' if agree else 'no'} (max |delta| {spread:.2e}, tolerance {AGREEMENT_TOLERANCE:g})"
        )
        checks = check_targets(results)
        print_targets(checks)
        if args.json_out:
            write_json(args.json_out, args, results, agree, spread, checks)
        return 0 if agree else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
