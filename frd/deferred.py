"""Modules pyradiomics imports when it is imported that extraction never uses, loaded on first use.

``import radiomics`` imports every module of the package to list its feature classes,
among them ``radiomics.scripts`` (pyradiomics' own command line: argparse, csv,
multiprocessing's managers, logging.config, ruamel.yaml) and, through it and through
``radiomics.featureextractor``, pykwalify with dateutil (to validate parameter files).
Together about a fifth of an extraction worker's start-up. The engine validates only what
it did not build itself (a custom parameter file; presets and checked options need no
schema: ``frd.preparation.CheckedParams``), and never runs pyradiomics' command line.

So, before pyradiomics is imported (this runs when ``frd`` is), these modules are
registered as stand-ins: the first attribute read from one that it does not have
(``pykwalify.core.Core``, ...) imports the real module, which then replaces the stand-in
in ``sys.modules`` and answers — pyradiomics' own extractor, the check of a custom
parameter file or any other code get the real module as if it had been imported at the
top. (``importlib.util.LazyLoader`` cannot do this: the import system reads ``__spec__``
of a module found in ``sys.modules``, which loads a lazy module at the next ``import``.)
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types

_DEFERRED = ("pykwalify", "pykwalify.core", "radiomics.scripts")


class _StandIn(types.ModuleType):
    def __getattr__(self, attr: str):
        return getattr(_load(self.__name__), attr)


def _load(name: str) -> types.ModuleType:
    """The real module ``name``; the stand-ins of its package family make way for it."""
    top = name.partition(".")[0]
    for key in _DEFERRED:
        if key.partition(".")[0] == top and isinstance(sys.modules.get(key), _StandIn):
            del sys.modules[key]
    return importlib.import_module(name)


def _locate(name: str) -> list[str] | None:
    """The folder of package ``name`` (found, not imported), or None when it is not installed."""
    top, _, rest = name.partition(".")
    spec = importlib.util.find_spec(top) if top not in sys.modules else sys.modules[top].__spec__
    locations = list(spec.submodule_search_locations or []) if spec else []
    for part in rest.split(".") if rest else []:
        found = importlib.machinery.PathFinder.find_spec(f"{top}.{part}", locations)
        locations = list(found.submodule_search_locations or []) if found else []
        top = f"{top}.{part}"
    return locations or None


def install() -> None:
    """Register the stand-ins (for modules not imported yet and installed here)."""
    for name in _DEFERRED:
        if name in sys.modules:
            continue
        module = _StandIn(name)
        parent, _, child = name.rpartition(".")
        if name != "pykwalify.core":  # a package: its submodules import as usual
            locations = _locate(name)
            if locations is None:
                continue
            module.__path__ = locations
        elif not isinstance(sys.modules.get(parent), _StandIn):
            continue
        sys.modules[name] = module
        if isinstance(sys.modules.get(parent), _StandIn):
            sys.modules[parent].__dict__[child] = module  # as the import system links a submodule
