"""Writing raw per-image features to CSV or Parquet."""

from __future__ import annotations

import csv
from pathlib import Path

from .extras import require
from .featureset import FeatureSet


def require_parquet(path: str | Path = ".parquet") -> None:
    """Before any work: a .parquet output needs pyarrow."""
    if str(path).lower().endswith(".parquet"):
        require("parquet", "Parquet export")


def write_features(features: FeatureSet, path: str | Path) -> Path:
    """One row per image: name, image path, mask path, then every feature (full precision)."""
    path = Path(path)
    header = ["image", "image_path", "mask_path", *features.names]
    rows = [
        [item.name, item.files[0], item.mask.files[0] if item.mask else "", *map(repr, row.tolist())]
        for item, row in zip(features.items, features.matrix)
    ]
    if path.suffix.lower() == ".parquet":
        require_parquet()
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, object] = {h: [r[i] for r in rows] for i, h in enumerate(header[:3])}
        for j, name in enumerate(features.names):
            columns[name] = features.matrix[:, j]
        pq.write_table(pa.table(columns), path)
        return path
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
