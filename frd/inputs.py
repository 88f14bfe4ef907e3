"""Finding the images of a set and pairing them with their masks.

A set is a folder (searched recursively, extensions matched case-insensitively), an
explicit list of files, or a .zip archive. Every image becomes an :class:`ImageItem`
named by its path relative to the set's root; a DICOM series (all slices of one
SeriesInstanceUID in one folder) is one item. Items are returned sorted by name, which is
the order of every per-image output.

Masks are paired with images by name — the same relative path, or the same file stem
with an optional ``_mask``/``_seg``/``_label`` suffix — never by sort position.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .archive import extract_zip
from .errors import InputError

IMAGE_EXTENSIONS_2D = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
IMAGE_EXTENSIONS_3D = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
DICOM_EXTENSIONS = (".dcm", ".dicom")
MASK_SUFFIXES = ("", "_mask", "-mask", "_seg", "-seg", "_label", "-label", "_labels")

SetSource = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class ImageItem:
    """One image of a set: a single file, or the ordered slice files of a DICOM series."""

    name: str  # path relative to the set's root, shown to users
    files: tuple[str, ...]
    mask: ImageItem | None = field(default=None)
    # Detached pixel data named by the header (an .mhd's .raw), resolved inside the set's
    # folder at discovery; the only other files a read may open (frd.imageio checks it).
    data_files: tuple[str, ...] = ()
    # An image in memory (frd.sources.Pixels): no file is read; ``files`` holds its name.
    pixels: Any = field(default=None, compare=False)

    @property
    def is_dicom_series(self) -> bool:
        return self.pixels is None and (len(self.files) > 1 or self.files[0].lower().endswith(DICOM_EXTENSIONS))

    def content_hash(self) -> str:
        """SHA-256 over the bytes of the image and of the data files its header names
        (for an image in memory: its pixels, dtype, shape and geometry)."""
        if self.pixels is not None:
            return self.pixels.digest()
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(Path(path).name.encode() if len(self.files) > 1 else b"")
            _hash_file(digest, path)
        for path in self.data_files:
            # The data file's name enters too: pointing the header at another file of the
            # same bytes changes nothing, at another content changes the key.
            digest.update(b"\0data\0" + Path(path).name.encode())
            _hash_file(digest, path)
        return digest.hexdigest()


def _hash_file(digest, path) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)


def with_data_files(item: ImageItem, root: Path) -> ImageItem:
    """``item`` with the detached data files its header names, each resolved inside the
    set's folder ``root`` (an :class:`InputError` when one points elsewhere or is missing)."""
    from .headers import detached_references, resolve_inside

    data = []
    for path in item.files:
        for reference in detached_references(path):
            data.append(str(resolve_inside(Path(path), reference, root)))
    return replace(item, data_files=tuple(data)) if data else item


def compound_suffix(path: str) -> str:
    """The lower-case extension, ``.nii.gz`` counted as one."""
    lower = path.lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(lower).suffix


def strip_extension(name: str) -> str:
    suffix = compound_suffix(name)
    return name[: len(name) - len(suffix)] if suffix else name


def _looks_like_dicom(path: Path) -> bool:
    if path.name.lower().endswith(DICOM_EXTENSIONS):
        return True
    if path.suffix:  # other extensions are not DICOM; extension-less files may be
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _is_image_file(path: Path) -> bool:
    return compound_suffix(path.name) in IMAGE_EXTENSIONS_2D + IMAGE_EXTENSIONS_3D


def _dicom_series(folder: Path, files: list[Path], root: Path) -> list[ImageItem]:
    """Group the DICOM files of one folder into series (SimpleITK/GDCM order)."""
    import SimpleITK as sitk

    items = []
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ()
    rel = folder.relative_to(root).as_posix() if folder != root else "."
    for sid in series_ids:
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid)
        name = rel if len(series_ids) == 1 else f"{rel}/{sid}"
        items.append(ImageItem(name=name, files=tuple(names)))
    if not items:
        # Unparseable DICOM files: keep them as single items so that reading reports them.
        items = [ImageItem(name=f.relative_to(root).as_posix(), files=(str(f),)) for f in files]
    return items


_extracted_dirs: list[str] = []


def _cleanup_extracted() -> None:
    for path in _extracted_dirs:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_cleanup_extracted)


