"""Detached headers (MetaImage ElementDataFile, NRRD data file, two-file NIfTI) in the
library: data resolved inside the set's folder, hashed into the cache key, never followed
outside it; and every read goes through the reader its extension names."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import textured, write_png

import frd
from frd.headers import HeaderError, detached_references
from frd.imageio import ImageReadError, read_image
from frd.inputs import InputError, discover


def write_mhd(folder, name: str, data_name: str, array: np.ndarray):
    """A MetaImage header ``name`` whose pixels are in ``data_name`` (relative or absolute)."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = array.shape
    (folder / name).write_text(
        f"ObjectType = Image\nNDims = 2\nDimSize = {w} {h}\nElementType = MET_UCHAR\nElementDataFile = {data_name}\n"
    )
    return folder / name


def write_nhdr(folder, name: str, data_name: str, array: np.ndarray, spelling: str = "data file"):
    folder.mkdir(parents=True, exist_ok=True)
    h, w = array.shape
    (folder / name).write_text(
        f"NRRD0004\ntype: uchar\ndimension: 2\nsizes: {w} {h}\nencoding: raw\n{spelling}: {data_name}\n\n"
    )
    return folder / name


@pytest.fixture
def texture():
    return textured(np.random.default_rng(3), size=40)


def test_references_are_parsed_from_the_header_alone(tmp_path, texture):
    assert detached_references(write_mhd(tmp_path, "a.mhd", "a.raw", texture)) == ["a.raw"]
    assert detached_references(write_mhd(tmp_path, "b.mha", "LOCAL", texture)) == []
    # "local" is not LOCAL for MetaIO: it is a file name, and so it is here.
    assert detached_references(write_mhd(tmp_path, "c.mha", "local", texture)) == ["local"]
    assert detached_references(write_mhd(tmp_path, "d.mha", "s%02d.raw 1 3 1", texture)) == [
        "s01.raw",
        "s02.raw",
        "s03.raw",
    ]
    for spelling in ("data file", "datafile", "DataFile"):
        assert detached_references(write_nhdr(tmp_path, "e.nhdr", "/etc/hostname", texture, spelling)) == [
            "/etc/hostname"
        ]
    sitk.WriteImage(sitk.GetImageFromArray(texture), str(tmp_path / "f.nrrd"))
    assert detached_references(tmp_path / "f.nrrd") == []
    sitk.WriteImage(sitk.GetImageFromArray(texture), str(tmp_path / "g.nii.gz"))
    assert detached_references(tmp_path / "g.nii.gz") == []
    two_file = bytearray(gzip.decompress((tmp_path / "g.nii.gz").read_bytes()))
    two_file[344:348] = b"ni1\x00"
    (tmp_path / "h.nii").write_bytes(bytes(two_file))
    assert detached_references(tmp_path / "h.nii") == ["h.img"]
    (tmp_path / "i.mha").write_text("ObjectType = Image\nNDims = 2\n")
    with pytest.raises(HeaderError, match="no ElementDataFile"):
        detached_references(tmp_path / "i.mha")


def test_detached_data_inside_the_set_is_read_and_hashed(tmp_path):
    """Editing the .raw of an .mhd changes the cache key: no stale cached features."""
    folder = tmp_path / "set"
    (folder / "data").mkdir(parents=True)
    arrays = [textured(np.random.default_rng(i), size=40) for i in range(4)]
    for i, img in enumerate(arrays):
        write_mhd(folder, f"c{i}.mhd", f"data/c{i}.raw", img)
        (folder / "data" / f"c{i}.raw").write_bytes(img.tobytes())
    items = discover(folder)
    assert [i.data_files for i in items] == [(str((folder / "data" / f"c{i}.raw").resolve()),) for i in range(4)]
    assert np.array_equal(sitk.GetArrayFromImage(read_image(items[0])[0]), arrays[0])
    cache = tmp_path / "cache"
    frd.compare(folder, folder, cache_dir=cache, progress=False, workers=1)
    assert frd.compare(folder, folder, cache_dir=cache, progress=False, workers=1).cache["hits"] == 8
    (folder / "data" / "c0.raw").write_bytes(textured(np.random.default_rng(99), size=40).tobytes())
    again = frd.compare(folder, folder, cache_dir=cache, progress=False, workers=1)
    assert again.cache["hits"] == 6  # c0 (in both sets) is extracted again


def test_detached_data_outside_the_set_is_refused(tmp_path, texture):
    secret = tmp_path / "secret.raw"
    secret.write_bytes(texture.tobytes())
    folder = tmp_path / "set"
    write_mhd(folder, "a.mhd", str(secret), texture)
    with pytest.raises(InputError, match="outside the set's folder"):
        discover(folder)
    write_mhd(folder, "a.mhd", "../secret.raw", texture)
    with pytest.raises(InputError, match="outside the set's folder"):
        discover(folder)
    (folder / "a.mhd").unlink()
    write_nhdr(folder, "b.nhdr", "../secret.raw", texture)
    with pytest.raises(InputError, match="outside the set's folder"):
        discover(folder)
    (folder / "b.nhdr").unlink()
    (folder / "link.raw").symlink_to(secret)  # a link inside pointing outside is outside
    write_mhd(folder, "c.mhd", "link.raw", texture)
    with pytest.raises(InputError, match="outside the set's folder"):
        discover(folder)


def test_a_header_edited_after_discovery_is_not_followed(tmp_path, texture):
    folder = tmp_path / "set"
    write_mhd(folder, "a.mhd", "a.raw", texture)
    (folder / "a.raw").write_bytes(texture.tobytes())
    item = discover(folder)[0]
    write_mhd(folder, "a.mhd", str(tmp_path / "elsewhere.raw"), texture)
    (tmp_path / "elsewhere.raw").write_bytes(texture.tobytes())
    with pytest.raises(ImageReadError, match="not followed"):
        read_image(item)


def test_the_reader_is_chosen_by_extension_not_by_content(tmp_path, texture):
    """A PNG named .jpg is not silently read by whichever reader claims it."""
    path = write_png(tmp_path / "a.png", texture)
    renamed = tmp_path / "b.jpg"
    renamed.write_bytes(path.read_bytes())
    item = discover(renamed)[0]
    with pytest.raises(ImageReadError):
        read_image(item)
    assert read_image(discover(path)[0])[0].GetSize() == (40, 40)
