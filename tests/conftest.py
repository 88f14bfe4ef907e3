"""Shared fixtures: the reference tool's real test images and small generated sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

# FRD_TEST_STRICT=1 (set by .ci/run): every tool a test needs must be there and no test
# may skip — a skip in CI is a failure.
STRICT = os.environ.get("FRD_TEST_STRICT") == "1"


def missing_tool(name: str, install: str) -> None:
    """Skip a test whose external tool is absent on a developer's machine; fail in CI."""
    message = f"{name} is not installed ({install})"
    if STRICT:
        pytest.fail(message + "; FRD_TEST_STRICT=1 requires it")
    pytest.skip(message)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if STRICT and skipped and exitstatus == 0:
        reporter.write_line(f"FRD_TEST_STRICT=1: {skipped} test(s) skipped; CI runs every test", red=True)
        session.exitstatus = 1


# The reference tool's own test images, kept in the repository (see their SOURCE.md).
FIXTURES = Path(os.environ.get("FRD_FIXTURES", Path(__file__).parent / "data" / "frd-score-fixtures"))


def _fixture_pair(name: str) -> tuple[Path, Path]:
    root = FIXTURES / name
    if not root.is_dir():  # a broken checkout, never a reason to skip
        pytest.fail(f"reference fixtures missing at {root} (tests/data/frd-score-fixtures in the repository)")
    return root / "d1", root / "d2"


@pytest.fixture(scope="session")
def fixtures_2d() -> tuple[Path, Path]:
    return _fixture_pair("medical_2d")


@pytest.fixture(scope="session")
def fixtures_3d() -> tuple[Path, Path]:
    return _fixture_pair("medical_3d")


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    return path


def textured(
    rng: np.random.Generator, size: int = 48, smooth: float = 1.0, scale: float = 60.0, dtype=np.uint8
) -> np.ndarray:
    """A smooth random image with texture, in the range of the given integer type."""
    noise = sitk.GetImageFromArray(rng.normal(0, 1, (size, size)))
    field = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, smooth))
    base = 120 if dtype == np.uint8 else 20000
    return np.clip(base + scale * field / field.std(), 0, np.iinfo(dtype).max).astype(dtype)


def texture_sets(root: Path, n: int, seed: int, size: int = 40) -> tuple[Path, Path]:
    """Folders a/ and b/ of n PNGs each: sharper textures in a/, smoother ones in b/."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_png(root / "a" / f"i{i}.png", textured(rng, size=size, smooth=1.0))
        write_png(root / "b" / f"i{i}.png", textured(rng, size=size, smooth=2.0))
    return root / "a", root / "b"


@pytest.fixture(scope="session")
def generated_2d(tmp_path_factory) -> tuple[Path, Path]:
    """Two small sets of 8-bit PNGs whose texture differs (sharper vs smoother)."""
    root = tmp_path_factory.mktemp("gen2d")
    rng = np.random.default_rng(7)
    for i in range(6):
        write_png(root / "a" / f"img{i}.png", textured(rng, smooth=1.0))
        write_png(root / "b" / f"img{i}.png", textured(rng, smooth=2.5, scale=45.0))
    return root / "a", root / "b"
