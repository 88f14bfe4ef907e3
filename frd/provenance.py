"""Versions of the libraries behind a result, found without importing them.

A fully cached comparison must stay fast, so neither pyradiomics nor SimpleITK is
imported just to learn its version, and ``importlib.metadata`` (which scans every path
entry) is avoided: the installed ``*.dist-info`` folder next to the module is read.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import lru_cache
from pathlib import Path

# (import name, distribution names that may provide it)
_PROVIDERS = {
    "radiomics": ("pyradiomics_bhklab", "pyradiomics"),
    "SimpleITK": ("SimpleITK", "simpleitk"),
    "numpy": ("numpy",),
}


@lru_cache(maxsize=None)
def distribution_version(module: str) -> str | None:
    """``"<distribution>==<version>"`` of the installed package providing ``module``."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    site = Path(spec.origin).parent.parent
    wanted = {n.lower().replace("-", "_") for n in _PROVIDERS.get(module, (module,))}
    for entry in site.iterdir():
        match = re.fullmatch(r"(.+)-([^-]+)\.dist-info", entry.name)
        if match and match.group(1).lower().replace("-", "_") in wanted:
            return f"{match.group(1)}=={match.group(2)}"
    # Unusual layouts (editable installs, eggs): ask the slower metadata machinery.
    from importlib import metadata

    for name in _PROVIDERS.get(module, (module,)):
        try:
            return f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def pyradiomics_version() -> str:
    """Identifies the feature code: part of every feature-cache key."""
    return distribution_version("radiomics") or "pyradiomics==unknown"


def library_versions() -> dict:
    """Versions of Python, frd, pyradiomics, numpy and SimpleITK, for a result's provenance."""
    return {
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "frd": _frd_version(),
        "pyradiomics": pyradiomics_version(),
        "numpy": distribution_version("numpy"),
        "SimpleITK": distribution_version("SimpleITK"),
    }


def _frd_version() -> str:
    from ._version import __version__

    return f"frd-radiomics=={__version__}"
