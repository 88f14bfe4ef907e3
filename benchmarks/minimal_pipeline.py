"""A lower bound for the extraction engine: only the unavoidable work, per image, one process.

For each 2D image the minimal pipeline does what any v1 extraction must do — read the file,
normalise (z-score × 100) and resample to 2 mm (SimpleITK, B-spline), the stationary
wavelet (PyWavelets, coif1, the four 2D bands), and for the original and each band: bin
(width 5), build the GLCM, GLRLM, NGTDM and the GLSZM zones with the engine's compiled
kernels, and evaluate the features as plain vectorised numpy over whole matrices (every
angle at once; no pyradiomics classes, no diagnostics beyond what v1 keeps, no care for
numpy's summation order). Its values are not the published ones; its time is what is left
once everything but the arithmetic is gone. The same images then go through the engine
(``frd.extract.Extractor``, bit-identical to pyradiomics) and through plain pyradiomics in
the same process, and the ratios are printed: the engine's headroom, and its speed-up per
image (which a busy machine, slowing all of them alike, hardly changes).

Moments are taken two ways and both timed: with ``numpy.power`` (what a bit-identical
engine must do: pyradiomics' third and fourth moments are numpy's powers, which are an
order of magnitude slower on negative numbers) and with products (the minimal pipeline).

Run: python benchmarks/minimal_pipeline.py FOLDER [--n 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pywt
import SimpleITK as sitk

from frd.matrices import MATRICES, gray_level_zones

BIN_WIDTH = 5.0
EPS = np.spacing(1)


def prepare(path: Path) -> np.ndarray:
    image = sitk.Normalize(sitk.ReadImage(str(path))) * 100
    spacing = image.GetSpacing()
    size = [int(round(n * s / 2.0)) for n, s in zip(image.GetSize(), spacing)]
    resampled = sitk.Resample(
        image,
        size,
        sitk.Transform(),
        sitk.sitkBSpline,
        image.GetOrigin(),
        (2.0, 2.0),
        image.GetDirection(),
        0.0,
        sitk.sitkFloat64,
    )
    return sitk.GetArrayFromImage(resampled)


def filtered_images(array: np.ndarray) -> list[np.ndarray]:
    padded = np.pad(array, [(0, n % 2) for n in array.shape], "wrap")
    bands = pywt.swtn(padded, "coif1", level=1, start_level=0)[0]
    crop = tuple(slice(0, n) for n in array.shape)
    return [array] + [bands[key][crop] for key in ("ad", "da", "dd", "aa")]


def first_order(x: np.ndarray, binned: np.ndarray, exact_powers: bool) -> list[float]:
    ordered = np.sort(x)
    n = len(ordered)
    p10, p25, p50, p75, p90 = (ordered[min(n - 1, int(q * (n - 1)))] for q in (0.1, 0.25, 0.5, 0.75, 0.9))
    mean = x.mean()
    d = x - mean
    if exact_powers:
        m2, m3, m4 = np.mean(d * d), np.mean(np.power(d, 3)), np.mean(np.power(d, 4))
    else:
        d2 = d * d
        m2, m3, m4 = d2.mean(), (d2 * d).mean(), (d2 * d2).mean()
    shifted = x + 300
    energy = np.dot(shifted, shifted)
    counts = np.bincount(binned)
    p = counts[counts > 0] / n
    robust = x[(x >= p10) & (x <= p90)]
    return [
        energy,
        -np.sum(p * np.log2(p + EPS)),
        ordered[0],
        p10,
        p90,
        ordered[-1],
        mean,
        p50,
        p75 - p25,
        ordered[-1] - ordered[0],
        np.abs(d).mean(),
        np.abs(robust - robust.mean()).mean(),
        np.sqrt(energy / n),
        m3 / m2**1.5,
        m4 / m2**2,
        m2,
        np.sum(p * p),
    ]


def glcm_features(P: np.ndarray, levels: np.ndarray) -> list[float]:
    # Angles first, so that every numpy operation runs over whole rows.
    P = np.ascontiguousarray(P.transpose(2, 0, 1))[:, levels - 1][:, :, levels - 1]
    P = P + P.transpose(0, 2, 1)
    P /= P.sum((1, 2))[:, None, None]
    g = levels.astype(float)
    i, j = g[None, :, None], g[None, None, :]
    px, py = P.sum(2), P.sum(1)
    ux, uy = px @ g, py @ g
    s = (i + j) - (ux + uy)[:, None, None]
    s2 = s * s
    dif = np.abs(i - j)
    di = i - ux[:, None, None]
    dj = j - uy[:, None, None]
    pxpy = px[:, :, None] * py[:, None, :]
    log_pxpy = np.log2(pxpy + EPS)
    k = (g[:, None] + g[None, :]).astype(int).ravel()
    kd = np.abs(g[:, None] - g[None, :]).astype(int).ravel()
    flat = P.reshape(len(P), -1)
    p_sum = np.stack([np.bincount(k, row) for row in flat])
    p_diff = np.stack([np.bincount(kd, row) for row in flat])
    kv = np.arange(p_diff.shape[1])[None, :]
    sums = [
        (P * (i * j)).sum((1, 2)),
        (P * (s2 * s2)).sum((1, 2)),
        (P * (s2 * s)).sum((1, 2)),
        (P * s2).sum((1, 2)),
        (P * (dif * dif)).sum((1, 2)),
        (P * di * dj).sum((1, 2)),
        (P * P).sum((1, 2)),
        -(P * np.log2(P + EPS)).sum((1, 2)),
        -(P * log_pxpy).sum((1, 2)),
        -(pxpy * log_pxpy).sum((1, 2)),
        P.max((1, 2)),
        (P * (di * di)).sum((1, 2)),
        (kv * p_diff).sum(1),
        -(p_diff * np.log2(p_diff + EPS)).sum(1),
        -(p_sum * np.log2(p_sum + EPS)).sum(1),
        (p_diff / (1 + kv * kv)).sum(1),
        (p_diff / (1 + kv)).sum(1),
        (p_diff[:, 1:] / (kv[:, 1:] ** 2)).sum(1),
    ]
    return [float(np.mean(v)) for v in sums]


def run_length_features(R: np.ndarray, levels: np.ndarray) -> list[float]:
    R = R[levels - 1]
    R = R[:, R.sum((0, 2)) > 0]
    nr = R.sum((0, 1))
    g = levels.astype(float)[:, None, None]
    j = np.arange(1, R.shape[1] + 1, dtype=float)[None, :, None]
    pr, pg = R.sum(0), R.sum(1)
    p = R / nr
    sums = [
        (R / (j * j)).sum((0, 1)),
        (R * j * j).sum((0, 1)),
        (pg * pg).sum(0),
        (pr * pr).sum(0),
        (R * j).sum((0, 1)),
        -(p * np.log2(p + EPS)).sum((0, 1)),
        (R / (g * g)).sum((0, 1)),
        (R * g * g).sum((0, 1)),
        (R / (g * g * j * j)).sum((0, 1)),
        (R * g * g / (j * j)).sum((0, 1)),
        (R * j * j / (g * g)).sum((0, 1)),
        (R * g * g * j * j).sum((0, 1)),
    ]
    return [float(np.mean(v / nr)) for v in sums]


def zone_features(levels: np.ndarray, sizes: np.ndarray) -> list[float]:
    nz = len(sizes)
    s = sizes.astype(float)
    g = levels.astype(float)
    ps = np.bincount(sizes)
    pg = np.bincount(levels)
    return [
        np.sum(1 / (s * s)) / nz,
        np.sum(s * s) / nz,
        np.sum(pg * pg) / nz,
        np.sum(ps * ps) / nz,
        nz / s.sum(),
        np.sum(1 / (g * g)) / nz,
        np.sum(g * g) / nz,
        np.sum(s * s * g * g) / nz,
    ]


def ngtdm_features(N: np.ndarray) -> list[float]:
    N = N[N[:, 0] > 0]
    p = N[:, 0] / N[:, 0].sum()
    s, i = N[:, 1], N[:, 2]
    diff = i[:, None] - i[None, :]
    return [
        1 / max(np.sum(p * s), EPS),
        np.sum(p[:, None] * p[None, :] * diff * diff),
        np.sum(p * s) / max(np.abs(i * p)[:, None].sum(), EPS),
        np.sum(np.abs(diff) * (p * s)[:, None]),
        np.sum((p[:, None] + p[None, :]) * diff * diff),
    ]


def minimal_extract(path: Path, exact_powers: bool) -> list[float]:
    features = []
    for image in filtered_images(prepare(path)):
        x = image.ravel()
        low = x.min() - x.min() % BIN_WIDTH
        binned = (np.floor((image - low) / BIN_WIDTH) + 1).astype(np.int64)
        levels = np.unique(binned)
        Ng = int(levels[-1])
        volume, mask = binned[None], np.ones((1, *binned.shape), bool)
        features += first_order(x, binned.ravel(), exact_powers)
        P, _ = MATRICES.calculate_glcm(volume, mask, np.array([1]), Ng, True, 0)
        features += glcm_features(P[0], levels)
        R, _ = MATRICES.calculate_glrlm(volume, mask, Ng, max(volume.shape), True, 0)
        features += run_length_features(R[0], levels)
        features += zone_features(*gray_level_zones(volume, mask, 0))
        features += ngtdm_features(MATRICES.calculate_ngtdm(volume, mask, np.array([1]), Ng, True, 0)[0])
    return features


def measure(folder: Path, n: int, rounds: int = 3) -> dict:
    """Per-image wall time of each pipeline (and of plain pyradiomics, for scale), medians over
    rounds; within a round they take turns image by image, so that a busy machine slows them
    alike."""
    from frd.extract import Extractor
    from frd.inputs import load_set
    from frd.options import FRDOptions

    items = load_set(folder)[:n]
    pipelines = {
        "minimal_s": lambda item: minimal_extract(Path(item.files[0]), exact_powers=False),
        "minimal_numpy_powers_s": lambda item: minimal_extract(Path(item.files[0]), exact_powers=True),
        "engine_s": Extractor(FRDOptions(engine="frd")),
        "pyradiomics_s": Extractor(FRDOptions(engine="pyradiomics")),
    }
    for run in pipelines.values():  # warm-up
        run(items[0])
    totals = {name: [] for name in pipelines}
    for _ in range(rounds):
        spent = dict.fromkeys(pipelines, 0.0)
        for item in items:
            for name, run in pipelines.items():
                start = time.perf_counter()
                run(item)
                spent[name] += time.perf_counter() - start
        for name in pipelines:
            totals[name].append(spent[name] / len(items))
    return {"images": len(items), **{name: statistics.median(values) for name, values in totals.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, default=16)
    args = parser.parse_args(argv)
    m = measure(args.folder, args.n)
    print(f"{m['images']} images from {args.folder}, per image, one process:")
    print(f"  minimal pipeline                      {m['minimal_s'] * 1e3:7.1f} ms")
    print(f"  minimal pipeline, numpy's powers      {m['minimal_numpy_powers_s'] * 1e3:7.1f} ms")
    print(f"  frd engine (bit-identical)            {m['engine_s'] * 1e3:7.1f} ms")
    print(f"  plain pyradiomics (the same values)   {m['pyradiomics_s'] * 1e3:7.1f} ms")
    print(
        f"  engine / minimal: {m['engine_s'] / m['minimal_s']:.2f}x "
        f"(with numpy's powers in both: {m['engine_s'] / m['minimal_numpy_powers_s']:.2f}x); "
        f"pyradiomics / engine: {m['pyradiomics_s'] / m['engine_s']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