def _scan_folder(root: Path, recursive: bool) -> list[ImageItem]:
    items: list[ImageItem] = []
    walker: Iterable[Path] = root.rglob("*") if recursive else root.glob("*")
    dicom_by_folder: dict[Path, list[Path]] = {}
    for path in walker:
        if not path.is_file() or path.name.startswith("."):
            continue
        if _is_image_file(path):
            items.append(with_data_files(ImageItem(name=path.relative_to(root).as_posix(), files=(str(path),)), root))
        elif _looks_like_dicom(path):
            dicom_by_folder.setdefault(path.parent, []).append(path)
    for folder, files in sorted(dicom_by_folder.items()):
        items.extend(_dicom_series(folder, files, root))
    return items


def discover(source: SetSource, *, recursive: bool = True) -> list[ImageItem]:
    """The images of a set, sorted by name. Raises :class:`InputError` when there are none."""
    if isinstance(source, (list, tuple)):
        items: list[ImageItem] = []
        for entry in source:
            path = Path(entry)
            if not path.exists():
                raise InputError(f"{path}: no such file")
            if path.is_dir():
                items.extend(replace(i, name=f"{path.name}/{i.name}") for i in _scan_folder(path, recursive))
            else:
                items.append(with_data_files(ImageItem(name=path.name, files=(str(path),)), path.parent))
        # File lists keep the caller's order; names must still be unique for pairing.
        _check_unique(items, "the file list")
        if not items:
            raise InputError("the file list is empty")
        return items
    if not isinstance(source, (str, Path)):
        raise InputError(f"a set is a folder, a .zip, or a list of files, not {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".zip":
        target = Path(tempfile.mkdtemp(prefix="frd-zip-"))
        _extracted_dirs.append(str(target))
        extract_zip(path, target)
        items = _scan_folder(target, recursive=True)
        where = f"{path} (zip archive)"
    elif path.is_file():
        items = [with_data_files(ImageItem(name=path.name, files=(str(path),)), path.parent)]
        where = str(path)
    else:
        items = _scan_folder(path, recursive)
        where = str(path)
    if not items:
        raise InputError(
            f"{where}: no images found (looked for {', '.join(IMAGE_EXTENSIONS_2D + IMAGE_EXTENSIONS_3D)} "
            "and DICOM series)"
        )
    return sorted(items, key=lambda i: i.name)


def _check_unique(items: list[ImageItem], where: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise InputError(f"{where}: two images are both named {item.name!r}")
        seen.add(item.name)


def _mask_keys(name: str) -> list[str]:
    """Lookup keys of a mask name: with and without a known mask suffix."""
    base = strip_extension(name).lower()
    keys = [base]
    for suffix in MASK_SUFFIXES[1:]:
        if base.endswith(suffix):
            keys.append(base[: -len(suffix)])
    return keys


def pair_masks(images: list[ImageItem], masks: list[ImageItem], *, mask_root: str = "") -> list[ImageItem]:
    """Attach to every image the mask of the same name (relative path first, then stem).

    Raises :class:`InputError` naming the image when it has no mask or more than one
    candidate, so that a mis-pairing can never pass silently.
    """
    by_path: dict[str, list[ImageItem]] = {}
    by_stem: dict[str, list[ImageItem]] = {}
    for mask in masks:
        for key in _mask_keys(mask.name):
            by_path.setdefault(key, []).append(mask)
            by_stem.setdefault(key.rsplit("/", 1)[-1], []).append(mask)
    paired = []
    for image in images:
        key = strip_extension(image.name).lower()
        candidates = _unique(by_path.get(key, []))
        if not candidates:
            candidates = _unique(by_stem.get(key.rsplit("/", 1)[-1], []))
        if not candidates:
            raise InputError(
                f"no mask for image {image.files[0]} in {mask_root or 'the mask set'} "
                f"(looked for {strip_extension(image.name)}{{,_mask,_seg,_label}} with any image extension)"
            )
        if len(candidates) > 1:
            names = ", ".join(c.files[0] for c in candidates)
            raise InputError(f"image {image.files[0]} matches several masks: {names}")
        paired.append(replace(image, mask=candidates[0]))
    return paired


def _unique(items: list[ImageItem]) -> list[ImageItem]:
    seen, out = set(), []
    for item in items:
        if item.files not in seen:
            seen.add(item.files)
            out.append(item)
    return out


def load_set(source: SetSource, masks: SetSource | None = None, *, recursive: bool = True) -> list[ImageItem]:
    """Discover a set's images and, when a mask source is given, pair every image with its mask."""
    images = discover(source, recursive=recursive)
    if masks is None:
        return images
    mask_items = discover(masks, recursive=recursive)
    return pair_masks(images, mask_items, mask_root=str(masks))
