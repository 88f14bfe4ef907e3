"""The C allocator's thresholds for processes that extract features (glibc only).

Extraction allocates and frees the same arrays for every image: a 512² image and each of
its wavelet bands is 2 MiB of float64, a 3D volume tens of MiB. glibc's malloc serves a block
over its mmap threshold with a mapping of its own, and gives the top of its heap back to the
kernel once more than its trim threshold is free there. Both start at 128 KiB and rise only
as mapped blocks are freed, to about the largest block seen (and twice that): a few MiB,
less than one image holds at once. So after each image the heap is given back, and the
next image takes it again from the kernel, a page fault for every 4 KiB: on this project's
machine, an 80-image run at 512² took 52,000 minor faults in one process and 236,000 in two
(half a second of system time), against 21,000 and 31,000 with the thresholds below, and
ran 3 % and 8 % slower for it.

:func:`tune_for_extraction` sets the two thresholds to the ceiling glibc's own heuristic
would reach (blocks under 32 MiB come from the heap; up to 64 MiB of free heap is kept for
the next image), so the process starts where that heuristic would at best end up. The settings are
the process's for the rest of its life (glibc has no way back to its heuristic), so they
are applied only in processes frd owns: the ``frd`` command and every worker frd starts (the
service extracts only in such workers).
A program that calls the library may call it too. The values are unchanged either way.
"""

from __future__ import annotations

import os
import sys

# mallopt's parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # as glibc pairs them when it raises the first

_tuned = False


def tune_for_extraction() -> bool:
    """Set glibc's mmap and trim thresholds for extraction (see the module's docstring).

    Does nothing, and returns False, where the C library is not glibc, or where the user
    chose malloc's settings in the environment (``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_`` or a ``glibc.malloc`` tunable): theirs win. Returns True once
    the thresholds are set (again on later calls, which change nothing)."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux") or _user_chose_malloc_settings(os.environ):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc's own symbol: musl's mallopt is a no-op
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting the mmap threshold first turns glibc's heuristic off
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _tuned


def _user_chose_malloc_settings(environ) -> bool:
    return (
        "MALLOC_MMAP_THRESHOLD_" in environ
        or "MALLOC_TRIM_THRESHOLD_" in environ
        or "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")
    )
