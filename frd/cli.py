"""The ``frd`` command: parses arguments, calls the library, prints. No logic of its own.

Every option is checked before any work starts (argparse for the flags' own syntax, then
:class:`~frd.options.FRDOptions` and the library's preflight checks); a user's mistake is
one line on stderr naming the flag (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import FRDError, OptionError
from .options import FRDOptions
from .optionspec import Spec, defaults, describe, specs


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
        from .extras import require

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


def _print_notes(skipped, notices, quiet: bool) -> None:
    for item in skipped:
        where = f"[{item['set']}] " if "set" in item else ""
        print(f"skipped {where}{item.get('path') or item['name']}: {item['reason']}", file=sys.stderr)
    if not quiet:
        for notice in notices:
            print(f"note: {notice}", file=sys.stderr)


def _dumps(payload: dict) -> str:
    # allow_nan=False: the library's results are JSON-safe; anything else is a bug to catch.
    return json.dumps(payload, indent=2, allow_nan=False)


def cmd_compare(args) -> int:
    """frd compare: the FRD of two sets (JSON, CI and report on request)."""
    from .compare import compare

    ref_masks, cand_masks = args.masks if args.masks else (args.reference_masks, args.candidate_masks)
    options = _options(args)
    _writable_file(args.output, "output")
    _writable_file(args.report, "report")
    if args.report:
        from .extras import require

        require("report", "--report")
    if args.server:
        with _client(args) as client:
            payload = client.compare(
                args.reference,
                args.candidate,
                reference_masks=ref_masks,
                candidate_masks=cand_masks,
                options=options,
                bootstrap=args.bootstrap or 0,
                report=bool(args.report),
            )
            html = client.report(payload["id"]) if args.report else None
    else:
        result = compare(
            args.reference,
            args.candidate,
            reference_masks=ref_masks,
            candidate_masks=cand_masks,
            options=options,
            **_run_kwargs(args),
        )
        html = None
        if args.bootstrap or args.report:
            from .analysis.report import enrich_result

            html = enrich_result(
                result, options, bootstrap=args.bootstrap or 0, report=bool(args.report), seed=args.seed or 0
            )
        payload = result.to_dict()
    if html is not None:
        Path(args.report).write_text(html, encoding="utf-8")
    if args.output:
        Path(args.output).write_text(_dumps(payload) + "\n")
    if args.json:
        print(_dumps(payload))
    else:
        _print_notes(payload["skipped"], payload["notices"], args.quiet)
        for warning in payload["warnings"]:
            features = ", ".join(f"{f['feature']} ({f['share_of_d2']:.1%} of d²)" for f in warning["features"][:5])
            print(f"warning: {warning['message']}" + (f": {features}" if features else ""), file=sys.stderr)
        from .results import result_line

        line = result_line(payload)
        if payload["ci"]:
            line += f"  [{payload['ci']['level']:.0%} CI {payload['ci']['low']:.6g} – {payload['ci']['high']:.6g}]"
        if payload["robust"] and not args.robust:
            line += f"  (robust: {payload['robust']['frd']})"
        print(line)
    return 0


def _client(args):
    """The remote service of --server (key from FRD_API_KEY)."""
    from .client import Client

    return Client(args.server, os.environ.get("FRD_API_KEY") or None, progress=not args.quiet)


def cmd_ood(args) -> int:
    """frd ood: per-image out-of-domain screening against a reference."""
    from .analysis.ood import check_ood_options, ood, write_csv

    options = _options(args)
    check_ood_options(args.assumption, args.val_frac)
    how = dict(
        options=options,
        assumption=args.assumption,
        use_val_set=args.use_val_set,
        val_frac=args.val_frac,
        seed=args.seed,
    )
    if args.server:
        with _client(args) as client:
            payload = client.ood(
                args.reference, args.test, reference_masks=args.reference_masks, test_masks=args.test_masks, **how
            )
        notices: list = []
    else:
        screening = ood(
            args.reference,
            args.test,
            reference_masks=args.reference_masks,
            test_masks=args.test_masks,
            **how,
            **_run_kwargs(args),
        )
        payload, notices = screening.to_dict(), screening.result.notices if screening.result else []
    path = write_csv(payload, args.output_dir)
    if args.json:
        print(_dumps({**payload, "csv": str(path)}))
    else:
        _print_notes(payload["skipped"], notices, args.quiet)
        frd_text = f"; FRD {payload['frd']}" if payload["frd"] is not None else ""
        print(
            f"threshold {payload['threshold']:.6g} ({payload['assumption']}); out of domain: "
            f"{payload['n_flagged']}/{payload['n_test']} images; nFRD {payload['nfrd']:.4f} "
            f"(AUC {payload['auc']:.4f}){frd_text}"
        )
        print(f"per-image scores: {path}")
    return 0


def cmd_stats(args) -> int:
    """frd stats: save a reference set's statistics."""
    from .compare import compute_reference_stats

    out = Path(args.output)
    options = _options(args)
    if out.exists() and not args.force:
        raise OptionError("output", f"{out} exists; use --force to overwrite it")
    _writable_file(args.output, "output")
    stats = compute_reference_stats(args.reference, args.masks, options=options, **_run_kwargs(args))
    stats.save(out)
    print(f"saved statistics of {stats.n} images × {int(stats.kept.sum())} features to {out}")
    return 0


