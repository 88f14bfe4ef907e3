"""Generate a small example dataset: two sets of synthetic 2D "scans" as 16-bit PNGs.

reference/  — smooth tissue-like blobs with fine texture and scanner noise
candidate/  — the same kind of images, but smoother and with less noise (as an
              over-smoothing generative model would produce)

Usage: python examples/make_example_data.py OUTDIR [--n 12] [--size 128] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def _phantom(rng: np.random.Generator, size: int, smooth: float, noise: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.zeros((size, size))
    for _ in range(rng.integers(3, 7)):  # organ-like ellipses of different intensity
        cx, cy = rng.uniform(0.2, 0.8, 2)
        rx, ry = rng.uniform(0.08, 0.3, 2)
        image += rng.uniform(200, 900) * (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1)
    texture = sitk.GetArrayFromImage(
        sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(rng.normal(0, 1, (size, size))), 1.5)
    )
    image += 80 * texture
    image = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), smooth))
    image += rng.normal(0, noise, image.shape)
    return np.clip(image + 500, 0, 65535).astype(np.uint16)


def make(outdir: Path, n: int = 12, size: int = 128, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    sets = {"reference": (0.8, 40.0), "candidate": (1.1, 30.0)}
    for name, (smooth, noise) in sets.items():
        folder = outdir / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sitk.WriteImage(
                sitk.GetImageFromArray(_phantom(rng, size, smooth, noise)), str(folder / f"case{i:03d}.png")
            )
    return outdir / "reference", outdir / "candidate"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ref, cand = make(args.outdir, args.n, args.size, args.seed)
    print(f"wrote {args.n} images each to {ref} and {cand}")
