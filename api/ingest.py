"""Turning uploaded parts into a dataset: validate each file by its content and header,
check the images pair with their masks, then store and record the dataset.

Each file is accepted or rejected on its own, with a reason. Accepted files stay temp
files (``IngestReport.release`` deletes them) until :func:`create_dataset` links them
into the blob store and records them in one write transaction, so an upload that fails
half-way leaves no stored bytes; a synchronous request never stores them at all.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from frd.archive import ArchiveError, ArchiveLimits, extract_zip
from frd.inputs import ImageItem, InputError, load_set

from .db import Database, now
from .scrub import scrub
from .settings import Settings
from .store import KINDS, BlobStore, TempWriter, UnsafeName, safe_relative_name, sniff, stored_name
from .uploads import ParsedForm

log = logging.getLogger("frd.api")


@dataclass
class Accepted:
    role: str
    name: str
    sha256: str
    size: int
    kind: str
    temp: TempWriter | None = field(repr=False)  # None: a file this owner had already stored
    value_span: float | None = None

    @property
    def reused(self) -> bool:
        return self.temp is None


@dataclass
class IngestReport:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def reject(self, name: str, reason: str) -> None:
        self.rejected.append({"name": name, "reason": reason})

    def files(self, store: BlobStore) -> list[tuple[str, str, Path]]:
        """(role, name, file) of the accepted files, for a view of them."""
        return [(a.role, a.name, a.temp.path if a.temp is not None else store.path(a.sha256)) for a in self.accepted]

    @property
    def uploaded_bytes(self) -> int:
        """What the client sent (reused files cost nothing)."""
        return sum(a.size for a in self.accepted if not a.reused)

    def release(self) -> None:
        """Delete the accepted files' temp copies (stored blobs are not touched)."""
        for a in self.accepted:
            if a.temp is not None:
                a.temp.discard()


def _check_image(path: Path, name: str, kind: str, settings: Settings):
    """(None, header info) when the file's header is acceptable, else (the reason, None). Only headers are read
    here (a request thread): the pixels are decoded by the extraction workers, which
    report a file whose data turns out corrupt among the skipped images.

    The header must be self-contained: a header naming another file (MetaImage
    ElementDataFile, NRRD data file, a two-file NIfTI) would make the reader open a file
    of the server's choosing, so it is refused before SimpleITK sees it.
    """
    from frd.headers import HeaderError, detached_references
    from frd.imageio import ImageReadError, probe

    probe_path = path.with_name(path.name + "_" + uuid.uuid4().hex[:8] + KINDS[kind][1])
    os.link(path, probe_path)
    try:
        try:
            if detached_references(probe_path):
                return (
                    "its header names a separate data file; upload self-contained images "
                    "(MetaImage with ElementDataFile = LOCAL, NRRD with attached data, single-file NIfTI)"
                ), None
        except HeaderError as exc:
            return str(exc).split(": ", 1)[-1], None
        info = probe(ImageItem(name=name, files=(str(probe_path),)))
        voxels = 1
        for s in info.size:
            voxels *= s
        if voxels > settings.max_image_voxels:
            return (
                f"image of {info.size} voxels exceeds the limit of {settings.max_image_voxels} "
                "(decompression-bomb guard)"
            ), None
    except ImageReadError as exc:
        return str(exc).split(": ", 1)[-1], None
    finally:
        probe_path.unlink(missing_ok=True)
    return None, info


class Names:
    """The names accepted so far, as files and as the folders they imply: ``a.png`` and
    ``a.png/b.png`` cannot both be laid out in a dataset's folder."""

    def __init__(self):
        self.files: set[tuple[str, str]] = set()
        self.folders: set[tuple[str, str]] = set()

    def clash(self, role: str, name: str) -> str | None:
        if (role, name) in self.files:
            return "duplicate file name in this upload"
        if (role, name) in self.folders:
            return "the name is also a folder of other files in this upload"
        parts = name.split("/")
        for i in range(1, len(parts)):
            if (role, "/".join(parts[:i])) in self.files:
                return f"its folder {'/'.join(parts[:i])!r} is also a file in this upload"
        return None

    def add(self, role: str, name: str) -> None:
        self.files.add((role, name))
        parts = name.split("/")
        self.folders.update((role, "/".join(parts[:i])) for i in range(1, len(parts)))


def _accept(
    store: BlobStore,
    writer: TempWriter,
    role: str,
    raw_name: str,
    settings: Settings,
    report: IngestReport,
    seen: Names,
) -> None:
    try:
        name = safe_relative_name(raw_name)
    except UnsafeName as exc:
        writer.discard()
        report.reject(raw_name[:300], str(exc))
        return
    if writer.size == 0:
        writer.discard()
        report.reject(name, "empty file")
        return
    kind = sniff(writer.head)
    if kind is None:
        writer.discard()
        report.reject(
            name, "not a supported image (content is not PNG, JPEG, BMP, TIFF, NIfTI, NRRD, MetaImage or DICOM)"
        )
        return
    name = stored_name(name, kind)
    problem = seen.clash(role, name)
    if problem:
        writer.discard()
        report.reject(name, problem)
        return
    problem, info = _check_image(writer.path, name, kind, settings)
    if problem:
        writer.discard()
        report.reject(name, problem)
        return
    writer.finish()
    seen.add(role, name)
    report.accepted.append(Accepted(role, name, writer.sha256, writer.size, kind, writer, info.value_span))


