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


def _find(name: str):
    """The spec of module ``name`` — found, not executed (nor its packages) — or None when
    it is not installed."""
    top, _, rest = name.partition(".")
    module = sys.modules.get(top)
    if module is not None and not isinstance(module, _StandIn):
        spec = module.__spec__
    else:
        spec = importlib.machinery.PathFinder.find_spec(top)
    for part in rest.split(".") if rest else []:
        if spec is None or not spec.submodule_search_locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(f"{spec.name}.{part}", list(spec.submodule_search_locations))
    return spec


def install() -> None:
    """Register the stand-ins (for modules not imported yet and installed here)."""
    for name in _DEFERRED:
        spec = None if name in sys.modules else _find(name)
        if spec is None:
            continue
        module = _StandIn(name)
        if spec.submodule_search_locations:  # a package: its other submodules import as usual
            module.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if isinstance(sys.modules.get(parent), _StandIn):
            sys.modules[parent].__dict__[child] = module  # as the import system links a submodule
