"""Print one of the README's two fresh-machine commands, exactly as the README gives them.

    python3 .ci/readme_commands.py try     # the first block: install, example data, compare
    python3 .ci/readme_commands.py tests   # the second block: install the test extras, run the tests

CI runs what this prints, so the README cannot drift from what is tested. The commands are
the first two ```bash blocks of the README, which must come before its first `---` rule
(the first screen).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def commands() -> dict[str, str]:
    first_screen = README.read_text(encoding="utf-8").split("\n---\n", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", first_screen, re.S)
    if len(blocks) != 2:
        raise SystemExit(f"README.md's first screen must give exactly two ```bash blocks, not {len(blocks)}")
    lines = [block.strip().splitlines() for block in blocks]
    if any(len(block) != 1 for block in lines):
        raise SystemExit("each of the README's two set-up blocks must be one command line")
    return {"try": lines[0][0], "tests": lines[1][0]}


if __name__ == "__main__":
    print(commands()[sys.argv[1]])
