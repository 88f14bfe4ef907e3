"""Extraction engines against the reference: images/second, peak memory, FRD, in one run.

Every command is timed as a whole process on the same images, with empty caches, the
repeats side by side (each repeat runs every configuration once, in turn):

  ref default         python -m frd_score REF CAND           (its default: cores − 2 workers, at least 1)
  ref -w 2            python -m frd_score REF CAND -w 2
  ours pyradiomics    frd compare --engine pyradiomics -w 2  (plain pyradiomics in our pipeline)
  ours frd -w 1       frd compare --engine frd -w 1          (the engine, one process)
  ours frd -w 2       frd compare --engine frd -w 2          (the engine, two workers: the default here)

2D (default): real-like sets of 40 + 40 images per size (``--sizes 256 512``): the
reference's real 2D fixture slices in their eight flips and quarter turns, resized and
given a little noise (``--textures`` uses smooth random textures instead). 3D (``--3d``):
the eight 3D fixture volumes (slow: the reference's default run takes about 15 minutes and
13 GB; ``--skip-ref-default`` leaves it out; plain pyradiomics runs on them only with
``--plain-3d``, and nowhere with ``--skip-plain``).

Also measured, on the first 2D size: the start-up of a one-image ``frd features`` (its wall
time less the engine's per-image time in a warm process) beside its floor (an interpreter
importing numpy, SimpleITK, PyWavelets and pyradiomics, nothing else), and the engine's per-image time
against the minimal pipeline (``minimal_pipeline.py``), in one process, turn by turn.

Each command's CPU time (user + system over its whole process tree) is printed too, with
the reference's CPU time over it: on a machine shared with other work, wall times (and so
the targets, which are wall-time ratios) depend on how much of the cores each run got,
CPU times much less.

Targets (issue 16, this project's 2-core machine): ours frd -w 2 ≥ 10× ref default and
≥ 6× ref -w 2 in 2D, ≥ 20× ref default in 3D with every process ≤ 1 GB; ours frd -w 2 ≥
1.8× ours frd -w 1; one-image start-up ≤ 0.3 s; engine ≤ 2× the minimal pipeline per image.
The FRD of every configuration must agree (and our two engines must give the same bits).

Run: python benchmarks/bench_engine.py [--sizes 256 512] [--n 40] [--repeats N] [--3d [--repeats-3d N]]
        [--json-out FILE]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).parent))
from bench_compare import (  # noqa: E402 - shared timing and data helpers
    Result,
    check_agreement,
    parse_our_frd,
    parse_reference_frd,
    prepare_data,
    run_timed,
)

FIXTURES = Path(
    os.environ.get("FRD_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "data" / "frd-score-fixtures")
)
FIXTURES_3D = FIXTURES / "medical_3d"
MEMORY_LIMIT_MB = 1024
STARTUP_LIMIT_S = 0.3
# (configuration, baseline, minimum speed-up, dimensionality it applies to)
TARGETS = [
    ("ours frd -w 2", "ref default", 10.0, "2D"),
    ("ours frd -w 2", "ref -w 2", 6.0, "2D"),
    ("ours frd -w 2", "ref default", 20.0, "3D"),
    ("ours frd -w 2", "ours frd -w 1", 1.8, "2D"),
    ("ours frd -w 2", "ours frd -w 1", 1.8, "3D"),
]


def real_like_sets(root: Path, n: int, size: int, seed: int) -> tuple[Path, Path]:
    """Two folders of n real-like 8-bit images of size×size: the reference's real 2D
    fixture slices (d1 for one set, d2 for the other), each in one of the eight flips and
    quarter turns, resized (linear) and given a little acquisition-like noise, so that
    the sets have real anatomy and background rather than synthetic texture."""
    rng = np.random.default_rng(seed)
    sets = []
    for source, name in (("d1", "reference"), ("d2", "candidate")):
        folder = root / name
        sets.append(folder)
        if folder.is_dir():
            continue
        folder.mkdir(parents=True)
        slices = [
            sitk.GetArrayFromImage(sitk.ReadImage(str(f))).astype(float)
            for f in sorted((FIXTURES / "medical_2d" / source).glob("*.png"))
        ]
        for i in range(n):
            array = slices[i % len(slices)]
            variant = (i // len(slices)) % 8
            array = np.rot90(array[:, ::-1] if variant >= 4 else array, variant % 4)
            image = sitk.GetImageFromArray(np.ascontiguousarray(array))
            image.SetSpacing((1.0, 1.0))
            scale = array.shape[0] / size
            image = sitk.Resample(
                image,
                (size, size),
                sitk.Transform(),
                sitk.sitkLinear,
                (0.0, 0.0),
                (scale, scale),
                image.GetDirection(),
                0.0,
                sitk.sitkFloat64,
            )
            values = sitk.GetArrayFromImage(image) + rng.normal(0.0, 2.0, (size, size))
            out = sitk.GetImageFromArray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
            sitk.WriteImage(out, str(folder / f"img{i:04d}.png"))
    return sets[0], sets[1]


def our_command(engine: str, workers: int, ref: Path, cand: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "frd",
        "compare",
        str(ref),
        str(cand),
        "--no-cache",
        "--json",
        "--engine",
        engine,
        "-w",
        str(workers),
    ]


def reference_command(extra: list[str], ref: Path, cand: Path) -> list[str]:
    return [sys.executable, "-m", "frd_score", str(ref), str(cand), *extra]


def side_by_side(configurations: list[tuple[Result, object]], repeats: int, work: Path) -> list[Result]:
    """Each repeat runs every configuration once, in turn: a machine whose speed drifts
    (other work, a noisy host) slows all of them alike instead of whichever ran then."""
    for _ in range(repeats):
        for result, parse in configurations:
            run = run_timed(result.command, work)
            result.add(run, parse(run.stdout))
    return [result for result, _ in configurations]


def one_image_startup(folder: Path, work: Path, repeats: int = 5) -> dict:
    """Wall time of ``frd features`` on one image, and that less the engine's time for the
    same image in a warm process (the start-up: interpreter, imports, extractor, output)."""
    from frd.extract import Extractor
    from frd.inputs import load_set
    from frd.options import FRDOptions

    one = work / "one-image"
    one.mkdir(exist_ok=True)
    image = sorted(folder.glob("*.png"))[0]
    (one / image.name).write_bytes(image.read_bytes())
    cmd = [sys.executable, "-m", "frd", "features", str(one), "-o", str(work / "one.csv"), "--no-cache", "-q"]
    walls = [run_timed(cmd, work).wall_s for _ in range(repeats)]
    extractor, item = Extractor(FRDOptions(engine="frd")), load_set(one)[0]
    extractor(item)
    per_image = []
    for _ in range(repeats):
        start = time.perf_counter()
        extractor(item)
        per_image.append(time.perf_counter() - start)
    wall, extraction = statistics.median(walls), statistics.median(per_image)
    # The floor no extraction tool built on pyradiomics can go below: an interpreter that
    # imports what pyradiomics needs (it imports all its own modules, pykwalify included).
    floor_cmd = [sys.executable, "-c", "import numpy, SimpleITK, pywt, radiomics"]
    floor = statistics.median(run_timed(floor_cmd, work).wall_s for _ in range(repeats))
    return {"wall_s": wall, "extraction_s": extraction, "startup_s": wall - extraction, "floor_s": floor}


def run_case(label: str, ref: Path, cand: Path, n_images: int, args, work: Path) -> dict:
    configurations = []
    if not args.skip_ref_default:
        configurations.append((Result("ref default", reference_command([], ref, cand)), parse_reference_frd))
    configurations.append((Result("ref -w 2", reference_command(["-w", "2"], ref, cand)), parse_reference_frd))
    if not args.skip_plain and (args.plain_3d or not label.startswith("3D")):
        configurations.append((Result("ours pyradiomics", our_command("pyradiomics", 2, ref, cand)), parse_our_frd))
    configurations.append((Result("ours frd -w 1", our_command("frd", 1, ref, cand)), parse_our_frd))
    configurations.append((Result("ours frd -w 2", our_command("frd", 2, ref, cand)), parse_our_frd))
    repeats = args.repeats_3d if label.startswith("3D") and args.repeats_3d else args.repeats
    results = side_by_side(configurations, repeats, work)

    by_name = {r.name: r for r in results}
    print(f"\n{n_images} images ({label})")
    header = (
        f"{'configuration':<17} {'wall s':>8} {'images/s':>9} {'CPU s':>8} {'peak RSS MB':>12} {'FRD':>14}"
        f" {'x ref default':>14} {'x ref -w 2':>11} {'CPU x ref':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        rss = "n/a" if r.rss_mb is None else f"{'' if r.rss_exact else '<='}{r.rss_mb:.0f}"
        ratios = [f"{by_name[b].wall_s / r.wall_s:.2f}" if b in by_name else "n/a" for b in ("ref default", "ref -w 2")]
        base = by_name.get("ref default") or by_name.get("ref -w 2")
        cpu_ratio = f"{base.cpu_s / r.cpu_s:.2f}" if base and base.cpu_s and r.cpu_s else "n/a"
        cpu = "n/a" if r.cpu_s is None else f"{r.cpu_s:.1f}"
        print(
            f"{r.name:<17} {r.wall_s:>8.2f} {n_images / r.wall_s:>9.2f} {cpu:>8} {rss:>12} {r.frd:>14.9f}"
            f" {ratios[0]:>14} {ratios[1]:>11} {cpu_ratio:>10}"
        )
    agree, spread = check_agreement(results)
    ours = [v for r in results if r.name.startswith("ours") for v in r.frd_values]
    identical = len(set(ours)) == 1
    print(
        f"FRD values agree: {'yes' if agree else 'NO'} (max |delta| {spread:.2e}); "
        f"ours identical across engines and workers: {'yes' if identical else 'NO'}"
    )
    dimensionality = "3D" if label.startswith("3D") else "2D"
    checks = []
    for name, baseline, minimum, applies in TARGETS:
        if applies == dimensionality and name in by_name and baseline in by_name:
            ratio = by_name[baseline].wall_s / by_name[name].wall_s
            checks.append({"check": f"{name} >= {minimum}x {baseline}", "value": ratio, "passed": ratio >= minimum})
    if dimensionality == "3D":
        peak = by_name["ours frd -w 2"].rss_mb
        checks.append(
            {
                "check": f"ours frd -w 2 every process <= {MEMORY_LIMIT_MB} MB",
                "value": peak,
                "passed": peak is not None and peak <= MEMORY_LIMIT_MB,
            }
        )
    for c in checks:
        print(f"  {c['check']}: {c['value']:.2f} {'PASS' if c['passed'] else 'FAIL'}")
    return {
        "case": label,
        "images": n_images,
        "agree": agree,
        "spread": spread,
        "ours_identical": identical,
        "results": [
            {
                "name": r.name,
                "command": r.command,
                "walls_s": r.walls_s,
                "wall_s": r.wall_s,
                "cpus_s": r.cpus_s,
                "rss_mb": r.rss_mb,
                "frd": r.frd,
            }
            for r in results
        ],
        "checks": checks,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="2D image sizes")
    parser.add_argument("--n", type=int, default=40, help="2D images per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--repeats-3d",
        type=int,
        help="repeats of the 3D case (default: --repeats; the reference takes 18 minutes a repeat)",
    )
    parser.add_argument("--textures", action="store_true", help="synthetic textures instead of real-like images")
    parser.add_argument("--3d", dest="three_d", action="store_true", help="also the 3D fixture volumes")
    parser.add_argument("--only-3d", action="store_true", help="the 3D fixture volumes only")
    parser.add_argument("--skip-ref-default", action="store_true")
    parser.add_argument("--skip-plain", action="store_true", help="leave out ours pyradiomics")
    parser.add_argument(
        "--plain-3d", action="store_true", help="run ours pyradiomics on the 3D volumes too (about 8 minutes and 13 GB)"
    )
    parser.add_argument("--data", type=Path, help="reuse/generate 2D data here")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    # Our package's bytecode, as an installed package has it (the environment may forbid
    # writing it at import time, and every run would then compile the sources again).
    import frd

    compileall.compile_dir(str(Path(frd.__file__).parent), quiet=1)

    cases, extra = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        work = Path(tmp)
        for size in [] if args.only_3d else args.sizes:
            root = (args.data or work / "data") / f"{'textures' if args.textures else 'real-like'}-{size}"
            ref, cand = (
                prepare_data(root, args.n, size, 8, args.seed)
                if args.textures
                else real_like_sets(root, args.n, size, args.seed)
            )
            if not extra:
                from minimal_pipeline import measure

                extra["startup"] = one_image_startup(ref, work)
                extra["minimal"] = {"size": size, **measure(ref, 16)}
            cases.append(run_case(f"2D {size}x{size}", ref, cand, 2 * args.n, args, work))
        if args.three_d or args.only_3d:
            n_images = len(list(FIXTURES_3D.glob("d[12]/*.nii.gz")))
            cases.append(run_case("3D fixtures", FIXTURES_3D / "d1", FIXTURES_3D / "d2", n_images, args, work))

    if "startup" in extra:
        s, m = extra["startup"], extra["minimal"]
        startup_ok = s["startup_s"] <= STARTUP_LIMIT_S
        minimal_ratio = m["engine_s"] / m["minimal_s"]
        print(
            f"\none-image `frd features`: {s['wall_s']:.3f} s wall, of which extraction {s['extraction_s']:.3f} s: "
            f"start-up {s['startup_s']:.3f} s (target <= {STARTUP_LIMIT_S} s) {'PASS' if startup_ok else 'FAIL'}; "
            f"the floor (python -c 'import numpy, SimpleITK, pywt, radiomics') {s['floor_s']:.3f} s, "
            f"frd's own share {s['startup_s'] - s['floor_s']:.3f} s"
        )
        print(
            f"per image, one process, {m['size']}x{m['size']}: engine {m['engine_s'] * 1e3:.1f} ms, minimal pipeline "
            f"{m['minimal_s'] * 1e3:.1f} ms ({m['minimal_numpy_powers_s'] * 1e3:.1f} ms with numpy's powers): "
            f"{minimal_ratio:.2f}x (target <= 2x) {'PASS' if minimal_ratio <= 2 else 'FAIL'}; plain pyradiomics "
            f"{m['pyradiomics_s'] * 1e3:.1f} ms: the engine {m['pyradiomics_s'] / m['engine_s']:.2f}x faster"
        )
    all_agree = all(c["agree"] and c["ours_identical"] for c in cases)
    if args.json_out:
        args.json_out.write_text(json.dumps({"cases": cases, **extra, "all_agree": all_agree}, indent=2))
    return 0 if all_agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
