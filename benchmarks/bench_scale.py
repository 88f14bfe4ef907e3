"""Scaling benchmark: extraction throughput over executors, and aggregation memory.

What it measures
----------------
1. Extraction throughput (images/second) of ``frd.extract_features(folder,
   use_cache=False, progress=False, ...)`` on one generated set of 2D images (seeded
   smooth random textures written as 8-bit PNGs; ``--images 60 --size 128``), in three
   configurations:

     (a) 1 local worker            ``workers=1`` (extraction inline, in this process)
     (b) 2 local workers           ``workers=2`` (forkserver process pool)
     (c) Dask, 2 workers           ``scheduler=`` the address of a
                                   ``distributed.LocalCluster(n_workers=2,
                                   threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None)``

   Each configuration first gets an untimed warm-up run on two images, so that one-off
   costs (importing pyradiomics into this process, starting the fork server, importing
   pyradiomics in the Dask workers) are not charged to one configuration only; what is
   timed (``time.perf_counter``) is one whole ``extract_features`` call, including the
   per-call costs a user pays every time (creating the process pool, connecting a Dask
   client). The cluster's start-up is not timed but reported. The feature matrices of
   every run must be identical (``np.array_equal``; NaN equals NaN): "identical: yes/no".
   (a) is not strictly one core: frd leaves SimpleITK's own thread count at its default
   in this process and in Dask workers, and sets it to 1 only in pool workers.

2. Peak memory of the aggregating process. A pool of small images (``--agg-size 32``)
   is generated and its features are extracted once, with ``--agg-workers 2``, into a
   feature cache (``--cache-dir DIR`` keeps both, so later runs skip this step). Then,
   for each total size in ``--agg-sizes 250,500,1000,2000`` -- split evenly: N/2
   reference + N/2 candidate images -- a fresh child interpreter
   (``bench_scale.py --_aggregate ...``) runs
   ``frd.compare(ref, cand, cache_dir=DIR, chunk_rows=256, progress=False)``: every
   vector is a cache hit (the child checks that it extracted nothing), so the child only
   aggregates. It reports ``getrusage(RUSAGE_SELF).ru_maxrss`` at its end; a process
   per measurement keeps the peak clean of earlier runs. The same is done with
   ``chunk_rows=None`` (every row in memory) for contrast, and both FRD values must agree
   to 1e-6.

   The target: the streaming peak does not grow with the number of images beyond one
   chunk's feature rows. PASS when the streaming growth from the smallest to the largest
   size is at most ``5 MB + chunk_rows x n_features x 8 bytes``: one chunk of float64 rows
   as read from the cache (the smallest size's chunks may be shorter than ``chunk_rows``,
   so up to one chunk of growth is legitimate), plus 5 MB for what must grow or settle
   with the set but is not feature rows: the extra transient copies a fuller chunk takes
   while it is prepared and normalised, SQLite's page cache (2 MiB by default, filled
   further by longer reads), allocator noise, and the per-image bookkeeping (paths,
   cache keys, result tuples: ~0.75 KB of Python objects per image, 1-2 KB of RSS). That
   bookkeeping is O(N) too, so the bound is a statement about these sizes, not about
   arbitrarily large sets; the "per extra image" line shows its slope next to the
   in-memory path's, which holds several copies of every n_features x 8-byte row.

Timings come from a machine whose CPU may be shared with other work: they are noisy.
The 1-minute load average after each run is printed next to it (on 2 cores, above ~2
means foreign work competed); ``--repeats N`` interleaves the configurations and reports
medians. Everything listens on 127.0.0.1 only.

Run (from the repository root, in an environment with ``frd`` and ``dask[distributed]``)::

  python benchmarks/bench_scale.py
  python benchmarks/bench_scale.py --cache-dir /tmp/frd-scale   # keep/reuse the filled cache
  python benchmarks/bench_scale.py --skip-aggregation --images 200 --repeats 3
  python benchmarks/bench_scale.py --json-out scale.json

Exit status 1 when the matrices differ, the FRD values disagree or the memory target
is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# frd falls back to a Dask cluster named in $FRD_DASK_ADDRESS; the "local" configurations
# and the cache fill must really be local, so the variable is dropped for this process and
# every child it starts.
os.environ.pop("FRD_DASK_ADDRESS", None)

HOST = "127.0.0.1"
CHUNK_ROWS = 256
SLACK_MB = 5.0
FRD_TOLERANCE = 1e-6
CHILD_TIMEOUT_S = 900  # one aggregation of a few thousand cached rows takes seconds
CLUSTER_TIMEOUT_S = "60s"
MAX_IMAGES = 5_000
# Above this many images compare() streams even with chunk_rows=None, which would make the
# "in-memory" contrast stream too (frd.pipeline.STREAM_ABOVE_ROWS).
MAX_AGG_IMAGES = 20_000
MB = 1024 * 1024
# Runs argv[1:] as its own child and passes its exit status on (see run_aggregation_child).
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


# --------------------------------------------------------------------------- data


def textured_image(seed: tuple[int, ...], size: int, smooth: float) -> np.ndarray:
    """Gaussian-smoothed white noise as uint8; one seed per image so any image can be
    regenerated (or a pool grown) without drawing the ones before it."""
    import SimpleITK as sitk  # only the parent writes images; the child stays lean

    rng = np.random.default_rng(seed)
    noise = sitk.GetImageFromArray(rng.normal(0.0, 1.0, (size, size)))
    field_ = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, smooth))
    field_ = (field_ - field_.mean()) / (field_.std() or 1.0)
    return np.clip(128 + 32 * field_, 0, 255).astype(np.uint8)


def image_path(folder: Path, i: int) -> Path:
    return folder / f"img{i:05d}.png"


def write_images(folder: Path, n: int, size: int, smooth: tuple[float, ...], seed: tuple[int, ...]) -> list[str]:
    """Images 0..n-1 of a set in ``folder`` (those already present are kept), image i
    smoothed with ``smooth[i % len(smooth)]``; returns their paths."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = image_path(folder, i)
        if not path.exists():
            image = textured_image((*seed, i), size, smooth[i % len(smooth)])
            sitk.WriteImage(sitk.GetImageFromArray(image), str(path))
    return [str(image_path(folder, i)) for i in range(n)]


