"""Content-addressed file store and per-dataset views of it.

Uploaded bytes go to a temporary file (hashed and counted while they arrive), are
fsynced, and atomically renamed to ``blobs/<sha[:2]>/<sha>``; only then does the caller
record them in the database. A dataset is materialised as a folder of hard links named
like the uploaded files, which is what the ``frd`` library reads — so the same content
uploaded twice is stored once and, through the library's feature cache, extracted once.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import time
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
    "dicom": ((".dcm", ".dicom"), ".dcm"),  # an extension-less DICOM file is stored as .dcm
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


MAX_NAME_BYTES = 200  # one path component; room left for the extension a kind may add (limit 255)
MAX_PATH_BYTES = 1024


class UnsafeName(ValueError):
    """A client-given file name that cannot be stored as given; the message says why."""


def safe_relative_name(name: str) -> str:
    """A client-given file name as a safe relative POSIX path; :class:`UnsafeName` when it
    is absolute, climbs with '..', is hidden, holds control characters or is too long."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UnsafeName("the file name holds control characters")
    name = name.replace("\\", "/").strip()
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or any(":" in p for p in path.parts[:1]):
        raise UnsafeName("unsafe file name (absolute, '..' or a drive)")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(p.startswith(".") for p in parts):
        raise UnsafeName("unsafe file name (empty or hidden)")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise UnsafeName(f"a part of the file name is longer than {MAX_NAME_BYTES} bytes")
    joined = "/".join(parts)
    if len(joined.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise UnsafeName(f"the file name is longer than {MAX_PATH_BYTES} bytes")
    return joined


@dataclass
class Blob:
    sha256: str
    size: int
    head: bytes


class StorageFull(OSError):
    """The data dir's disk is full (or over quota); nothing of the request is kept."""


class BlobStore:
    """Blobs, dataset views and this process's temp folder under one data dir.

    Each process writes its temp files (uploads in flight, staging folders, the views of
    synchronous requests) under ``tmp/<host>-<pid>``, so that a process starting after a
    crash knows which leftovers are dead (:meth:`clean_dead_temps`).

    Blobs are reference-counted by the ``dataset_files`` rows: a blob no row names is
    deleted (:meth:`delete_unreferenced`), always inside a write transaction of the
    database. An upload keeps its temp file until its rows are recorded, and re-links the
    blob in the recording transaction when a deletion took it meanwhile
    (:meth:`ensure`): the two serialise on the database's write lock.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.views = self.root / "datasets"
        self.tmp_root = self.root / "tmp"
        self.tmp = self.tmp_root / process_tag()
        for folder in (self.tmp, self.blobs, self.views):
            folder.mkdir(parents=True, exist_ok=True)

    def new_temp(self) -> TempWriter:
        return TempWriter(self.tmp / uuid.uuid4().hex)

    def path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def commit(self, writer: TempWriter) -> Blob:
        """Link a finished temp file into the store (fsync first); the temp file stays
        until the caller has recorded the blob, then ``writer.discard()``."""
        writer.finish()
        self.ensure(writer.sha256, writer.path)
        return Blob(writer.sha256, writer.size, writer.head)

    def ensure(self, sha256: str, source: Path) -> None:
        """The blob ``sha256`` is in the store (linked from ``source`` when missing)."""
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            return
        _fsync_dir(target.parent)

    def delete_unreferenced(self, conn, shas) -> int:
        """Inside a write transaction ``conn``: delete the blobs among ``shas`` that no
        dataset file names any more. Returns how many were deleted."""
        deleted = 0
        for sha in set(shas):
            if conn.execute("SELECT 1 FROM dataset_files WHERE sha256 = ? LIMIT 1", (sha,)).fetchone():
                continue
            try:
                self.path(sha).unlink()
                deleted += 1
            except FileNotFoundError:
                pass
        return deleted

    def blob_shas(self, prefix: str) -> list[str]:
        folder = self.blobs / prefix
        try:
            return [p.name for p in folder.iterdir() if len(p.name) == 64]
        except FileNotFoundError:
            return []

    def blob_prefixes(self) -> list[str]:
        return sorted(p.name for p in self.blobs.iterdir() if p.is_dir())

    def dataset_view(self, dataset_id: str, files: list[tuple[str, str, Path]], *, where: Path | None = None) -> Path:
        """A folder of hard links ``<role>s/<name>`` to the (role, name, source file) given,
        under ``where`` (default: the dataset views)."""
        view = (where or self.views) / dataset_id
        if view.exists():
            return view
        staging = self.tmp / f"view-{uuid.uuid4().hex}"
        try:
            for role, name, source in files:
                target = staging / f"{role}s" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(source, target)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise StorageFull(exc.errno, "no space left on the data dir") from None
                    shutil.copyfile(source, target)
            os.replace(staging, view)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)  # nothing half-built is left behind
            if view.exists() and not isinstance(exc, StorageFull):
                return view  # another thread built it first
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return view

    def blob_view(self, dataset_id: str, rows) -> Path:
        """The view of a recorded dataset from its (role, name, sha) rows."""
        return self.dataset_view(dataset_id, [(role, name, self.path(sha)) for role, name, sha in rows])

    def drop_view(self, dataset_id: str) -> None:
        shutil.rmtree(self.views / dataset_id, ignore_errors=True)

    def clean_dead_temps(self, stale_seconds: float = 24 * 3600) -> int:
        """Remove what dead processes left in ``tmp/``: at once for a process of this host
        that no longer runs, after ``stale_seconds`` for another host's. Returns the count."""
        removed = 0
        host = socket.gethostname()
        for folder in self.tmp_root.iterdir():
            if folder == self.tmp:
                continue
            owner_host, _, pid = folder.name.rpartition("-")
            dead = (owner_host == host and pid.isdigit() and not pid_alive(int(pid))) or (
                owner_host != host and time.time() - folder.stat().st_mtime > stale_seconds
            )
            if dead:
                shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
                removed += 1
        return removed


def process_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TempWriter:
    """A temp file that hashes and counts what is written and enforces a size limit."""

    def __init__(self, path: Path, limit: int | None = None):
        self.path = path
        self.limit = limit
        try:
            self._fh = open(path, "wb")
        except OSError as exc:
            raise _storage_error(exc) from None
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
        try:
            self._fh.write(data)
        except OSError as exc:
            raise _storage_error(exc) from None

    def finish(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise _storage_error(exc) from None
            finally:
                self._fh.close()
        self.sha256 = self._hash.hexdigest()

    def discard(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.close()  # flushes its buffer: fails again on a full disk
            except OSError:
                pass
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _storage_error(exc: OSError) -> OSError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(exc.errno, "no space left on the data dir")
    return exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
