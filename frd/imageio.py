"""Reading images and masks with SimpleITK, the way the FRD reference reads them.

Single-channel images are read as float32 (full 8/16-bit depth kept). RGB/RGBA images
are converted to luminance (ITU-R BT.601 weights), which the caller reports as a notice.
A DICOM series is read as one volume with SimpleITK's series reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import FRDError
from .inputs import ImageItem, compound_suffix
from .quiet import c_stderr_silenced

LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)
# Decompression-bomb guard: refuse headers announcing more voxels than this.
MAX_VOXELS = 2_000_000_000


# The one SimpleITK reader of each file type, chosen by extension. Left to itself,
# SimpleITK asks every registered reader in turn whether it can read a file, some of them
# by content (HDF5, GE, Bruker, ...; formats that may name other files); naming the reader
# makes what a file's type is, and what a read may open, a decision made here.
IMAGE_IO = {
    ".png": "PNGImageIO",
    ".jpg": "JPEGImageIO",
    ".jpeg": "JPEGImageIO",
    ".bmp": "BMPImageIO",
    ".tif": "TIFFImageIO",
    ".tiff": "TIFFImageIO",
    ".nii": "NiftiImageIO",
    ".nii.gz": "NiftiImageIO",
    ".nrrd": "NrrdImageIO",
    ".nhdr": "NrrdImageIO",
    ".mha": "MetaImageIO",
    ".mhd": "MetaImageIO",
    ".dcm": "GDCMImageIO",
    ".dicom": "GDCMImageIO",
    "": "GDCMImageIO",  # extension-less: DICOM
}


class ImageReadError(FRDError, ValueError):
    """The file is unreadable, truncated, empty or not an image: ``reason`` says why (in
    words, without ITK's internals), the message is ``path: reason``."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


def image_io(path: str) -> str:
    """The SimpleITK reader for ``path`` (by its extension); ImageReadError for other types."""
    suffix = compound_suffix(path)
    if suffix not in IMAGE_IO:
        raise ImageReadError(
            path, f"{suffix!r} files are not read (supported: {', '.join(sorted(s for s in IMAGE_IO if s))} and DICOM)"
        )
    return IMAGE_IO[suffix]


def check_references(item: ImageItem) -> None:
    """Right before a read: the header names no file but the data files found (inside the
    set's folder) at discovery — a header edited since, or an item built by hand with a
    detached header, is refused rather than followed."""
    from .headers import HeaderError, detached_references

    allowed = set(item.data_files)
    for path in item.files:
        try:
            references = detached_references(path)
        except HeaderError as exc:
            raise ImageReadError(path, str(exc).split(": ", 1)[-1]) from None
        except OSError as exc:
            raise ImageReadError(path, f"cannot read its header: {exc.strerror}") from None
        for reference in references:
            target = Path(reference) if Path(reference).is_absolute() else Path(path).parent / reference
            if str(target.resolve()) not in allowed:
                raise ImageReadError(
                    path,
                    "its header names a data file that was not found inside the set's "
                    "folder when the set was read; it is not followed",
                )


def _reader(path: str) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetImageIO(image_io(path))
    reader.SetFileName(path)
    return reader


def _series_reader(files) -> sitk.ImageSeriesReader:
    reader = sitk.ImageSeriesReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileNames(list(files))
    return reader


@dataclass(frozen=True)
class ImageInfo:
    size: tuple[int, ...]  # SimpleITK order (x, y[, z])
    components: int
    value_span: float | None = None  # max - min an integer pixel type can hold; None for floats
    spacing: tuple[float, ...] = ()  # mm, in the order of ``size``

    @property
    def extent(self) -> float:
        """The product of size and spacing along every axis. Both presets resample to a
        fixed spacing, so this, and not the number of voxels or the compressed file's size,
        is what an image costs to extract: the 3D fixtures all hold 32×32×16 voxels, yet
        the largest takes 1.5 times as long as the smallest."""
        return float(np.prod(np.multiply(self.size, self.spacing)))

    @property
    def ndim(self) -> int:
        """2 for a 2D image (or a 3D one with a single slice), else 3 — the reference's rule."""
        return 2 if len(self.size) == 2 or (len(self.size) == 3 and self.size[2] == 1) else 3


def probe(item: ImageItem) -> ImageInfo:
    """Read only the header: size, spacing and channels. Raises ImageReadError for bad files."""
    path = item.files[0]
    check_references(item)
    try:
        reader = _reader(path)
        with c_stderr_silenced():  # libpng prints its own "libpng error" lines
            reader.ReadImageInformation()
        size = tuple(int(s) for s in reader.GetSize())
        spacing = tuple(float(s) for s in reader.GetSpacing())
        components = int(reader.GetNumberOfComponents())
        span = _INTEGER_SPANS.get(reader.GetPixelIDValue())
    except RuntimeError as exc:
        raise ImageReadError(path, f"cannot read the image header: {_itk_reason(exc)}") from None
    if len(item.files) > 1:
        size = (*size[:2], len(item.files))
    if 0 in size:
        raise ImageReadError(path, f"the header announces an empty image {size}")
    if int(np.prod(size, dtype=np.int64)) > MAX_VOXELS:
        raise ImageReadError(
            path, f"an image of {size} voxels exceeds the limit of {MAX_VOXELS} (decompression-bomb guard)"
        )
    return ImageInfo(size=size, components=components, value_span=span, spacing=spacing)


# SimpleITK's scalar integer pixel types (the engine's kernels and checks read them directly).
INTEGER_PIXEL_TYPES = frozenset(getattr(sitk, f"sitk{sign}Int{bits}") for bits in (8, 16, 32, 64) for sign in ("U", ""))

_INTEGER_SPANS = {
    pixel_id: float(2**bits - 1)
    for bits, names in (
        (8, ("UInt8", "Int8")),
        (16, ("UInt16", "Int16")),
        (32, ("UInt32", "Int32")),
        (64, ("UInt64", "Int64")),
    )
    for name in names
    for prefix in ("sitk", "sitkVector")
    if (pixel_id := getattr(sitk, prefix + name, None)) is not None and pixel_id >= 0
}


def read_image(item: ImageItem) -> tuple[sitk.Image, str | None]:
    """The image as float32 and an optional notice (e.g. colour converted to luminance)."""
    if item.pixels is not None:
        return _in_memory(item)
    path = item.files[0]
    try:
        if len(item.files) > 1:
            check_references(item)
            series = _series_reader(item.files)
            series.SetOutputPixelType(sitk.sitkFloat32)
            with c_stderr_silenced():
                return series.Execute(), None
        info = probe(item)
        reader = _reader(path)
        with c_stderr_silenced():
            if info.components == 1:
                reader.SetOutputPixelType(sitk.sitkFloat32)
                return reader.Execute(), None
            image = reader.Execute()
    except RuntimeError as exc:
        raise ImageReadError(path, f"cannot read the image: {_itk_reason(exc)}") from None
    return _to_luminance(image), (
        f"{item.name}: {image.GetNumberOfComponentsPerPixel()}-channel image converted to luminance"
    )


def read_mask(item: ImageItem) -> sitk.Image:
    """A mask in its stored pixel type (the reference's reading)."""
    if item.pixels is not None:
        mask = item.pixels.image(float32=False)
        return sitk.VectorIndexSelectionCast(mask, 0) if mask.GetNumberOfComponentsPerPixel() > 1 else mask
    check_references(item)
    try:
        with c_stderr_silenced():
            if len(item.files) > 1:
                return _series_reader(item.files).Execute()
            mask = _reader(item.files[0]).Execute()
    except RuntimeError as exc:
        raise ImageReadError(item.files[0], f"cannot read the mask {item.files[0]}: {_itk_reason(exc)}") from None
    if mask.GetNumberOfComponentsPerPixel() > 1:
        mask = sitk.VectorIndexSelectionCast(mask, 0)
    return mask


def _in_memory(item: ImageItem) -> tuple[sitk.Image, str | None]:
    """An image given as an array: float32 as files are read, colour to luminance alike."""
    pixels = item.pixels
    if not np.isfinite(pixels.array).all():
        raise ImageReadError(item.name, "the image holds NaN or infinite values")
    if int(np.prod(pixels.shape, dtype=np.int64)) > MAX_VOXELS:
        raise ImageReadError(item.name, f"an image of {pixels.shape} voxels exceeds the limit of {MAX_VOXELS}")
    if not pixels.colour:
        return pixels.image(), None
    image = pixels.image(float32=False)
    return _to_luminance(image), (
        f"{item.name}: {image.GetNumberOfComponentsPerPixel()}-channel image converted to luminance"
    )


def _to_luminance(image: sitk.Image) -> sitk.Image:
    channels = [sitk.VectorIndexSelectionCast(image, i, sitk.sitkFloat32) for i in range(3)]
    lum = channels[0] * LUMINANCE_WEIGHTS[0] + channels[1] * LUMINANCE_WEIGHTS[1]
    lum = lum + channels[2] * LUMINANCE_WEIGHTS[2]
    return sitk.Cast(lum, sitk.sitkFloat32)


def same_geometry(image: sitk.Image, mask: sitk.Image, tolerance: float = 1e-3) -> str | None:
    """None when the mask fits the image voxel for voxel; otherwise what differs."""
    if image.GetSize() != mask.GetSize():
        return f"size {mask.GetSize()} differs from the image's {image.GetSize()}"
    for what, a, b in (
        ("spacing", image.GetSpacing(), mask.GetSpacing()),
        ("origin", image.GetOrigin(), mask.GetOrigin()),
        ("direction", image.GetDirection(), mask.GetDirection()),
    ):
        scale = max(1.0, *map(abs, a))
        if any(abs(x - y) > tolerance * scale for x, y in zip(a, b)):
            return f"{what} {tuple(round(v, 6) for v in b)} differs from the image's {tuple(round(v, 6) for v in a)}"
    return None


def _itk_reason(exc: Exception) -> str:
    """What went wrong, in words: SimpleITK's message without its source locations,
    object addresses and error-class prefixes."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Exception thrown in SimpleITK")]
    text = (useful or lines or ["unknown error"])[-1]
    text = re.sub(r"^(sitk::ERROR|ITK ERROR)(: \w+\(0x[0-9a-fA-F]+\))?:\s*", "", text)
    if text.startswith("Unable to determine ImageIO reader"):
        return "not an image SimpleITK can read (an unknown format, an empty or a damaged file)"
    if re.search(r"critical error|Error while reading|Read Error|unexpected end", text, re.I):
        return "the image data cannot be decoded (a truncated or damaged file)"
    return text[:300]
