"""Discovery, reading and mask pairing on real files."""

from __future__ import annotations

import locale
import zipfile

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import textured, write_png

from frd.archive import ArchiveError, ArchiveLimits, extract_zip
from frd.imageio import probe, read_image
from frd.inputs import InputError, discover, load_set, pair_masks


def test_folder_scan_is_recursive_and_case_insensitive(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "b.PNG", textured(rng))
    write_png(tmp_path / "sub" / "a.png", textured(rng))
    (tmp_path / "notes.txt").write_text("not an image")
    names = [i.name for i in discover(tmp_path)]
    assert names == ["b.PNG", "sub/a.png"]
    assert [i.name for i in discover(tmp_path, recursive=False)] == ["b.PNG"]


def test_empty_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputError, match=str(tmp_path)):
        discover(tmp_path)


def test_masks_pair_by_name_not_position(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("case01", "case02"):
        write_png(tmp_path / "img" / f"{name}.png", textured(rng))
    # Sorted by position these would pair wrongly: "a_..." sorts before "case01".
    write_png(tmp_path / "msk" / "case02_mask.png", np.ones((48, 48), np.uint8))
    write_png(tmp_path / "msk" / "case01.png", np.ones((48, 48), np.uint8))
    write_png(tmp_path / "msk" / "a_unrelated.png", np.ones((48, 48), np.uint8))
    items = load_set(tmp_path / "img", tmp_path / "msk")
    assert {i.name: i.mask.name for i in items} == {"case01.png": "case01.png", "case02.png": "case02_mask.png"}


def test_image_without_mask_is_an_error_naming_the_image(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "img" / "case01.png", textured(rng))
    write_png(tmp_path / "img" / "case09.png", textured(rng))
    write_png(tmp_path / "msk" / "case01.png", np.ones((48, 48), np.uint8))
    with pytest.raises(InputError, match="case09.png"):
        load_set(tmp_path / "img", tmp_path / "msk")


def test_ambiguous_masks_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "img" / "case01.png", textured(rng))
    write_png(tmp_path / "msk" / "x" / "case01.png", np.ones((48, 48), np.uint8))
    write_png(tmp_path / "msk" / "y" / "case01_seg.png", np.ones((48, 48), np.uint8))
    with pytest.raises(InputError, match="several masks"):
        pair_masks(discover(tmp_path / "img"), discover(tmp_path / "msk"))


def test_16bit_png_keeps_full_depth(tmp_path):
    array = np.array([[0, 300, 4095, 65535]] * 4, dtype=np.uint16)
    path = write_png(tmp_path / "deep.png", array)
    image, notice = read_image(discover(path)[0])
    assert notice is None
    assert image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array.astype(np.float32))


def test_rgb_is_converted_to_luminance_with_notice(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 200, 50
    path = tmp_path / "colour.png"
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))
    image, notice = read_image(discover(path)[0])
    assert "luminance" in notice
    expected = 0.299 * 100 + 0.587 * 200 + 0.114 * 50
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), expected, rtol=1e-6)


def write_dicom_series(folder, volume: np.ndarray, series_uid: str):
    """Slices of ``volume`` (z, y, x) as one DICOM series, as a scanner would store them."""
    # GDCM's writer switches the process to the C locale, which would make later code that
    # opens text files with the default encoding (the reference tool reading its YAML
    # config) read them as ASCII: restore the locale afterwards.
    saved = locale.setlocale(locale.LC_ALL)
    try:
        _write_dicom_series(folder, volume, series_uid)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_dicom_series(folder, volume: np.ndarray, series_uid: str):
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(volume.shape[0]):
        slice_ = sitk.GetImageFromArray(volume[z])
        slice_.SetSpacing((0.8, 0.8))
        for tag, value in (
            ("0008|0060", "MR"),
            ("0020|000d", "1.2.826.0.1.3680043.2.1125.1"),
            ("0020|000e", series_uid),
            ("0020|0013", str(z + 1)),
            ("0020|0032", f"0\\0\\{z * 2.5}"),
            ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ("0028|0030", "0.8\\0.8"),
            ("0018|0050", "2.5"),
            ("0008|0018", f"{series_uid}.{z + 1}"),
        ):
            slice_.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{z:03d}.dcm"))
        writer.Execute(slice_)


def test_dicom_series_is_read_as_one_volume(tmp_path):
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 1000, size=(5, 16, 16)).astype(np.int16)
    write_dicom_series(tmp_path / "patient1" / "series", volume, "1.2.826.0.1.3680043.2.1125.2")
    write_dicom_series(tmp_path / "patient2", volume[::-1].copy(), "1.2.826.0.1.3680043.2.1125.3")
    items = discover(tmp_path)
    assert [i.name for i in items] == ["patient1/series", "patient2"]
    assert all(len(i.files) == 5 for i in items)
    assert probe(items[0]).ndim == 3
    image, _ = read_image(items[0])
    assert image.GetSize() == (16, 16, 5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), volume.astype(np.float32))
    assert image.GetSpacing()[2] == pytest.approx(2.5)


def test_zip_input_is_discovered(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "src" / "x" / "one.png", textured(rng))
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "src" / "x" / "one.png", "x/one.png")
    items = discover(archive)
    assert [i.name for i in items] == ["x/one.png"]


@pytest.mark.parametrize("member", ["../evil.png", "/abs/evil.png"])
def test_hostile_zip_paths_are_refused(tmp_path, member):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, b"x")
    with pytest.raises(ArchiveError, match="evil.png"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "evil.png").exists()


def test_zip_bomb_and_symlink_are_refused(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.png", b"\0" * (8 << 20))
    with pytest.raises(ArchiveError, match="compression ratio"):
        extract_zip(bomb, tmp_path / "out1")
    with pytest.raises(ArchiveError, match="beyond"):
        extract_zip(bomb, tmp_path / "out2", ArchiveLimits(max_total_bytes=1 << 20, max_ratio=1e9))
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("link.png")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract_zip(link, tmp_path / "out3")
