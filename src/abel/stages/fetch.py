"""The ``fetch`` stage: every file the pipeline reads, from its pinned source into ``data/sources/``.

A plain command stage (``abel fetch``, no notebook): it copies from the local mirror (``data.mirror`` or
$ABEL_DATA_MIRROR; ``../shared/data`` by default, used when it exists) or downloads at the pinned commit,
checks every file's sha256 (``abel.data.fetch.PINS``) and replaces the folder only when all match.
The output depends only on the pins, not on where the bytes came from, so the stage tracks no params.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from abel import artifacts as A
from abel.config import Params, data_mirror
from abel.data.fetch import PINS, fetch


def run(params: Params, root: Path, progress: bool = True, network: bool = True) -> list[dict[str, Any]]:
    """Fill ``data/sources/`` (all or nothing); one row per file: path, origin (mirror / network / kept), where."""
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else None
    done = fetch(root / A.SOURCES, data_mirror(params, root), network=network, progress=say)
    return [{"path": f.path, "origin": f.origin, "where": f.where} for f in done]


def load(root: Path) -> list[dict[str, Any]]:
    """What ``data/sources/`` holds, per pinned file (sizes only; ``run`` checks the hashes)."""
    rows = []
    for pin in PINS:
        path = root / A.SOURCES / pin.path
        rows.append({"path": pin.path, "present": path.is_file() and path.stat().st_size == pin.size,
                     "source": pin.page, "licence": pin.licence})
    return rows
