"""The ``frd`` command: parses arguments, calls the library, prints. No logic of its own.

Every option is checked before any work starts (argparse for the flags' own syntax, then
:class:`~frd.options.FRDOptions` and the library's preflight checks); a user's mistake is
one line on stderr naming the flag (exit status 2), never a traceback.

``parser`` builds the command line, ``commands`` runs each subcommand; this module ties them
together and turns errors into exit statuses.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import sys
import threading
from typing import NoReturn

from ..allocator import tune_for_extraction
from ..errors import FRDError
from .commands import cmd_batch, cmd_compare, cmd_features, cmd_ood, cmd_serve, cmd_stats
from .parser import _options, add_option_flags, build_parser

__all__ = ["add_option_flags", "build_parser", "main", "_options"]


def _flag_speller(command: argparse.ArgumentParser):
    """Spells an option's field name as the command's flag (``bin_width`` → ``--bin-width``)."""
    flags: dict[str, str] = {}
    for action in command._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs:
            flags.setdefault(action.dest, longs[0])
    return lambda name: flags.get(name, name)


def run() -> int:
    """The ``frd`` command itself (its console script and ``python -m frd``): :func:`main`,
    then the end of the process without the interpreter's own teardown.

    That teardown would walk every object of numpy, SimpleITK and pyradiomics in a final
    garbage collection (30-50 ms of each run) and then free them one by one (about 20 ms
    more), only for the process to end. So the exit handlers run (the workers' shutdown,
    temporary folders, logging), the standard streams are flushed, and the process ends
    there. With another thread still running (a library's), the interpreter ends as usual,
    less its final garbage collection. (Not in :func:`main`, which tests and other programs
    call in their process.) The process is the command's own, so it also takes the C
    allocator's settings for extraction (:mod:`frd.allocator`).
    """
    tune_for_extraction()
    status = main()
    if threading.active_count() == 1:
        _end_process(status)
    gc.freeze()  # the interpreter's final collection then finds nothing to walk
    return status


def _end_process(status: int) -> NoReturn:
    """End the process as the interpreter would at this point, less its teardown."""
    atexit._run_exitfuncs()
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:  # the reader has gone (`frd ... | head`), as in main()
        status = 141
    except OSError as exc:  # output redirected to a full disk: not a success
        print(f"frd: error: the output could not be written: {exc}", file=sys.stderr)
        status = 2
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except OSError:
        pass
    os._exit(status)


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
