"""The layers of the code base: every import points down, and every module imports alone.

The order (lowest first) is the one CONTRIBUTING.md describes. A module may import from its
own layer or any lower one, never from a higher one — function-level (lazy) imports
included — so that the pipeline never depends on analysis, the library never on the
service, and nothing on the command line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LAYERS = [
    # the bottom: errors, quiet output, presets as data, option declarations, optional extras,
    # imports deferred to first use, the C allocator's settings
    {
        "frd._version",
        "frd.allocator",
        "frd.errors",
        "frd.quiet",
        "frd.presets",
        "frd.optionspec",
        "frd.extras",
        "frd.limits",
        "frd.deferred",
    },
    # values and files that need nothing of the pipeline
    {"frd.options", "frd.archive", "frd.provenance", "frd.normalize", "frd.distance", "frd.headers"},
    {"frd.inputs", "frd.sources", "frd.cache", "frd.imageio"},
    # one image's features
    {
        "frd.preparation",
        "frd.resample",
        "frd.log_filter",
        "frd.wavelet",
        "frd.power",
        "frd.label_stats",
        "frd.formulas",
        "frd.glcm_formulas",
        "frd.glrlm_formulas",
        "frd.matrices",
        "frd.engine",
        "frd.extract",
        "frd.executors",
    },
    # sets of images
    {"frd.featureset"},
    # rows and statistics objects
    {"frd.stats", "frd.rows", "frd.aggregate", "frd.contributions", "frd.degenerate", "frd.intensity", "frd.results"},
    {"frd.statistics"},
    {"frd.scoring"},
    # the pipeline's entry points
    {"frd.pipeline"},
    # above the pipeline: understanding a value, exporting features, the streaming metric
    {
        "frd.analysis",
        "frd.analysis.uncertainty",
        "frd.analysis.ood",
        "frd.analysis.embedding",
        "frd.analysis.report",
        "frd.export",
        "frd.metric",
        "frd.client",
    },
    # the public facade of the library
    {"frd"},
    # the service, a thin layer over the library
    {
        "api",
        "api.settings",
        "api.errors",
        "api.metrics",
        "api.db",
        "api.auth",
        "api.store",
        "api.uploads",
        "api.schemas",
        "api.ingest",
        "api.work",
        "api.jobs",
        "api.deps",
        "api.routes",
        "api.web",
        "api.app",
        "api.scrub",
        "api.lifecycle",
    },
    # the command line: over the library and the service (`frd serve`)
    {"frd.cli.parser", "frd.cli.commands", "frd.cli", "frd.__main__"},
]


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("frd", "api"):
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _layer(module: str) -> int:
    for depth, names in enumerate(LAYERS):
        if module in names:
            return depth
    if module.startswith("api.routes."):
        return _layer("api.routes")
    raise AssertionError(f"{module} has no layer: add it to LAYERS (and CONTRIBUTING.md)")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imports(module: str, path: Path) -> set[str]:
    """Every frd/api module ``module`` imports, at any depth of its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    modules = _modules()
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [alias.name for alias in node.names]
            out |= {f"{base}.{name}" for name in names}
            # `from package import attribute` reads the package itself; a submodule (or a
            # compiled one such as frd._kernels) does not count as the package
            if any(f"{base}.{name}" not in modules and not _private(name) for name in names):
                out.add(base)
    return {name for name in out if name in modules and name != module}


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = _layer(module)
    upward = [name for name in _imports(module, MODULES[module]) if _layer(name) > mine]
    assert not upward, f"{module} (layer {mine}) imports from higher layers: {upward}"


def test_every_module_has_a_layer_and_imports_alone():
    for module in MODULES:
        _layer(module)
    # one interpreter per module: no module may depend on another having been imported first
    code = "import importlib, sys; importlib.import_module(sys.argv[1])"
    failures = []
    for module in sorted(MODULES):
        if module == "frd.__main__":  # runs the command line when imported
            continue
        proc = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, cwd=REPO)
        if proc.returncode:
            failures.append(f"{module}: {proc.stderr.strip().splitlines()[-1]}")
    assert not failures, failures


def test_the_facade_exports_what_it_lists():
    import frd

    assert set(frd.__all__) == {"__version__", *frd._EXPORTS}
    for name in frd.__all__:
        assert getattr(frd, name) is not None


def test_no_public_name_is_shadowed_by_a_submodule():
    # Importing frd.X sets the package's attribute X to the module: had a module the name
    # of a public function (frd/compare.py once did), `frd.compare(...)` would call a module
    # in any process that imported it first — a running service, a test session.
    import frd

    clashes = [name for name in frd._EXPORTS if f"frd.{name}" in MODULES]
    assert not clashes, f"public names that are also submodules: {clashes}"
    code = (
        "import importlib, sys, frd\n"
        "for m in sys.argv[1:]: importlib.import_module(m)\n"
        "bad = [n for n in frd._EXPORTS if type(getattr(frd, n)).__name__ == 'module']\n"
        "assert not bad, bad\n"
    )
    modules = sorted(m for m in MODULES if m.startswith("frd.") and m != "frd.__main__")
    proc = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
