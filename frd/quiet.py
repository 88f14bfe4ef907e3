"""Keeping the extraction libraries' own output away from users, unless they ask for it.

pyradiomics logs a line per image for some settings (v0: "GLCM is symmetrical, ..."),
ITK prints reader warnings, libpng writes "libpng error: ..." straight to the process's
stderr, and pyradiomics' formulas raise numpy RuntimeWarnings on flat images. What a user
must know reaches them as skip reasons and errors instead; ``FRD_VERBOSE=1`` (the CLI's
``--verbose``) lets everything through. Extraction workers read the variable too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys


def verbose() -> bool:
    """FRD_VERBOSE=1: the libraries' own messages are wanted."""
    return os.environ.get("FRD_VERBOSE", "") not in ("", "0")


def quiet_libraries() -> None:
    """Silence pyradiomics' logger and ITK's warning display (once per process)."""
    if verbose():
        return
    import radiomics
    import SimpleITK as sitk

    radiomics.setVerbosity(logging.ERROR + 10)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    sitk.ProcessObject.SetGlobalWarningDisplay(False)


@contextlib.contextmanager
def c_stderr_silenced():
    """While C code runs that writes to file descriptor 2 itself (libpng), send it nowhere."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