# --------------------------------------------------------------------------- 1. throughput


def time_extraction(files: list[str], workers: int, scheduler: str | None) -> tuple[float, np.ndarray]:
    """Wall time of one uncached extract_features call, and its feature matrix."""
    import frd

    start = time.perf_counter()
    features = frd.extract_features(files, use_cache=False, progress=False, workers=workers, scheduler=scheduler)
    seconds = time.perf_counter() - start
    if features.skipped:
        raise RuntimeError(f"{len(features.skipped)} images skipped: {features.skipped[0].reason}")
    return seconds, features.values


def start_cluster():
    """The 2-worker LocalCluster of configuration (c), loopback only, connect timeouts bounded."""
    import logging

    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.comm.timeouts.connect": CLUSTER_TIMEOUT_S}):
        return LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host=HOST,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )


def bench_throughput(args, work: Path) -> dict:
    # Varied smoothing so the textures (and so the feature work) are not all alike.
    files = write_images(
        work / "throughput", args.images, args.size, smooth=(1.0, 1.5, 2.0, 2.5, 3.0), seed=(args.seed, 0)
    )
    print(
        f"\n[1] extraction throughput: {args.images} images, {args.size}x{args.size} px, "
        f"default v1 options, no feature cache, {args.repeats} timed run(s) per configuration"
    )

    t = time.perf_counter()
    cluster = start_cluster()
    startup_s = time.perf_counter() - t
    configs = [
        ("1 local worker (inline)", 1, None),
        ("2 local workers (pool)", 2, None),
        ("Dask LocalCluster, 2 workers", None, cluster.scheduler_address),
    ]
    try:
        for _, workers, scheduler in configs:  # untimed warm-up, see the docstring
            time_extraction(files[:2], workers, scheduler)
        walls = {name: [] for name, _, _ in configs}
        loads = {name: [] for name, _, _ in configs}
        matrices = []
        # Repeats interleave the configurations so a burst of foreign load hits all alike.
        for _ in range(args.repeats):
            for name, workers, scheduler in configs:
                seconds, values = time_extraction(files, workers, scheduler)
                walls[name].append(seconds)
                # The 1-minute load average after each run shows how much foreign work
                # competed for the two cores while it ran (above ~2: timings inflated).
                loads[name].append(os.getloadavg()[0])
                matrices.append(values)
    finally:
        cluster.close()

    # Every run of every configuration must give the first run's matrix, bit for bit.
    reference = matrices[0]
    identical = all(m.shape == reference.shape and np.array_equal(m, reference, equal_nan=True) for m in matrices)
    base = statistics.median(walls[configs[0][0]])
    rows = []
    for name, _, _ in configs:
        wall = statistics.median(walls[name])
        rows.append(
            {
                "configuration": name,
                "seconds": wall,
                "runs_s": walls[name],
                "images_per_s": args.images / wall,
                "speedup": base / wall,
                "load_1m": statistics.median(loads[name]),
            }
        )
    return {
        "images": args.images,
        "size": args.size,
        "n_features": int(reference.shape[1]),
        "repeats": args.repeats,
        "cluster_startup_s": startup_s,
        "rows": rows,
        "identical": identical,
    }


