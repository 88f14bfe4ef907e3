"""The ``frd`` command's parser: the subcommands, their flags, and the option flags generated
from the option declarations (:mod:`frd.optionspec`), so a new option needs no edit here."""

from __future__ import annotations

import argparse
import os
from typing import Any

from .._version import __version__
from ..errors import OptionError
from ..options import FRDOptions
from ..optionspec import Spec, defaults, describe, specs


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (its usage block is what --help is for)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _share(text: str) -> float:
    """0.2 or 20% → 0.2 (the range is FRDOptions' to check)."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a share such as 0.2 or 20%, not {text!r}") from None


def add_option_flags(p: argparse.ArgumentParser) -> None:
    """A flag for every FRDOptions field, made from its declaration (frd.optionspec), and
    the running flags that are arguments of the library calls rather than options."""
    groups = {
        "definition": p.add_argument_group("FRD definition (defaults: the version's published settings)"),
        "running": p.add_argument_group("running"),
    }
    declared = defaults(FRDOptions)
    for name, spec in specs(FRDOptions).items():
        flags = spec.flags or (f"--{name.replace('_', '-')}",)
        groups[spec.group].add_argument(*flags, dest=name, **_flag_kwargs(spec, declared[name]))
    r = groups["running"]
    r.add_argument("-w", "--workers", type=_count(1), help="extraction processes (default: all cores)")
    r.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="extract on a Dask cluster (default: $FRD_DASK_ADDRESS, else local processes)",
    )
    r.add_argument("--cache-dir", help="feature cache folder (default: $FRD_CACHE_DIR or the user cache)")
    r.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    r.add_argument("--strict", action="store_true", help="fail on the first unreadable image instead of skipping it")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notices")
    r.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="let pyradiomics' and ITK's own messages through; tracebacks for internal errors",
    )


_FLAG_SHAPES: dict[str, dict[str, Any]] = {  # kind → how argparse reads it (values are checked by FRDOptions)
    "choice": {},
    "names": {"nargs": "+"},
    "numbers": {"nargs": "+", "type": float},
    "number": {"type": float},
    "integer": {"type": int},
    "size": {"nargs": "+", "type": int},
    "range": {"nargs": 2, "type": float},
    "flag": {"action": "store_true"},
    "share": {"type": _share},
    "path": {},
}


def _flag_kwargs(spec: Spec, default) -> dict:
    accepts = f" [{describe(spec)}]" if spec.kind not in ("path", "flag") else ""
    kwargs = dict(_FLAG_SHAPES[spec.kind], help=f"{spec.help}{accepts}".replace("%", "%%"))
    if spec.kind == "choice":
        kwargs["choices"] = spec.choices
    if spec.kind != "flag":
        kwargs["default"] = default
    if spec.metavar:
        kwargs["metavar"] = spec.metavar
    return kwargs


def _options(args) -> FRDOptions:
    """FRDOptions from the parsed flags (lists as tuples; --resize N means N × N)."""
    values: dict[str, Any] = {}
    for name, spec in specs(FRDOptions).items():
        value = getattr(args, name)
        if spec.kind == "size" and value is not None:
            if len(value) not in (1, 2):
                raise OptionError(name, f"takes N (square) or W H, not {len(value)} numbers")
            value = (value[0], value[-1])
        values[name] = tuple(value) if isinstance(value, list) else value
    return FRDOptions(**values)


def _run_kwargs(args) -> dict:
    if args.scheduler or os.environ.get("FRD_DASK_ADDRESS"):
        from ..extras import require

        require("dask", "--scheduler (extraction on a Dask cluster)")
    return dict(
        workers=args.workers,
        use_cache=not args.no_cache,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
        strict=args.strict,
        scheduler=args.scheduler,
    )


def _add_server_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        metavar="URL",
        default=os.environ.get("FRD_SERVER") or None,
        help="compute on a remote `frd serve` (default $FRD_SERVER; its API key from $FRD_API_KEY): "
        "files it already has are not sent again",
    )


def build_parser(with_commands: bool = False):
    """The ``frd`` parser (and, with ``with_commands``, its sub-command parsers by name)."""
    parser = _Parser(prog="frd", description="Fréchet Radiomic Distance between sets of medical images.")
    parser.add_argument("--version", action="version", version=f"frd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser(
        "compare",
        help="FRD between a reference and a candidate set",
        description="Print the FRD between REFERENCE (a folder, .zip, or .frdstats "
        "file) and CANDIDATE (a folder or .zip).",
    )
    c.add_argument("reference")
    c.add_argument("candidate")
    c.add_argument(
        "-m",
        "--masks",
        nargs=2,
        metavar=("REF_MASKS", "CAND_MASKS"),
        help="mask folders for both sets (paired with images by name)",
    )
    c.add_argument("--reference-masks", metavar="DIR")
    c.add_argument("--candidate-masks", metavar="DIR")
    c.add_argument("--json", action="store_true", help="print the full result as JSON")
    _add_server_flag(c)
    c.add_argument("-o", "--output", metavar="FILE", help="also write the JSON result to FILE")
    c.add_argument(
        "--bootstrap",
        type=_count(1),
        metavar="B",
        help="percentile bootstrap CI from B resamples (reported as 'ci'; seeded by --seed)",
    )
    c.add_argument(
        "--report",
        metavar="FILE.html",
        help="write a self-contained HTML report (charts, top features, CI, sample-size curve)",
    )
    add_option_flags(c)

    o = sub.add_parser(
        "ood",
        help="out-of-domain detection of TEST images against REFERENCE",
        description="Score each TEST image by its distance from the reference mean in the "
        "normalised feature space; flag it above the reference's 95th percentile. "
        "Also prints the dataset-level nFRD = 2·|AUC − 0.5|.",
    )
    o.add_argument("reference")
    o.add_argument("test")
    o.add_argument("--reference-masks", metavar="DIR")
    o.add_argument("--test-masks", metavar="DIR")
    o.add_argument(
        "--assumption",
        choices=("gaussian", "t", "counting"),
        default="gaussian",
        help="distribution assumed for the reference scores (threshold and p-values)",
    )
    o.add_argument(
        "--use-val-set",
        action="store_true",
        help="estimate the threshold on a held-out share of the reference (seeded)",
    )
    o.add_argument("--val-frac", type=float, default=0.1, help="the held-out share (default 0.1)")
    o.add_argument(
        "--output-dir",
        default="ood-output",
        metavar="DIR",
        help="where ood_predictions.csv is written (default ./ood-output)",
    )
    o.add_argument("--json", action="store_true")
    _add_server_flag(o)
    add_option_flags(o)

    s = sub.add_parser("stats", help="save reference statistics for later comparisons")
    s.add_argument("reference")
    s.add_argument("-o", "--output", required=True, metavar="FILE.frdstats")
    s.add_argument("--masks", metavar="DIR")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_option_flags(s)

    f = sub.add_parser("features", help="export raw per-image features (.csv or .parquet)")
    f.add_argument("source")
    f.add_argument("-o", "--output", required=True, metavar="FILE")
    f.add_argument("--masks", metavar="DIR")
    add_option_flags(f)
    b = sub.add_parser(
        "batch",
        help="container batch mode: /input/{reference,candidate} → /output/metrics.json",
        description="Evaluation-platform mode: compare INPUT/reference with INPUT/candidate "
        "(masks from INPUT/reference_masks and INPUT/candidate_masks when present) "
        "and write OUTPUT/metrics.json. Exit 0 on success; otherwise non-zero "
        "with the reason as the last line of stderr.",
    )
    b.add_argument("--input", default=os.environ.get("FRD_BATCH_INPUT", "/input"), metavar="DIR")
    b.add_argument("--output", default=os.environ.get("FRD_BATCH_OUTPUT", "/output"), metavar="DIR")
    add_option_flags(b)

    v = sub.add_parser(
        "serve",
        help="run the REST service (needs the 'service' extra)",
        description="Start the FRD REST service with uvicorn. Without API keys "
        "(FRD_API_KEYS) it only binds to loopback unless "
        "--allow-unauthenticated is given.",
    )
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=_count(1), default=8000)
    v.add_argument("--data-dir", help="service data folder (default: $FRD_DATA_DIR or ./frd-data)")
    v.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve non-loopback clients even though no API keys are configured",
    )
    v.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    v.add_argument("-v", "--verbose", action="store_true", help="tracebacks for internal errors")
    commands = {"compare": c, "ood": o, "stats": s, "features": f, "batch": b, "serve": v}
    return (parser, commands) if with_commands else parser
