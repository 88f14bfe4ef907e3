"""Extraction engines against the reference: images/second, peak memory, FRD.

One run on the same images (each command timed as a whole process, empty caches):

  ref default        python -m frd_score REF CAND           (its default: cores − 2 workers)
  ref -w 2           python -m frd_score REF CAND -w 2
  ours pyradiomics   frd compare --engine pyradiomics --no-cache   (plain pyradiomics, our pipeline)
  ours frd engine    frd compare --engine frd --no-cache           (shared binning, grouped GLCM sums)

2D (default): generated 512×512 PNGs, 40 per set (``--n``, ``--size``). 3D (``--3d``): the
eight 3D fixture volumes (slow: the reference needs ~8 minutes with ``-w 2``; add
``--skip-ref-default`` to leave out its ~15-minute default run).
Targets (2D, 2 cores): frd engine ≥ 3.5× ref default and ≥ 1.8× ref -w 2.

Run: python benchmarks/bench_engine.py [--n 40 --size 512] [--3d] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).parent))
from bench_compare import (  # noqa: E402 - shared timing and data helpers
    Result,
    bench_reference,
    check_agreement,
    parse_our_frd,
    prepare_data,
    run_timed,
)

FIXTURES = Path(os.environ.get(
    "FRD_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "data" / "frd-score-fixtures"))
FIXTURES_3D = FIXTURES / "medical_3d"


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
        slices = [sitk.GetArrayFromImage(sitk.ReadImage(str(f))).astype(float)
                  for f in sorted((FIXTURES / "medical_2d" / source).glob("*.png"))]
        for i in range(n):
            array = slices[i % len(slices)]
            variant = (i // len(slices)) % 8
            array = np.rot90(array[:, ::-1] if variant >= 4 else array, variant % 4)
            image = sitk.GetImageFromArray(np.ascontiguousarray(array))
            image.SetSpacing((1.0, 1.0))
            scale = array.shape[0] / size
            image = sitk.Resample(image, (size, size), sitk.Transform(), sitk.sitkLinear, (0.0, 0.0),
                                  (scale, scale), image.GetDirection(), 0.0, sitk.sitkFloat64)
            values = sitk.GetArrayFromImage(image) + rng.normal(0.0, 2.0, (size, size))
            out = sitk.GetImageFromArray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
            sitk.WriteImage(out, str(folder / f"img{i:04d}.png"))
    return sets[0], sets[1]
TARGETS_2D = [("ours frd engine", "ref default", 3.5), ("ours frd engine", "ref -w 2", 1.8)]


def bench_engine(engine: str, ref: Path, cand: Path, repeats: int, work: Path) -> Result:
    cmd = [sys.executable, "-m", "frd", "compare", str(ref), str(cand), "--no-cache", "--json",
           "--engine", engine]
    result = Result(f"ours {engine if engine == 'pyradiomics' else 'frd engine'}", cmd)
    for _ in range(repeats):
        run = run_timed(cmd, work)
        result.add(run, parse_our_frd(run.stdout))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="2D images per set")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--3d", dest="three_d", action="store_true", help="use the 3D fixture volumes")
    parser.add_argument("--skip-ref-default", action="store_true")
    parser.add_argument("--data", type=Path, help="reuse/generate 2D data here")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        work = Path(tmp)
        if args.three_d:
            ref, cand = FIXTURES_3D / "d1", FIXTURES_3D / "d2"
            n_images = len(list(ref.glob("*.nii.gz"))) + len(list(cand.glob("*.nii.gz")))
        else:
            ref, cand = prepare_data(args.data or work / "data", args.n, args.size, 8, args.seed)
            n_images = 2 * args.n
        results = []
        if not args.skip_ref_default:
            results.append(bench_reference("ref default", [], ref, cand, args.repeats, work))
        results.append(bench_reference("ref -w 2", ["-w", "2"], ref, cand, args.repeats, work))
        results += [bench_engine(e, ref, cand, args.repeats, work) for e in ("pyradiomics", "frd")]

    by_name = {r.name: r for r in results}
    header = f"{'configuration':<17} {'wall s':>9} {'images/s':>9} {'peak RSS MB':>12} {'FRD':>12}"
    print(f"{n_images} images ({'3D fixtures' if args.three_d else f'2D {args.size}x{args.size}'})")
    print(header)
    print("-" * len(header))
    for r in results:
        rss = "n/a" if r.rss_mb is None else f"{'' if r.rss_exact else '<='}{r.rss_mb:.0f}"
        print(f"{r.name:<17} {r.wall_s:>9.2f} {n_images / r.wall_s:>9.3f} {rss:>12} {r.frd:>12.6f}")
    agree, spread = check_agreement(results)
    print(f"\nvalues agree: {'yes' if agree else 'no'} (max |delta| {spread:.2e})")
    checks = []
    for name, baseline, minimum in TARGETS_2D:
        if baseline in by_name and not args.three_d:
            ratio = by_name[baseline].wall_s / by_name[name].wall_s
            checks.append({"configuration": name, "baseline": baseline, "target": minimum,
                           "speedup": ratio, "passed": ratio >= minimum})
            print(f"  {name} >= {minimum}x {baseline}: {ratio:.2f}x {'PASS' if ratio >= minimum else 'FAIL'}")
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "images": n_images, "three_d": args.three_d,
            "results": [{"name": r.name, "wall_s": r.wall_s, "rss_mb": r.rss_mb, "frd": r.frd} for r in results],
            "agree": agree, "spread": spread, "targets": checks}, indent=2))
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
