"""`python -m frd`: the same command as `frd`."""

from .cli import run

raise SystemExit(run())