def cmd_features(args) -> int:
    """frd features: export the per-image features."""
    from .compare import extract_features
    from .export import require_parquet, write_features

    options = _options(args)
    _writable_file(args.output, "output")
    require_parquet(args.output)
    features = extract_features(args.source, args.masks, options=options, **_run_kwargs(args))
    path = write_features(features, args.output)
    _print_notes([s.to_dict() for s in features.skipped], features.notices, args.quiet)
    print(f"wrote {len(features)} images × {len(features.names)} features to {path}")
    return 0


def _check_output_folder(out: Path) -> None:
    """Batch mode writes its only result at the very end: a folder it cannot write must
    stop it before any extraction, with the way out (typically a host folder mounted into
    the container, owned by another uid than the container's)."""
    import tempfile

    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        if out.exists() and not out.is_dir():
            raise FRDError(f"the output folder {out} is a file: give --output a folder") from None
        uid = os.getuid()
        try:
            owner = f"it belongs to uid {out.stat().st_uid}, this process runs as uid {uid}"
        except OSError:
            owner = f"this process runs as uid {uid}"
        raise FRDError(
            f"cannot write metrics.json to the output folder {out} ({exc.strerror or exc}; {owner}): "
            f"make it writable by uid {uid} (e.g. chown {uid} on it), or run the container as the "
            f'folder\'s owner (docker run --user "$(id -u):$(id -g)" ...)'
        ) from None


def cmd_batch(args) -> int:
    """frd batch: the container's evaluation mode (INPUT/{reference,candidate} → OUTPUT/metrics.json)."""
    from .compare import compare

    root, out = Path(args.input), Path(args.output)
    _check_output_folder(out)
    masks = {name: root / f"{name}_masks" for name in ("reference", "candidate")}
    result = compare(
        root / "reference",
        root / "candidate",
        reference_masks=masks["reference"] if masks["reference"].is_dir() else None,
        candidate_masks=masks["candidate"] if masks["candidate"].is_dir() else None,
        options=_options(args),
        **_run_kwargs(args),
    )
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(_dumps(result.to_dict()) + "\n")
    tmp.replace(out / "metrics.json")
    _print_notes(result.skipped, result.notices, args.quiet)
    print(result)
    return 0


def cmd_serve(args) -> int:
    """frd serve: run the REST service with uvicorn."""
    import ipaddress

    from .extras import require

    require("service", "frd serve")
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    overrides: dict[str, Any] = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    if args.allow_unauthenticated:
        overrides["allow_public_without_keys"] = True
    settings = Settings.from_env(**overrides)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not settings.api_keys and not loopback and not settings.allow_public_without_keys:
        raise OptionError(
            "host",
            f"{args.host}: refusing to listen on a non-loopback address without API keys: "
            "set FRD_API_KEYS, or pass --allow-unauthenticated to serve everyone on the network",
        )
    if not settings.api_keys:
        print(
            "frd serve: no API keys configured — "
            + (
                "ALL clients served, unauthenticated" if settings.allow_public_without_keys else "loopback clients only"
            ),
            file=sys.stderr,
        )
    print(
        f"frd serve: data in {settings.data_dir.resolve()}, listening on http://{args.host}:{args.port}"
        f" — open http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}/"
        " in a browser for the web page",
        file=sys.stderr,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _flag_speller(command: argparse.ArgumentParser):
    """Spells an option's field name as the command's flag (``bin_width`` → ``--bin-width``)."""
    flags: dict[str, str] = {}
    for action in command._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs:
            flags.setdefault(action.dest, longs[0])
    return lambda name: flags.get(name, name)


def _writable_file(path: str | None, option: str) -> None:
    """Before any work: an output file's folder exists and can be written."""
    if path is None:
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise OptionError(option, f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OptionError(option, f"{path}: the folder {folder} is not writable")


def main(argv=None) -> int:
    """Run the ``frd`` command; returns the exit status (0 done, 2 a user's mistake, 1 a bug)."""
    parser, commands = build_parser(with_commands=True)
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        os.environ["FRD_VERBOSE"] = "1"  # extraction workers read it (frd.extract.verbose)
    handler = {
        "compare": cmd_compare,
        "stats": cmd_stats,
        "features": cmd_features,
        "ood": cmd_ood,
        "batch": cmd_batch,
        "serve": cmd_serve,
    }[args.command]
    try:
        return handler(args)
    except FRDError as exc:
        print(f"frd: error: {exc.render(_flag_speller(commands[args.command]))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `frd ... | head`: the reader has gone; leave quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a file or folder the user named, a full disk
        print(f"frd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("frd: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: the reason stays the last stderr line
        if getattr(args, "verbose", False):
            import traceback

            traceback.print_exc()
        print(
            f"frd: internal error: {type(exc).__name__}: {exc} (please report it; --verbose shows where)",
            file=sys.stderr,
        )
        return 1
