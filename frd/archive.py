"""Safe extraction of .zip archives given as image sets.

An archive is untrusted input: members with absolute paths, ``..`` components or
symlinks are refused, and so are archives with too many members, too much expanded data
or a suspicious compression ratio (zip bombs). Sizes are counted while extracting, not
taken from the archive's own headers.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import ArchiveError


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits of a zip archive given as an image set (members, sizes, compression ratio)."""

    max_members: int = 100_000
    max_total_bytes: int = 20 * 1024**3
    max_member_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0  # expanded / compressed, per member


def _safe_member_path(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in path.parts:
        raise ArchiveError(f"{archive}: member {name!r} escapes the archive with '..'")
    return path


def extract_zip(archive: Path, destination: Path, limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """Extract ``archive`` under ``destination`` after checking every member; returns it."""
    archive = Path(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{archive}: not a readable zip archive ({exc})") from None
    with zf:
        members = zf.infolist()
        if len(members) > limits.max_members:
            raise ArchiveError(f"{archive}: {len(members)} members, more than the limit of {limits.max_members}")
        total = 0
        for info in members:
            rel = _safe_member_path(info.filename, archive)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
            if info.is_dir():
                continue
            target = destination.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        total += len(chunk)
                        if written > limits.max_member_bytes:
                            raise ArchiveError(
                                f"{archive}: member {info.filename!r} expands beyond {limits.max_member_bytes} bytes"
                            )
                        if total > limits.max_total_bytes:
                            raise ArchiveError(f"{archive}: expands beyond {limits.max_total_bytes} bytes in total")
                        if written > 1 << 20 and written > limits.max_ratio * max(info.compress_size, 1):
                            raise ArchiveError(
                                f"{archive}: member {info.filename!r} has a compression ratio above "
                                f"{limits.max_ratio:g} (possible zip bomb)"
                            )
                        dst.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise ArchiveError(f"{archive}: member {info.filename!r} is corrupt ({exc})") from None
    return destination
