"""Understanding the number: contributions, CI, degenerate features, OOD, the report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import missing_tool

import frd
from frd.analysis.ood import detect
from frd.analysis.uncertainty import bootstrap_ci, sample_size_curve
from frd.contributions import feature_class, image_filter
from frd.featureset import FeatureSet
from frd.inputs import ImageItem
from frd.options import FRDOptions


@pytest.fixture(scope="module")
def fixture_result(fixtures_2d, tmp_path_factory):
    return frd.compare(*fixtures_2d, cache_dir=tmp_path_factory.mktemp("c"), progress=False)


def test_contributions_add_up_to_d2(fixture_result):
    c = fixture_result.analysis.contributions
    split = fixture_result.d2_split
    assert split["mean_term"] + split["covariance_term"] == pytest.approx(fixture_result.d2, rel=1e-6)
    assert c.d2 == pytest.approx(fixture_result.d2, rel=1e-6)
    by_class = c.by_group(feature_class)
    assert sum(g["share_of_d2"] for g in by_class.values()) == pytest.approx(1.0, rel=1e-9)
    assert set(by_class) == {"diagnostics", "firstorder", "glcm", "glrlm", "glszm", "ngtdm"}
    by_filter = c.by_group(image_filter)
    assert set(by_filter) == {"diagnostics", "original", "wavelet-HH", "wavelet-HL", "wavelet-LH", "wavelet-LL"}


def test_feature_name_parsing():
    assert (feature_class("wavelet-LLH_glcm_Contrast"), image_filter("wavelet-LLH_glcm_Contrast")) == (
        "glcm",
        "wavelet-LLH",
    )
    assert (feature_class("firstorder_Mean"), image_filter("firstorder_Mean")) == ("firstorder", "original")
    assert image_filter("log-sigma-2-0-mm-3D_glszm_ZoneEntropy") == "log-sigma-2-0-mm-3D"
    assert feature_class("diagnostics_Mask-original_VoxelNum") == "diagnostics"


def test_bootstrap_ci_contains_the_point_estimate(fixture_result):
    options = FRDOptions()
    ci = bootstrap_ci(fixture_result.analysis, options, resamples=40, seed=1)
    assert ci["low"] <= fixture_result.value <= ci["high"]
    assert ci["low"] < ci["high"]
    assert bootstrap_ci(fixture_result.analysis, options, resamples=40, seed=1) == ci  # seeded
    curve = sample_size_curve(fixture_result.analysis, options, points=4, seeds=3)
    assert [p["size"] for p in curve][-1] == 10 and curve[-1]["mean"] == pytest.approx(fixture_result.value)


def _fake_set(rows: np.ndarray, names: list[str]) -> FeatureSet:
    items = [ImageItem(name=f"i{i}.png", files=(f"/nowhere/i{i}.png",)) for i in range(len(rows))]
    return FeatureSet(items=items, names=tuple(names), values=rows, ndim=2)


def test_degenerate_feature_is_flagged_and_robust_value_offered():
    # The CT/MR case: a wavelet mean that is round-off noise in the reference (1e-17 ± 1e-17)
    # and ~0.1 in the candidate decides d² on its own.
    rng = np.random.default_rng(0)
    names = ["firstorder_Mean", "glcm_Contrast", "wavelet-HL_firstorder_Mean"]
    ref = np.column_stack([rng.normal(100, 10, 30), rng.normal(5, 1, 30), rng.normal(0, 1e-17, 30)])
    cand = np.column_stack([rng.normal(104, 10, 30), rng.normal(5.5, 1, 30), rng.normal(0.1, 0.02, 30)])
    result = frd.compare_features(_fake_set(ref, names), _fake_set(cand, names))
    assert result.value > 60  # d² ~ 1e32: "different", but numerical noise in size
    codes = {w["code"]: w for w in result.warnings}
    assert codes["negligible_reference_std"]["features"][0]["feature"] == "wavelet-HL_firstorder_Mean"
    assert codes["dominant_feature"]["features"][0]["share_of_d2"] > 0.99
    assert codes["negligible_reference_std"]["share_of_d2"] > 0.99
    assert "can dominate the value here (together 100.0% of d²)" in codes["negligible_reference_std"]["message"]
    assert result.robust["dropped_features"] == ["wavelet-HL_firstorder_Mean"]
    assert result.robust["frd"] < 3
    robust = frd.compare_features(_fake_set(ref, names), _fake_set(cand, names), robust=True)
    assert robust.value == pytest.approx(result.robust["frd"])
    assert robust.features_used == ["firstorder_Mean", "glcm_Contrast"]


def test_a_degenerate_feature_that_carries_nothing_is_said_to_hardly_matter():
    # Flagged features may carry almost none of d² (a shape feature flat in both sets, with
    # a covariance cross-term just below zero): the warning says so instead of "dominate".
    from frd.degenerate import warnings_for

    names = ["firstorder_Mean", "shape2D_Perimeter", "shape2D_Sphericity"]
    shares = {"firstorder_Mean": 1.0004, "shape2D_Perimeter": 0.0001, "shape2D_Sphericity": -0.0005}
    warning = warnings_for(names, np.array([False, True, True]), names, shares)[0]
    assert [f["feature"] for f in warning["features"]] == ["shape2D_Perimeter", "shape2D_Sphericity"]
    assert warning["share_of_d2"] == pytest.approx(-0.0004)
    assert "hardly move the value here (together 0.0% of d²)" in warning["message"]
    loud = warnings_for(names, np.array([True, True, False]), names, shares)[0]
    assert "can dominate the value here (together 100.0% of d²)" in loud["message"]


@pytest.fixture(scope="module")
def blurred_sets(fixtures_2d, tmp_path_factory):
    root = tmp_path_factory.mktemp("blur")
    for sigma in (1, 2, 4):
        for path in sorted(fixtures_2d[0].glob("*.png")):
            image = sitk.ReadImage(str(path), sitk.sitkFloat32)
            blurred = sitk.SmoothingRecursiveGaussian(image, float(sigma))
            out = root / f"s{sigma}" / path.name
            out.parent.mkdir(exist_ok=True)
            sitk.WriteImage(sitk.Cast(sitk.Clamp(blurred, sitk.sitkFloat32, 0, 255), sitk.sitkUInt8), str(out))
    return root


def test_stronger_blur_gives_larger_frd_with_texture_or_wavelet_top_features(fixtures_2d, blurred_sets, tmp_path):
    values = []
    for sigma in (1, 2, 4):
        result = frd.compare(
            fixtures_2d[0], blurred_sets / f"s{sigma}", cache_dir=tmp_path, progress=False, robust=True
        )
        values.append(result.value)
        top = [t["feature"] for t in result.analysis.contributions.top(5)]
        assert all(
            feature_class(f) in ("glcm", "glrlm", "glszm", "ngtdm") or image_filter(f).startswith("wavelet")
            for f in top
        ), top
    assert values[0] < values[1] < values[2]
    # Paired sets (same names): every image is matched with its blurred self.
    from frd.analysis.embedding import paired_changes

    assert len(paired_changes(result.analysis, top=100)) == 10


def test_ood_separates_fixtures_from_noise(fixtures_2d, tmp_path):
    ref = tmp_path / "ref"
    for folder in fixtures_2d:
        shutil.copytree(folder, ref, dirs_exist_ok=True)
    rng = np.random.default_rng(0)
    (tmp_path / "noise").mkdir()
    for i in range(10):
        noise = rng.integers(0, 256, (128, 128)).astype(np.uint8)
        sitk.WriteImage(sitk.GetImageFromArray(noise), str(tmp_path / "noise" / f"n{i}.png"))
    result = frd.compare(ref, tmp_path / "noise", cache_dir=tmp_path / "c", progress=False)
    ood = detect(result.analysis, assumption="gaussian")
    assert ood.auc > 0.9 and ood.nfrd > 0.8
    assert ood.predictions.sum() >= 9
    counting = detect(result.analysis, assumption="counting", use_val_set=True, val_frac=0.25, seed=3)
    assert counting.auc > 0.9
    path = ood.write_csv(tmp_path / "out")
    lines = path.read_text().splitlines()
    assert lines[0] == "filename,ood_score,ood_prediction,p_value" and lines[1].startswith("n0.png,")


def test_cli_ood_and_compare_with_bootstrap(fixtures_2d, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "frd",
            "compare",
            *map(str, fixtures_2d),
            "--cache-dir",
            str(tmp_path),
            "--bootstrap",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    payload = json.loads(proc.stdout)
    assert payload["ci"]["low"] <= payload["frd"] <= payload["ci"]["high"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "frd",
            "ood",
            *map(str, fixtures_2d),
            "--cache-dir",
            str(tmp_path),
            "--output-dir",
            str(tmp_path / "ood"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(json.loads(proc.stdout)["images"]) == 10
    assert (tmp_path / "ood" / "ood_predictions.csv").is_file()


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_renders_in_headless_chromium_with_every_image(fixtures_2d, tmp_path):
    report = tmp_path / "report.html"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "frd",
            "compare",
            *map(str, fixtures_2d),
            "--cache-dir",
            str(tmp_path),
            "--report",
            str(report),
            "--bootstrap",
            "20",
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    text = report.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained
    n_images = text.count("<img ")
    assert n_images >= 6
    browser = _chromium()
    if browser is None:
        missing_tool("chromium", "apt-get install chromium")
    # Count the images the browser actually decoded, after load, into the page title.
    probe = tmp_path / "probe.html"
    probe.write_text(
        text.replace(
            "</body>",
            "<script>window.addEventListener('load',()=>{const i=[...document.images];"
            "document.title='loaded:'+i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;});"
            "</script></body>",
        )
    )
    headless = [  # a quiet headless Chromium: no network of its own, no first-run screens
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    proc = subprocess.run(
        [
            *headless,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    title = re.search(r"<title>(.*?)</title>", proc.stdout)
    assert title and title.group(1) == f"loaded:{n_images}/{n_images}", proc.stdout[:300] + proc.stderr[-500:]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            *headless,
            f"--user-data-dir={tmp_path / 'profile2'}",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_sets_in_different_units_are_warned_about(fixtures_2d, tmp_path):
    # The same real images, the candidate divided by 255 (a generator's [0, 1] output):
    # the value is still reported, with a warning that says how to fix the inputs.
    d1, d2 = fixtures_2d
    for path in sorted(d2.glob("*.png")):
        image = sitk.ReadImage(str(path), sitk.sitkFloat32) / 255.0
        (tmp_path / "unit").mkdir(exist_ok=True)
        sitk.WriteImage(image, str(tmp_path / "unit" / (path.stem + ".nrrd")))
    result = frd.compare(d1, tmp_path / "unit", cache_dir=tmp_path, progress=False)
    codes = [w["code"] for w in result.warnings]
    assert "intensity_scales_differ" in codes
    message = next(w["message"] for w in result.warnings if w["code"] == "intensity_scales_differ")
    assert "rescale the candidate images to the reference's range" in message
    assert "intensity_scales_differ" not in [
        w["code"] for w in frd.compare(d1, d2, cache_dir=tmp_path, progress=False).warnings
    ]
    # v0 does not normalise before binning: [0, 1] images against a bin width of 25
    v0 = frd.compare(d1, tmp_path / "unit", cache_dir=tmp_path, progress=False, version="v0")
    assert "too_few_gray_levels" in [w["code"] for w in v0.warnings]
