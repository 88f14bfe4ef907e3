"""Produce golden FRD values for the 3D fixtures with the reference implementation.

The reference (frd-score 1.0.1) needs about 15 minutes and >10 GB of memory for the
eight 32×32×16 fixture volumes (they are resampled to 2 mm, ~180×180×88), too slow for
the default test suite. This script runs it once and stores the values in
``tests/golden/fixtures_3d.json``; ``tests/test_parity_3d.py`` (marked ``slow``) compares
ours with them.

Run:  python scripts/make_golden_3d.py [FIXTURES_DIR] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from importlib import metadata
from pathlib import Path

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "frd-score-fixtures"
OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "fixtures_3d.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixtures", nargs="?", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import frd_score

    d1, d2 = args.fixtures / "medical_3d" / "d1", args.fixtures / "medical_3d" / "d2"
    start = time.perf_counter()
    value = float(frd_score.compute_frd([str(d1), str(d2)], frd_version="v1", num_workers=args.workers))
    elapsed = time.perf_counter() - start
    record = {
        "fixtures": "medical_3d/d1 vs medical_3d/d2",
        "frd_v1": value,
        "command": f"frd_score.compute_frd([d1, d2], frd_version='v1', num_workers={args.workers})",
        "frd_score": metadata.version("frd-score"),
        "pyradiomics": metadata.version("pyradiomics-bhklab"),
        "python": platform.python_version(),
        "seconds": round(elapsed, 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
