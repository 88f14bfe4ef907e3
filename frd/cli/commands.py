"""The ``frd`` subcommands: each calls the library (or the remote service of ``--server``)
and prints; none computes anything itself."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import FRDError, OptionError
from .parser import _options, _run_kwargs


def _print_notes(skipped, notices, quiet: bool) -> None:
    for item in skipped:
        where = f"[{item['set']}] " if "set" in item else ""
        print(f"skipped {where}{item.get('path') or item['name']}: {item['reason']}", file=sys.stderr)
    if not quiet:
        for notice in notices:
            print(f"note: {notice}", file=sys.stderr)


def _percent(share: float) -> str:
    text = f"{share:.1%}"
    return "0.0%" if text == "-0.0%" else text  # a share of d² can be a round-off below zero


def _dumps(payload: dict) -> str:
    # allow_nan=False: the library's results are JSON-safe; anything else is a bug to catch.
    return json.dumps(payload, indent=2, allow_nan=False)


def cmd_compare(args) -> int:
    """frd compare: the FRD of two sets (JSON, CI and report on request)."""
    from ..pipeline import compare

    ref_masks, cand_masks = args.masks if args.masks else (args.reference_masks, args.candidate_masks)
    options = _options(args)
    _writable_file(args.output, "output")
    _writable_file(args.report, "report")
    if args.report:
        from ..extras import require

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
            from ..analysis.report import enrich_result

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
            # the features and their shares, unless the message already names them all
            top = [f for f in warning["features"][:5] if f["feature"] not in warning["message"]]
            features = ", ".join(f"{f['feature']} ({_percent(f['share_of_d2'])} of d²)" for f in top)
            print(f"warning: {warning['message']}" + (f": {features}" if features else ""), file=sys.stderr)
        from ..results import result_line

        line = result_line(payload)
        if payload["ci"]:
            line += f"  [{payload['ci']['level']:.0%} CI {payload['ci']['low']:.6g} – {payload['ci']['high']:.6g}]"
        if payload["robust"] and not args.robust:
            line += f"  (robust: {payload['robust']['frd']})"
        print(line)
    return 0


def _client(args):
    """The remote service of --server (key from FRD_API_KEY)."""
    from ..client import Client

    return Client(args.server, os.environ.get("FRD_API_KEY") or None, progress=not args.quiet)


def cmd_ood(args) -> int:
    """frd ood: per-image out-of-domain screening against a reference."""
    from ..analysis.ood import check_ood_options, ood, write_csv

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
    from ..pipeline import compute_reference_stats

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
    from ..export import require_parquet, write_features
    from ..pipeline import extract_features

    options = _options(args)
    _writable_file(args.output, "output")
    require_parquet(args.output)
    features = extract_features(args.source, args.masks, options=options, **_run_kwargs(args))
    path = write_features(features, args.output)
    _print_notes([s.to_dict() for s in features.skipped], features.notices, args.quiet)
    print(f"wrote {len(features)} images × {len(features.names)} features to {path}")
    return 0


def _unwritable(folder: Path) -> str | None:
    """Why a file cannot be created in an existing folder (None if it can), naming the
    folder's owner: the usual cause is a host folder mounted into a container and owned by
    another uid than the process's. Tried with a real file, which also catches read-only
    mounts and full disks that permission bits do not show."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        uid = os.getuid()
        try:
            owner = f"it belongs to uid {folder.stat().st_uid}, this process runs as uid {uid}"
        except OSError:
            owner = f"this process runs as uid {uid}"
        return f"{exc.strerror or exc}; {owner}"


def _check_output_folder(out: Path) -> None:
    """Batch mode writes its only result at the very end: a folder it cannot write must
    stop it before any extraction, with the way out."""
    if out.exists() and not out.is_dir():
        raise FRDError(f"the output folder {out} is a file: give --output a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        reason = _unwritable(out)
    except OSError as exc:
        reason = f"{exc.strerror or exc}; this process runs as uid {os.getuid()}"
    if reason:
        uid = os.getuid()
        raise FRDError(
            f"cannot write metrics.json to the output folder {out} ({reason}): "
            f"make it writable by uid {uid} (e.g. chown {uid} on it), or run the container as the "
            f'folder\'s owner (docker run --user "$(id -u):$(id -g)" ...)'
        )


def cmd_batch(args) -> int:
    """frd batch: the container's evaluation mode (INPUT/{reference,candidate} → OUTPUT/metrics.json)."""
    from ..pipeline import compare

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

    from ..extras import require

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


def _writable_file(path: str | None, option: str) -> None:
    """Before any work: an output file's folder exists and a file can be created in it."""
    if path is None:
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise OptionError(option, f"{path}: the folder {folder} does not exist")
    reason = _unwritable(folder)
    if reason:
        raise OptionError(option, f"{path}: cannot write to the folder {folder} ({reason})")
