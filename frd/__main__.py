"""`python -m frd`: the same command as `frd`."""

from .cli import main

raise SystemExit(main())
