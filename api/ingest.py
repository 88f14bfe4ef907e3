"""Turning uploaded parts into a dataset: validate each file by its content, store it,
check the images pair with their masks, then record the dataset.

Each file is accepted or rejected on its own, with a reason; a dataset is recorded only
once all its accepted files are durably in the blob store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from frd.archive import ArchiveError, ArchiveLimits, extract_zip
from frd.inputs import ImageItem, InputError, load_set

from .db import Database, now
from .settings import Settings
from .store import KINDS, Blob, BlobStore, TempWriter, safe_relative_name, sniff, stored_name
from .uploads import ParsedForm

FULL_READ_BYTES = 64 * 1024 * 1024  # smaller files are decoded completely at upload


@dataclass
class Accepted:
    role: str
    name: str
    sha256: str
    size: int
    kind: str


@dataclass
class IngestReport:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def reject(self, name: str, reason: str) -> None:
        self.rejected.append({"name": name, "reason": reason})


def _check_image(path: Path, name: str, kind: str, settings: Settings) -> str | None:
    """None when SimpleITK reads the file within the limits, else the reason."""
    import SimpleITK as sitk

    from frd.imageio import ImageReadError, probe

    probe_path = path.with_name(path.name + "_" + uuid.uuid4().hex[:8] + KINDS[kind][1])
    os.link(path, probe_path)
    try:
        info = probe(ImageItem(name=name, files=(str(probe_path),)))
        voxels = 1
        for s in info.size:
            voxels *= s
        if voxels > settings.max_image_voxels:
            return (f"image of {info.size} voxels exceeds the limit of {settings.max_image_voxels} "
                    "(decompression-bomb guard)")
        if path.stat().st_size <= FULL_READ_BYTES:
            sitk.ReadImage(str(probe_path))
    except ImageReadError as exc:
        return str(exc).split(": ", 1)[-1]
    except RuntimeError:
        return "the file is truncated or corrupt (the image data cannot be decoded)"
    finally:
        probe_path.unlink(missing_ok=True)
    return None


def _accept(store: BlobStore, writer: TempWriter, role: str, raw_name: str, settings: Settings,
            report: IngestReport, seen: set) -> None:
    name = safe_relative_name(raw_name)
    if name is None:
        writer.discard()
        report.reject(raw_name, "unsafe file name (absolute, '..' or hidden)")
        return
    if writer.size == 0:
        writer.discard()
        report.reject(name, "empty file")
        return
    kind = sniff(writer.head)
    if kind is None:
        writer.discard()
        report.reject(name, "not a supported image (content is not PNG, JPEG, BMP, TIFF, NIfTI, NRRD, MetaImage or DICOM)")
        return
    name = stored_name(name, kind)
    if (role, name) in seen:
        writer.discard()
        report.reject(name, "duplicate file name in this upload")
        return
    problem = _check_image(writer.path, name, kind, settings)
    if problem:
        writer.discard()
        report.reject(name, problem)
        return
    blob: Blob = store.commit(writer)
    seen.add((role, name))
    report.accepted.append(Accepted(role, name, blob.sha256, blob.size, kind))


def _archive_members(store: BlobStore, writer: TempWriter, settings: Settings, report: IngestReport):
    """Yield (role, name, TempWriter) for every file of an uploaded zip archive."""
    workdir = Path(tempfile.mkdtemp(dir=store.tmp))
    try:
        zip_path = workdir / "upload.zip"
        writer.finish()
        os.replace(writer.path, zip_path)
        limits = ArchiveLimits(max_members=settings.max_archive_members,
                               max_total_bytes=settings.max_request_bytes * 4,
                               max_member_bytes=settings.max_file_bytes,
                               max_ratio=settings.max_archive_ratio)
        extract_zip(zip_path, workdir / "x", limits)
        root = workdir / "x"
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            role = "image"
            # An archive may carry masks in a top-level "masks/" folder next to "images/".
            if rel.startswith("masks/"):
                role, rel = "mask", rel[len("masks/"):]
            elif rel.startswith("images/"):
                rel = rel[len("images/"):]
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
    """Validate and store every uploaded file (plain files and archive members)."""
    report = IngestReport()
    seen: set = set()
    for part in form.files:
        if part.field == "archive":
            try:
                for role, name, member in _archive_members(store, part.writer, settings, report):
                    _accept(store, member, role, name, settings, report, seen)
            except ArchiveError as exc:
                raise ArchiveError(str(exc).replace(str(store.root), "<data>")) from None
        else:
            role = "mask" if part.field == "masks" else "image"
            _accept(store, part.writer, role, part.filename, settings, report, seen)
    return report


def create_dataset(db: Database, store: BlobStore, owner: str, report: IngestReport) -> str:
    """Check image/mask pairing on a view of the files, then record the dataset."""
    dataset_id = "ds_" + uuid.uuid4().hex[:20]
    rows = [(a.role, a.name, a.sha256) for a in report.accepted]
    view = store.dataset_view(dataset_id, rows)
    try:
        masks = view / "masks" if any(a.role == "mask" for a in report.accepted) else None
        load_set(view / "images", masks)
    except InputError as exc:
        store.drop_view(dataset_id)
        raise InputError(str(exc).replace(str(view) + "/", "")) from None
    with db.transaction() as conn:
        conn.execute("INSERT INTO datasets (id, owner, created) VALUES (?, ?, ?)", (dataset_id, owner, now()))
        conn.executemany(
            "INSERT INTO dataset_files (dataset_id, role, name, sha256, size, kind) VALUES (?, ?, ?, ?, ?, ?)",
            [(dataset_id, a.role, a.name, a.sha256, a.size, a.kind) for a in report.accepted],
        )
    return dataset_id