def print_throughput(res: dict) -> None:
    print(f"  {'configuration':<30} {'seconds':>8} {'images/s':>9} {'speed-up':>9} {'load 1m':>8}")
    for row in res["rows"]:
        print(
            f"  {row['configuration']:<30} {row['seconds']:>8.2f} {row['images_per_s']:>9.2f} "
            f"{row['speedup']:>8.2f}x {row['load_1m']:>8.1f}"
        )
    print(f"  Dask cluster start-up (not included above): {res['cluster_startup_s']:.2f} s")
    print(f"  feature matrices {res['images']} x {res['n_features']}, identical: {'yes' if res['identical'] else 'no'}")


# --------------------------------------------------------------------------- 2. aggregation


def aggregation_pool(root: Path, args) -> tuple[Path, Path]:
    """Reference and candidate image folders holding max(sizes)/2 images each."""
    per_set = max(args.agg_sizes) // 2
    data = root / f"images-{args.agg_size}px-seed{args.seed}"
    ref, cand = data / "reference", data / "candidate"
    # Different smoothing so the two sets differ in texture and the FRD is not ~0.
    write_images(ref, per_set, args.agg_size, smooth=(1.0,), seed=(args.seed, 1))
    write_images(cand, per_set, args.agg_size, smooth=(2.0,), seed=(args.seed, 2))
    return ref, cand


def fill_cache(ref: Path, cand: Path, per_set: int, cache_dir: Path, workers: int) -> dict:
    """Extract the whole pool into the feature cache (a no-op, hashing only, when filled)."""
    import frd

    start = time.perf_counter()
    extracted = hits = width = 0
    for folder in (ref, cand):
        files = [str(image_path(folder, i)) for i in range(per_set)]
        fs = frd.extract_features(files, cache_dir=cache_dir, workers=workers, progress=False)
        if fs.skipped:
            raise RuntimeError(f"{len(fs.skipped)} images skipped: {fs.skipped[0].reason}")
        extracted += fs.extracted
        hits += fs.cache_hits
        width = fs.values.shape[1]
    return {
        "seconds": time.perf_counter() - start,
        "extracted": extracted,
        "already_cached": hits,
        "n_features": int(width),
    }


