"""Images in memory: numpy arrays, SimpleITK images and (when installed) torch tensors give
exactly the features of the same pixels read from files, through the same pool and cache."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk

import frd
from frd.errors import InputError, MaskMismatch
from frd.sources import ArraySet, load_source


def _pixels(folder) -> list[np.ndarray]:
    return [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in sorted(folder.glob("*.png"))]


def test_arrays_holding_the_fixtures_pixels_give_the_folder_value_bit_for_bit(fixtures_2d, tmp_path):
    d1, d2 = fixtures_2d
    folders = frd.compare(d1, d2, cache_dir=tmp_path / "c1", progress=False)
    as_lists = frd.compare(_pixels(d1), _pixels(d2), cache_dir=tmp_path / "c2", progress=False)
    stacked = frd.compare(
        np.stack(_pixels(d1)), np.stack(_pixels(d2))[:, None], cache_dir=tmp_path / "c3", progress=False
    )
    assert as_lists.value == folders.value and stacked.value == folders.value
    assert as_lists.features_used == folders.features_used
    assert as_lists.n_reference == 10 and as_lists.n_candidate == 10


def test_arrays_are_cached_by_content(fixtures_2d, tmp_path):
    d1, d2 = fixtures_2d
    first = frd.compare(_pixels(d1), _pixels(d2), cache_dir=tmp_path, progress=False)
    again = frd.compare(_pixels(d1), _pixels(d2), cache_dir=tmp_path, progress=False)
    assert first.cache["extracted"] == 20 and again.cache == {"enabled": True, "hits": 20, "extracted": 0}
    assert again.value == first.value
    # another spacing is another image
    spaced = frd.compare(ArraySet(_pixels(d1), spacing=(0.5, 0.5)), _pixels(d2), cache_dir=tmp_path, progress=False)
    assert spaced.cache["extracted"] == 10 and spaced.value != first.value


def test_3d_simpleitk_images_keep_their_geometry(fixtures_3d, tmp_path):
    # Two volumes of each set suffice here: their features equal the files' to the bit.
    d1, d2 = fixtures_3d
    files = [sorted(d.glob("*.nii.gz"))[:2] for d in (d1, d2)]
    from_files = frd.extract_features(files[0], cache_dir=tmp_path, progress=False, image_types=("Original",))
    images = [sitk.ReadImage(str(p), sitk.sitkFloat32) for p in files[0]]
    from_images = frd.extract_features(images, cache_dir=tmp_path, progress=False, image_types=("Original",))
    assert from_images.ndim == 3
    np.testing.assert_array_equal(from_images.values, from_files.values)
    arrays = ArraySet([sitk.GetArrayFromImage(i) for i in images], spacing=images[0].GetSpacing())
    plain = frd.extract_features(arrays, cache_dir=tmp_path, progress=False, image_types=("Original",))
    np.testing.assert_array_equal(plain.values[0], from_files.values[0])  # same spacing as the first file


def test_colour_stacks_become_luminance_as_colour_files_do(tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (3, 40, 40, 3), dtype=np.uint8)
    for i, image in enumerate(rgb):
        sitk.WriteImage(sitk.GetImageFromArray(image, isVector=True), str(tmp_path / f"c{i}.png"))
    from_files = frd.extract_features(tmp_path, use_cache=False, progress=False, workers=1)
    from_stack = frd.extract_features(np.moveaxis(rgb, -1, 1), use_cache=False, progress=False, workers=1)
    np.testing.assert_array_equal(from_stack.values, from_files.values)


def test_masks_in_memory_are_paired_by_position_and_checked(fixtures_2d, tmp_path):
    d1, _ = fixtures_2d
    images = _pixels(d1)[:4]
    masks = [np.zeros_like(i, dtype=np.uint8) for i in images]
    for m in masks:
        m[20:100, 20:100] = 1
    with_masks = frd.extract_features(ArraySet(images, masks=masks), cache_dir=tmp_path, progress=False)
    without = frd.extract_features(images, cache_dir=tmp_path, progress=False)
    assert not np.allclose(with_masks.values, without.values)
    with pytest.raises(MaskMismatch, match="image 2"):
        load_source(ArraySet(images, masks=[*masks[:2], masks[2][:50], masks[3]]))
    with pytest.raises(InputError, match="3 masks for 4 images"):
        load_source(ArraySet(images, masks=masks[:3]))


def test_shapes_that_are_not_a_set_are_refused():
    with pytest.raises(InputError, match="single 2-D array is one image"):
        load_source(np.zeros((8, 8)))
    with pytest.raises(InputError, match="N×H×W"):
        load_source(np.zeros((2, 5, 3, 8, 8)))
    with pytest.raises(InputError, match="real numbers"):
        load_source([np.zeros((8, 8), dtype=complex)] * 2)
    assert [i.pixels.shape for i in load_source(np.zeros((2, 6, 8, 8)))] == [(6, 8, 8)] * 2  # volumes
    assert [i.pixels.shape for i in load_source(np.zeros((2, 1, 8, 8)))] == [(8, 8)] * 2  # one channel


def test_torch_tensors_give_the_same_value_and_torch_is_not_imported_for_arrays(fixtures_2d, tmp_path):
    import subprocess
    import sys

    import torch

    code = (
        "import sys, numpy as np, frd; frd.sources.load_source([np.zeros((4, 4))] * 2); print('torch' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
    d1, d2 = fixtures_2d
    tensors = torch.tensor(np.stack(_pixels(d1)), dtype=torch.float32)[:, None]  # N×1×H×W, as generators give
    half = torch.tensor(np.stack(_pixels(d2)), dtype=torch.float16)  # 0–255 integers are exact in float16
    value = frd.compare(tensors, half, cache_dir=tmp_path, progress=False).value
    assert value == frd.compare(d1, d2, cache_dir=tmp_path, progress=False).value


# ----- the streaming metric --------------------------------------------------------------
def test_streaming_metric_gives_the_folder_value_and_extracts_in_the_background(fixtures_2d, tmp_path):
    from frd.cache import FeatureCache

    d1, d2 = fixtures_2d
    expected = frd.compare(d1, d2, cache_dir=tmp_path / "ref", progress=False).value
    samples = _pixels(d2)
    with frd.FRDMetric(reference=d1, cache_dir=tmp_path / "c", workers=2) as metric:
        metric.update(np.stack(samples[:4]))
        metric.update(samples[4:7])
        # extraction runs while the caller goes on: the vectors reach the cache before compute()
        deadline = time.monotonic() + 300
        while len(FeatureCache(tmp_path / "c")) < 10 + 7 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(FeatureCache(tmp_path / "c")) == 17
        metric.update(samples[7:])
        result = metric.compute()
        assert result.value == expected and result.n_candidate == 10
        assert [i.name for i in result.analysis.cand_items][:2] == ["sample 0", "sample 1"]
        metric.reset()
        with pytest.raises(frd.errors.ExtractionError, match="no candidate images yet"):
            metric.compute()
        metric.update(np.stack(samples))
        assert metric.compute().value == expected  # the same images again: from the cache


def test_streaming_metric_against_reference_statistics(fixtures_2d, tmp_path):
    d1, d2 = fixtures_2d
    stats = frd.compute_reference_stats(d1, cache_dir=tmp_path, progress=False).save(tmp_path / "real.frdstats")
    with frd.FRDMetric(reference=stats, cache_dir=tmp_path, workers=1) as metric:
        metric.update(_pixels(d2))
        assert metric.compute().value == frd.compare(d1, d2, cache_dir=tmp_path, progress=False).value
    with pytest.raises(frd.errors.StatsMismatch, match="bin_width"):
        frd.FRDMetric(reference=stats, bin_width=10)


def test_training_loop_example_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "training_loop.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--epochs", "2", "--work-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 2
    values = [float(ln.split("FRD ")[1].split()[0]) for ln in lines]
    assert values[1] < values[0]  # the toy generator gets closer to the real images
