"""Content-addressed file store and per-dataset views of it.

Uploaded bytes go to a temporary file (hashed and counted while they arrive), are
fsynced, and atomically renamed to ``blobs/<sha[:2]>/<sha>``; only then does the caller
record them in the database. A dataset is materialised as a folder of hard links named
like the uploaded files, which is what the ``frd`` library reads — so the same content
uploaded twice is stored once and, through the library's feature cache, extracted once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from frd.inputs import compound_suffix


class TooLarge(Exception):
    """A size limit was exceeded while streaming; the message says which."""


# Content signatures → (kind, extensions accepted for that kind, canonical extension)
KINDS = {
    "png": ((".png",), ".png"),
    "jpeg": ((".jpg", ".jpeg"), ".jpg"),
    "bmp": ((".bmp",), ".bmp"),
    "tiff": ((".tif", ".tiff"), ".tif"),
    "nifti": ((".nii",), ".nii"),
    "nifti-gz": ((".nii.gz",), ".nii.gz"),
    "nrrd": ((".nrrd",), ".nrrd"),
    "metaimage": ((".mha",), ".mha"),
    "dicom": ((".dcm", ".dicom", ""), ".dcm"),
}


def sniff(head: bytes) -> str | None:
    """The image kind of a file from its first bytes, or None when it is no image we read."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"NRRD"):
        return "nrrd"
    if head.startswith(b"\x1f\x8b"):
        return "nifti-gz"  # gzip: only .nii.gz is accepted compressed; reading checks the rest
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    text = head[:64].lstrip()
    if text.startswith((b"ObjectType", b"NDims")):
        return "metaimage"
    return None


def stored_name(name: str, kind: str) -> str:
    """The file name to use on disk: the upload's, with an extension matching its content."""
    accepted, canonical = KINDS[kind]
    suffix = compound_suffix(name)
    if suffix in accepted:
        return name
    return name + canonical


def safe_relative_name(name: str) -> str | None:
    """A client-given file name as a safe relative POSIX path, or None if it is hostile."""
    name = name.replace("\\", "/").strip()
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or any(":" in p for p in path.parts[:1]):
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(p.startswith(".") for p in parts):
        return None
    return "/".join(parts)


@dataclass
class Blob:
    sha256: str
    size: int
    head: bytes


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.blobs = self.root / "blobs"
        self.views = self.root / "datasets"
        for folder in (self.tmp, self.blobs, self.views):
            folder.mkdir(parents=True, exist_ok=True)

    def new_temp(self) -> "TempWriter":
        return TempWriter(self.tmp / uuid.uuid4().hex)

    def path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def commit(self, writer: "TempWriter") -> Blob:
        """Move a finished temp file into the store (fsync, atomic rename); returns its blob."""
        writer.finish()
        target = self.path(writer.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            writer.discard()
        else:
            os.replace(writer.path, target)
            _fsync_dir(target.parent)
        return Blob(writer.sha256, writer.size, writer.head)

    def dataset_view(self, dataset_id: str, files: list[tuple[str, str, str]]) -> Path:
        """A folder of hard links ``<role>s/<name>`` for the dataset's (role, name, sha) rows."""
        view = self.views / dataset_id
        if view.exists():
            return view
        staging = self.views / f".{dataset_id}.{uuid.uuid4().hex}"
        for role, name, sha in files:
            target = staging / f"{role}s" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.path(sha), target)
            except OSError:
                shutil.copyfile(self.path(sha), target)
        try:
            os.replace(staging, view)
        except OSError:  # another thread built it first
            shutil.rmtree(staging, ignore_errors=True)
        return view

    def drop_view(self, dataset_id: str) -> None:
        shutil.rmtree(self.views / dataset_id, ignore_errors=True)


class TempWriter:
    """A temp file that hashes and counts what is written and enforces a size limit."""

    def __init__(self, path: Path, limit: int | None = None):
        self.path = path
        self.limit = limit
        self._fh = open(path, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.sha256 = ""

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise TooLarge(f"file exceeds the per-file limit of {self.limit} bytes")
        if len(self.head) < 512:
            self.head += data[: 512 - len(self.head)]
        self._hash.update(data)
        self._fh.write(data)

    def finish(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        self.sha256 = self._hash.hexdigest()

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