def run_aggregation_child(ref: Path, cand: Path, n_total: int, cache_dir: Path, chunk_rows: int | None) -> dict:
    """One compare() in a fresh interpreter; its JSON report (peak RSS, FRD, cache use).

    The child is started through a tiny launcher interpreter because Linux carries the
    RSS high-water mark of the address space an exec replaces into the new program's
    ``ru_maxrss``: a child forked/vforked straight from this (by now large) process would
    report at least this process's RSS. The launcher's own footprint (~10 MB) is below any
    child's, so the child's ``ru_maxrss`` is its own; the child cross-checks it with VmHWM.
    """
    cmd = [
        sys.executable,
        "-S",
        "-c",
        LAUNCHER,
        sys.executable,
        str(Path(__file__).resolve()),
        "--_aggregate",
        "--_ref",
        str(ref),
        "--_cand",
        str(cand),
        "--_n",
        str(n_total),
        "--_chunk-rows",
        str(chunk_rows or 0),
        "--cache-dir",
        str(cache_dir),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"aggregation child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["extracted"]:
        raise RuntimeError(
            f"the child extracted {report['extracted']} images: the cache was not "
            "filled, so its peak RSS would not be the aggregation's alone"
        )
    return report


def vm_hwm_kib() -> int | None:
    """This address space's own RSS high-water mark (Linux), to cross-check ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def aggregate_child_main(args) -> None:
    """Child mode: aggregate already-cached sets and print one JSON line."""
    import frd
    from frd.provenance import library_versions

    library_versions()  # cached lookups compare() makes anyway, kept out of the baseline delta
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_set = args._n // 2
    # File lists built from the known names: no directory listing of the whole pool.
    ref = [str(image_path(Path(args._ref), i)) for i in range(per_set)]
    cand = [str(image_path(Path(args._cand), i)) for i in range(per_set)]
    result = frd.compare(ref, cand, cache_dir=args.cache_dir, chunk_rows=args._chunk_rows or None, progress=False)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    hwm_kib = vm_hwm_kib()
    print(
        json.dumps(
            {
                "n_reference": result.n_reference,
                "n_candidate": result.n_candidate,
                "chunk_rows": args._chunk_rows or None,
                "frd": result.value,
                "extracted": result.cache["extracted"],
                "hits": result.cache["hits"],
                "baseline_rss_mb": baseline_kib / 1024,
                "peak_rss_mb": peak_kib / 1024,
                "vm_hwm_mb": hwm_kib / 1024 if hwm_kib is not None else None,
                "statistics_s": result.timings.get("statistics_s"),
            }
        )
    )


def bench_aggregation(args, root: Path) -> dict:
    sizes = sorted(args.agg_sizes)
    per_set = sizes[-1] // 2
    print(
        f"\n[2] aggregation peak RSS: total sizes {sizes} (split evenly: N/2 reference + "
        f"N/2 candidate), {args.agg_size}x{args.agg_size} px images, chunk_rows={CHUNK_ROWS}"
    )
    ref, cand = aggregation_pool(root, args)
    fill = fill_cache(ref, cand, per_set, args.cache_dir, args.agg_workers)
    print(
        f"  cache {args.cache_dir}: filled in {fill['seconds']:.1f} s with {args.agg_workers} "
        f"workers ({fill['extracted']} extracted, {fill['already_cached']} already cached)"
    )

    rows = []
    for n in sizes:
        stream = run_aggregation_child(ref, cand, n, args.cache_dir, CHUNK_ROWS)
        memory = run_aggregation_child(ref, cand, n, args.cache_dir, None)
        rows.append(
            {
                "images": n,
                "streaming": stream,
                "in_memory": memory,
                "frd_agrees": abs(stream["frd"] - memory["frd"]) <= FRD_TOLERANCE,
            }
        )

    chunk_mb = CHUNK_ROWS * fill["n_features"] * 8 / MB
    bound_mb = SLACK_MB + chunk_mb
    growth_stream = rows[-1]["streaming"]["peak_rss_mb"] - rows[0]["streaming"]["peak_rss_mb"]
    growth_memory = rows[-1]["in_memory"]["peak_rss_mb"] - rows[0]["in_memory"]["peak_rss_mb"]
    # What each further image costs between the two largest sizes: rows in memory cost
    # ~n_features x 8 B several times over, the streaming path only its per-image
    # bookkeeping (paths, cache keys), which is O(N) too but far smaller.
    span = sizes[-1] - sizes[-2]
    per_image_kb = {
        kind: (rows[-1][kind]["peak_rss_mb"] - rows[-2][kind]["peak_rss_mb"]) * 1024 / span
        for kind in ("streaming", "in_memory")
    }
    # ru_maxrss inherited from a launching process would show up as a gap to VmHWM.
    reports = [r[k] for r in rows for k in ("streaming", "in_memory")]
    rss_clean = all(r["vm_hwm_mb"] is None or abs(r["peak_rss_mb"] - r["vm_hwm_mb"]) <= 1.0 for r in reports)
    return {
        "sizes": sizes,
        "split": "even (N/2 reference + N/2 candidate)",
        "image_size": args.agg_size,
        "chunk_rows": CHUNK_ROWS,
        "fill": fill,
        "n_features": fill["n_features"],
        "rows": rows,
        "growth_streaming_mb": growth_stream,
        "growth_in_memory_mb": growth_memory,
        "chunk_mb": chunk_mb,
        "bound_mb": bound_mb,
        "pass": growth_stream <= bound_mb,
        "per_image_kb": per_image_kb,
        "frd_agrees": all(r["frd_agrees"] for r in rows),
        "rss_matches_vmhwm": rss_clean,
    }


def print_aggregation(res: dict) -> None:
    print(
        f"  {'images':>17} {'streaming peak MB':>18} {'in-memory peak MB':>18} "
        f"{'imports-only MB':>16} {'FRD':>10} {'FRD agrees':>10}"
    )
    for row in res["rows"]:
        s, m = row["streaming"], row["in_memory"]
        label = f"{row['images']} ({s['n_reference']}+{s['n_candidate']})"
        print(
            f"  {label:>17} {s['peak_rss_mb']:>18.1f} {m['peak_rss_mb']:>18.1f} "
            f"{s['baseline_rss_mb']:>16.1f} {s['frd']:>10.5f} {'yes' if row['frd_agrees'] else 'NO':>10}"
        )
    first, last = res["sizes"][0], res["sizes"][-1]
    print(
        f"  growth {first} -> {last} images: streaming {res['growth_streaming_mb']:+.1f} MB, "
        f"in-memory {res['growth_in_memory_mb']:+.1f} MB"
    )
    sizes, kb = res["sizes"], res["per_image_kb"]
    print(
        f"  per extra image ({sizes[-2]} -> {sizes[-1]}): streaming {kb['streaming']:+.2f} KB, "
        f"in-memory {kb['in_memory']:+.2f} KB (one raw row: {res['n_features'] * 8 / 1024:.2f} KB)"
    )
    print(
        f"  bound: {SLACK_MB:.0f} MB + one chunk ({res['chunk_rows']} rows x {res['n_features']} "
        f"features x 8 B = {res['chunk_mb']:.2f} MB) = {res['bound_mb']:.2f} MB -> "
        f"{'PASS' if res['pass'] else 'FAIL'}"
    )
    print(
        f"  every child's ru_maxrss matches its VmHWM (within 1 MB): "
        f"{'yes' if res['rss_matches_vmhwm'] else 'NO (peaks not clean)'}"
    )


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    def sizes(text: str) -> list[int]:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
        if len(values) < 2 or any(v < 4 or v % 2 or v > MAX_AGG_IMAGES for v in values):
            raise argparse.ArgumentTypeError(f"at least two even sizes between 4 and {MAX_AGG_IMAGES}, comma-separated")
        return values

    def bounded(lo: int, hi: int):
        def parse(text: str) -> int:
            value = int(text)
            if not lo <= value <= hi:
                raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}")
            return value

        return parse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=bounded(2, MAX_IMAGES), default=60, help="throughput set size")
    p.add_argument("--size", type=bounded(16, 1024), default=128, help="throughput image side, px")
    p.add_argument("--repeats", type=bounded(1, 20), default=1, help="timed runs per configuration")
    p.add_argument(
        "--agg-sizes",
        type=sizes,
        default=[250, 500, 1000, 2000],
        help="total images (reference + candidate) per aggregation measurement",
    )
    p.add_argument("--agg-size", type=bounded(16, 512), default=32, help="aggregation image side, px")
    p.add_argument("--agg-workers", type=bounded(1, 64), default=2, help="workers filling the cache")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="feature cache + aggregation images, kept for reuse (default: a temp dir)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-aggregation", action="store_true")
    p.add_argument("--json-out", type=Path, default=None)
    # Child mode (internal): one aggregation measured in its own process.
    p.add_argument("--_aggregate", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_ref", help=argparse.SUPPRESS)
    p.add_argument("--_cand", help=argparse.SUPPRESS)
    p.add_argument("--_n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--_chunk-rows", dest="_chunk_rows", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._aggregate:
        aggregate_child_main(args)
        return 0

    print(f"frd scaling benchmark on {os.cpu_count()} CPUs (shared with other work: timings are noisy)")
    work = Path(tempfile.mkdtemp(prefix="frd-bench-scale-"))
    keep_cache = args.cache_dir is not None
    if not keep_cache:
        args.cache_dir = work / "cache"
    results: dict = {"cpus": os.cpu_count()}
    ok = True
    try:
        if not args.skip_throughput:
            results["throughput"] = bench_throughput(args, work)
            print_throughput(results["throughput"])
            ok &= results["throughput"]["identical"]
        if not args.skip_aggregation:
            results["aggregation"] = bench_aggregation(args, args.cache_dir)
            print_aggregation(results["aggregation"])
            agg = results["aggregation"]
            ok &= agg["pass"] and agg["frd_agrees"] and agg["rss_matches_vmhwm"]
            if not keep_cache:
                print("  (rerun with --cache-dir DIR to keep the filled cache and skip the fill next time)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nresults written to {args.json_out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
