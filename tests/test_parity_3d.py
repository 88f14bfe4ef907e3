"""v1 on the real 3D fixtures against golden values produced by the reference.

The reference needs ~15 minutes for these eight volumes, so its value was produced once
by ``python scripts/make_golden_3d.py`` (frd-score 1.0.1, see tests/golden/fixtures_3d.json
for the exact command and versions). Marked ``slow``: run with ``python -m pytest -m slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import frd

GOLDEN = Path(__file__).parent / "golden" / "fixtures_3d.json"


@pytest.mark.slow
def test_v1_3d_fixtures_match_golden_reference_value(fixtures_3d, tmp_path):
    golden = json.loads(GOLDEN.read_text())
    ours = frd.compare(*fixtures_3d, cache_dir=tmp_path, progress=False)
    assert ours.ndim == 3 and ours.n_reference == 4 and ours.n_candidate == 4
    assert abs(ours.value - golden["frd_v1"]) <= 1e-3
