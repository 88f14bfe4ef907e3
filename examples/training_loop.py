"""FRD in a training loop: a toy generator is evaluated every epoch against cached
reference statistics, with batches of arrays fed to a streaming metric (no files written).

    python examples/training_loop.py [--epochs 3] [--work-dir frd-example]

The "generator" turns real images (the reference tool's 2D test images, shipped in
tests/data) into samples by a fixed random transform — blur plus noise — that it undoes a
little more every epoch, so its FRD falls as it "trains". In a real loop the batches are
the model's outputs, as numpy arrays or torch tensors (N×H×W or N×1×H×W).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import SimpleITK as sitk

import frd

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "frd-score-fixtures" / "medical_2d"


def generator_batches(epoch: int, epochs: int, sources: list[np.ndarray], batch_size: int = 4, seed: int = 0):
    """Batches of samples whose quality grows with the epoch (a stand-in for a model)."""
    rng = np.random.default_rng(seed + epoch)
    quality = (epoch + 1) / epochs  # 0 → noise and blur, 1 → the source images themselves
    samples = []
    for image in sources:
        blurred = sitk.GetArrayFromImage(
            sitk.SmoothingRecursiveGaussian(
                sitk.GetImageFromArray(image.astype(np.float32)), 4.0 * (1 - quality) + 1e-3
            )
        )
        noise = rng.normal(0, 40 * (1 - quality), image.shape)
        samples.append(np.clip(blurred + noise, 0, 255).astype(np.float32))
    for start in range(0, len(samples), batch_size):
        yield np.stack(samples[start : start + batch_size])  # N×H×W, as a model's batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path("frd-example"))
    parser.add_argument("--reference", type=Path, default=FIXTURES / "d1", help="real images (a folder)")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    cache = args.work_dir / "cache"

    # The reference is extracted once; its statistics file serves every epoch (and the next run).
    stats_file = args.work_dir / "real.frdstats"
    if not stats_file.exists():
        frd.compute_reference_stats(args.reference, cache_dir=cache, progress=False).save(stats_file)
    sources = [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in sorted((FIXTURES / "d2").glob("*.png"))]

    with frd.FRDMetric(reference=stats_file, cache_dir=cache) as metric:
        for epoch in range(args.epochs):
            # ... one epoch of training would run here ...
            metric.reset()
            for batch in generator_batches(epoch, args.epochs, sources):
                metric.update(batch)  # extraction starts in the background at once
            result = metric.compute()  # waits only for what is still running
            note = "  (identical statistics)" if result.identical else ""
            print(f"epoch {epoch}: FRD {result.value:.4f} over {result.n_candidate} samples{note}", flush=True)


if __name__ == "__main__":
    main()
