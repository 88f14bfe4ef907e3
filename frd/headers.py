"""Which other files an image's header makes a reader open, read from the header alone.

Some formats keep their pixels apart from their header: a MetaImage header names its
data in ``ElementDataFile``, an NRRD header in ``data file`` (or ``datafile``, or a LIST
of files, or a printf pattern), and a two-file NIfTI or Analyze header (magic ``ni1`` /
``ni2``, or none) is read with the ``.img`` next to it. SimpleITK opens whatever such a
header names, so these references decide what a read touches.

Every other format SimpleITK is allowed to open here (:data:`frd.imageio.IMAGE_IO`) is
self-contained: PNG, JPEG, BMP and TIFF hold their pixels, and a DICOM file is read by
GDCM on its own (a series is assembled only from files of the set's own folder).

:func:`detached_references` parses a header without any image library and returns the
names it references (empty when the data is inline). The service refuses every upload
that references anything; the library resolves the references inside the set's folder
(:mod:`frd.inputs`) and checks them again right before reading (:mod:`frd.imageio`).
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

from .errors import InputError

# A header longer than this is refused: real MetaImage/NRRD headers are a few hundred
# bytes, and a reader must not be made to scan a huge file for its end.
MAX_HEADER_BYTES = 64 * 1024
# A LIST or a file pattern expanding to more files than this is refused.
MAX_DATA_FILES = 100_000

METAIMAGE_SUFFIXES = (".mha", ".mhd")
NRRD_SUFFIXES = (".nrrd", ".nhdr")
NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".img.gz", ".hdr.gz")


class HeaderError(InputError):
    """A header that cannot be checked (too long, unterminated, malformed)."""


def _suffix(path: Path) -> str:
    lower = path.name.lower()
    for double in (".nii.gz", ".img.gz", ".hdr.gz"):
        if lower.endswith(double):
            return double
    return path.suffix.lower()


def _read_head(path: Path, limit: int = MAX_HEADER_BYTES) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(limit + 1)


def detached_references(path: str | Path) -> list[str]:
    """The file names ``path``'s header makes a reader open besides ``path`` itself, as
    written in the header (relative names are relative to the header's folder).

    Raises :class:`HeaderError` when the header cannot be checked; the message names
    the file and the reason.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in METAIMAGE_SUFFIXES:
        return _metaimage_references(path)
    if suffix in NRRD_SUFFIXES:
        return _nrrd_references(path)
    if suffix in NIFTI_SUFFIXES:
        return _nifti_references(path, suffix)
    return []


# ----- MetaImage ----------------------------------------------------------------------------
_META_FIELD = re.compile(rb"^\s*([A-Za-z0-9_]+)\s*[=:]\s*(.*?)\s*$")


def _metaimage_references(path: Path) -> list[str]:
    head = _read_head(path)
    lines = head.split(b"\n")
    for index, raw in enumerate(lines):
        match = _META_FIELD.match(raw.rstrip(b"\r"))
        if match is None or match.group(1).lower() != b"elementdatafile":
            continue
        # MetaIO stops reading the header at ElementDataFile: what follows is data (LOCAL)
        # or, for LIST, the names of the data files, one a line.
        value = match.group(2).decode("utf-8", "replace")
        if value == "LOCAL":
            return []
        return _data_file_value(path, value, head, lines[index + 1 :])
    if len(head) > MAX_HEADER_BYTES:
        raise HeaderError(f"{path}: no ElementDataFile within the first {MAX_HEADER_BYTES} bytes of its header")
    raise HeaderError(f"{path}: its MetaImage header has no ElementDataFile field")


# ----- NRRD ---------------------------------------------------------------------------------
def _nrrd_references(path: Path) -> list[str]:
    head = _read_head(path)
    if not head.startswith(b"NRRD"):
        raise HeaderError(f"{path}: not an NRRD file (no NRRD magic)")
    lines = head.split(b"\n")
    for index, raw in enumerate(lines[1:], start=1):
        line = raw.rstrip(b"\r")
        if not line.strip():
            return []  # the blank line ends the header: the data follows (attached)
        if line.startswith(b"#"):
            continue
        field, sep, value = line.partition(b":")
        if not sep:
            continue
        name = re.sub(rb"[\s_\-]", b"", field).lower()
        if name == b"datafile":
            return _data_file_value(path, value.decode("utf-8", "replace").strip(), head, lines[index + 1 :])
    if len(head) > MAX_HEADER_BYTES:
        raise HeaderError(f"{path}: its NRRD header does not end within {MAX_HEADER_BYTES} bytes")
    return []  # the whole file is a header without data: reading it fails, nothing else is opened


def _data_file_value(path: Path, value: str, head: bytes, rest: list[bytes]) -> list[str]:
    """The files a data-file field names: LIST (the names on the lines after it, which
    both formats use), a ``format min max step`` pattern, or one file."""
    if value.upper().startswith("LIST"):
        if len(head) > MAX_HEADER_BYTES:
            raise HeaderError(f"{path}: its data file LIST is longer than {MAX_HEADER_BYTES} bytes")
        names = [ln.decode("utf-8", "replace").strip() for ln in rest if ln.strip()]
        return names[: MAX_DATA_FILES + 1] or [value]
    return _pattern_files(path, value)


def _pattern_files(path: Path, value: str) -> list[str]:
    """One file name, or the names a ``format min max step`` pattern expands to."""
    parts = value.split()
    if "%" in value and len(parts) >= 4:
        fmt = parts[0]
        try:
            start, stop, step = int(parts[1]), int(parts[2]), int(parts[3])
            count = 0 if step == 0 else (stop - start) // step + 1
            if step == 0 or count > MAX_DATA_FILES:
                raise ValueError
            return [fmt % i for i in range(start, stop + (1 if step > 0 else -1), step)]
        except (ValueError, TypeError, OverflowError):
            raise HeaderError(
                f"{path}: its header names its data files with a pattern that cannot be expanded safely"
            ) from None
    return [value]


# ----- NIfTI / Analyze ----------------------------------------------------------------------
def _nifti_references(path: Path, suffix: str) -> list[str]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_HEADER_BYTES)
        if suffix.endswith(".gz"):
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 544)
        else:
            head = raw[:544]
    except (zlib.error, gzip.BadGzipFile, EOFError) as exc:
        raise HeaderError(f"{path}: not a readable gzip stream ({exc})") from None
    if len(head) >= 348 and head[344:348] == b"n+1\x00" and suffix in (".nii", ".nii.gz"):
        return []
    if len(head) >= 12 and head[4:8] == b"n+2\x00" and suffix in (".nii", ".nii.gz"):
        return []
    # A two-file NIfTI (ni1/ni2) or an Analyze header: the pixels are in the .img beside it.
    stem = path.name[: len(path.name) - len(suffix)]
    return [stem + (".img.gz" if suffix.endswith(".gz") else ".img")]


def resolve_inside(header: Path, reference: str, root: Path) -> Path:
    """The data file ``reference`` of ``header``, resolved (symbolic links followed); an
    :class:`~frd.errors.InputError` unless it is a regular file inside ``root``."""
    if "\x00" in reference:
        raise InputError(f"{header}: its header names a data file with a NUL byte")
    target = Path(reference)
    candidate = target if target.is_absolute() else header.parent / target
    resolved = candidate.resolve()
    base = Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise InputError(
            f"{header}: its header names the data file {reference!r}, which is outside the "
            f"set's folder {root}; keep a detached header's data next to it"
        )
    if not resolved.is_file():
        raise InputError(f"{header}: its header names the data file {reference!r}, which is not a file in {root}")
    return resolved
