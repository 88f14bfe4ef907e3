"""No server path in anything a client reads: error messages, skip reasons, reports.

Library messages name files by path (right for a command line, wrong for a service). A
file of a dataset is shown by its name in the dataset; any other path of the data dir
becomes ``<data>``, and any other absolute path ``<path>``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# A file inside a dataset view or a request's temp view: .../<view>/(images|masks)/<name>
_VIEW_TAIL = r"/(?:datasets|tmp/[^/\s]+)/[^/\s'\"]+/(?:images|masks)/"
_VIEW_FOLDER = r"/(?:datasets|tmp/[^/\s]+)/[^/\s'\"]+/(images|masks)\b"
_ABSOLUTE = re.compile(r"(?<![\w.:/<>])/(?:[^\s/'\"<>]+/)*[^\s/'\"<>:,;)]*")


def scrub(text: str, data_dir: str | Path, *, any_path: bool = True) -> str:
    """``text`` without server paths (see the module docstring)."""
    if "/" not in text:
        return text  # no path without a slash (most strings of a result: feature names)
    roots = {str(data_dir), os.path.abspath(data_dir), str(Path(data_dir).resolve())}
    for root in sorted(roots, key=len, reverse=True):
        text = re.sub(re.escape(root) + _VIEW_TAIL, "", text)
        text = re.sub(re.escape(root) + _VIEW_FOLDER, r"the uploaded \1", text)
        text = re.sub(re.escape(root) + r"(?:/[^\s'\"<>:,;()]*)?", "<data>", text)
    if any_path:
        text = _ABSOLUTE.sub("<path>", text)
    return text


def scrub_result(payload, data_dir: str | Path):
    """A JSON-ready result with every string scrubbed (reasons, notices, warnings)."""
    if isinstance(payload, str):
        return scrub(payload, data_dir)
    if isinstance(payload, list):
        return [scrub_result(v, data_dir) for v in payload]
    if isinstance(payload, dict):
        return {k: scrub_result(v, data_dir) for k, v in payload.items()}
    return payload