def _archive_members(store: BlobStore, writer: TempWriter, settings: Settings, report: IngestReport):
    """Yield (role, name, TempWriter) for every file of an uploaded zip archive."""
    workdir = Path(tempfile.mkdtemp(dir=store.tmp))
    try:
        zip_path = workdir / "upload.zip"
        writer.finish()
        os.replace(writer.path, zip_path)
        limits = ArchiveLimits(
            max_members=settings.max_archive_members,
            max_total_bytes=settings.max_request_bytes * 4,
            max_member_bytes=settings.max_file_bytes,
            max_ratio=settings.max_archive_ratio,
        )
        try:
            extract_zip(zip_path, workdir / "x", limits)
        except ArchiveError as exc:
            raise ArchiveError(str(exc).replace(str(zip_path), "the archive")) from None
        root = workdir / "x"
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            role = "image"
            # An archive may carry masks in a top-level "masks/" folder next to "images/".
            if rel.startswith("masks/"):
                role, rel = "mask", rel[len("masks/") :]
            elif rel.startswith("images/"):
                rel = rel[len("images/") :]
            member = store.new_temp()
            member.limit = settings.max_file_bytes
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    member.write(chunk)
            member.finish()
            yield role, rel, member
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def ingest(form: ParsedForm, store: BlobStore, settings: Settings) -> IngestReport:
    """Validate every uploaded file (plain files and archive members); on any error every
    temp file of the request is deleted."""
    report = IngestReport()
    seen = Names()
    try:
        for part in form.files:
            if part.field == "archive":
                try:
                    for role, name, member in _archive_members(store, part.writer, settings, report):
                        _accept(store, member, role, name, settings, report, seen)
                except ArchiveError as exc:
                    raise ArchiveError(scrub(str(exc), store.root)) from None
            else:
                role = "mask" if part.field == "masks" else "image"
                _accept(store, part.writer, role, part.filename, settings, report, seen)
    except BaseException:
        report.release()
        form.discard()
        raise
    return report


class KnownFileGone(Exception):
    """A file the client named by its digest was deleted before the dataset was recorded."""


def known_files(conn, owner: str, digests) -> dict[str, tuple[int, str, float | None]]:
    """(size, kind, value span) of the files ``owner`` has stored, among ``digests``:
    only the owner's own datasets count, so the answer tells nothing of other tenants."""
    found: dict[str, tuple[int, str, float | None]] = {}
    digests = list(dict.fromkeys(digests))
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        rows = conn.execute(
            "SELECT f.sha256, f.size, f.kind, f.value_span FROM dataset_files f JOIN datasets d ON d.id = f.dataset_id "
            f"WHERE d.owner = ? AND f.sha256 IN ({','.join('?' * len(chunk))})",
            (owner, *chunk),
        ).fetchall()
        for row in rows:
            found[row[0]] = (row[1], row[2], row[3])
    return found


def add_known(db: Database, owner: str, entries: list[dict], report: IngestReport) -> None:
    """Add files the client says it uploaded before (name, role, sha256) without their bytes:
    each must be a file of one of ``owner``'s datasets; the others are rejected with the
    reason (the client then sends them)."""
    seen = Names()
    for a in report.accepted:
        seen.add(a.role, a.name)
    stored = known_files(db.connect(), owner, [e["sha256"] for e in entries])
    for entry in entries:
        raw, digest = entry["name"], entry["sha256"]
        if digest not in stored:
            report.reject(raw[:300], "not stored for you (any more): upload the file itself")
            continue
        size, kind, span = stored[digest]
        try:
            name = stored_name(safe_relative_name(raw), kind)
        except UnsafeName as exc:
            report.reject(raw[:300], str(exc))
            continue
        problem = seen.clash(entry["role"], name)
        if problem:
            report.reject(name, problem)
            continue
        seen.add(entry["role"], name)
        report.accepted.append(Accepted(entry["role"], name, digest, size, kind, None, span))


def check_pairing(store: BlobStore, report: IngestReport) -> None:
    """The accepted images pair with the accepted masks (InputError naming them if not)."""
    view = store.dataset_view(f"check-{uuid.uuid4().hex}", report.files(store), where=store.tmp)
    try:
        masks = view / "masks" if any(a.role == "mask" for a in report.accepted) else None
        load_set(view / "images", masks)
    except InputError as exc:
        raise InputError(scrub(str(exc), store.root)) from None
    finally:
        shutil.rmtree(view, ignore_errors=True)


def create_dataset(db: Database, store: BlobStore, owner: str, report: IngestReport) -> str:
    """Check image/mask pairing, then link the files into the store and record the
    dataset in one write transaction (which serialises with blob deletion). The temp
    files are deleted in every case."""
    try:
        check_pairing(store, report)
        dataset_id = "ds_" + uuid.uuid4().hex[:20]
        with db.transaction() as conn:
            reused = [a.sha256 for a in report.accepted if a.reused]
            # still stored for this owner, now that blob deletion waits for this transaction
            if reused and len(known_files(conn, owner, reused)) < len(set(reused)):
                raise KnownFileGone("a file named by its digest was deleted meanwhile; upload it again")
            for a in report.accepted:
                if a.temp is not None:  # sent in this request (a reused file is stored already)
                    store.ensure(a.sha256, a.temp.path)
            conn.execute("INSERT INTO datasets (id, owner, created) VALUES (?, ?, ?)", (dataset_id, owner, now()))
            conn.executemany(
                "INSERT INTO dataset_files (dataset_id, role, name, sha256, size, kind, value_span) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(dataset_id, a.role, a.name, a.sha256, a.size, a.kind, a.value_span) for a in report.accepted],
            )
    except BaseException:
        # A failed transaction may have linked blobs no row names: delete them (and if
        # that fails too, the janitor's sweep will; the first error is the one raised).
        try:
            with db.transaction() as conn:
                store.delete_unreferenced(conn, [a.sha256 for a in report.accepted if not a.reused])
        except Exception:
            log.warning("could not delete the blobs of a failed upload now; the next sweep will", exc_info=True)
        raise
    finally:
        report.release()
    return dataset_id
