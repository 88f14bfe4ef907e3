"""Optional dependencies (the package's extras), checked before any work starts.

A feature that needs an extra asks :func:`require` first, so that a missing module is a
one-line error naming the pip command, not a traceback after minutes of extraction.
"""

from __future__ import annotations

import importlib.util

from .errors import MissingExtra

# extra → the modules it provides (as imported)
EXTRAS = {
    "report": ("matplotlib",),
    "resize": ("cv2",),
    "dask": ("distributed",),
    "parquet": ("pyarrow",),
    "service": ("fastapi", "uvicorn", "multipart"),
    "client": ("httpx",),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (found without importing them)."""
    return [m for m in EXTRAS[extra] if not _importable(m)]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a finder that knows the module is not there
        return False


def require(extra: str, purpose: str) -> None:
    """Raise :class:`~frd.errors.MissingExtra` when ``extra`` is not installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(
            f"{purpose} needs the '{extra}' extra ({', '.join(absent)} not installed): "
            f"pip install 'frd-radiomics[{extra}]'"
        )
