"""One content hash for everything that decides whether work can be reused: run keys (SFT
checkpoints, generation work files) and the params hashes provenance records.

``fingerprint(*parts)`` is sha256 over the parts in order, each tagged with its kind so that
different parts never collide by concatenation:

- a pydantic model, dict, list, number or None: canonical JSON (sorted keys);
- ``str`` / ``bytes``: as is;
- ``Path``: a file's bytes, or every file under a folder with its relative name (sorted); a path that
  does not exist is an error, never an empty hash;
- ``Code("abel.generation", ...)``: the source of those modules (a package: every ``.py`` and
  ``.json`` file in it), so a code change is a new run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Code:
    """Source files of ``abel`` modules or packages, as a fingerprint part."""

    modules: tuple[str, ...]

    def __init__(self, *modules: str) -> None:
        object.__setattr__(self, "modules", modules)

    def files(self) -> list[Path]:
        out = []
        for name in self.modules:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise ImportError(f"no module {name}")
            origin = Path(spec.origin)
            out += (sorted(origin.parent.rglob("*.py")) + sorted(origin.parent.rglob("*.json"))
                    if origin.name == "__init__.py" else [origin])
        return out


def _update(h: Any, part: Any) -> None:
    if isinstance(part, Code):
        h.update(b"code\0")
        for path in part.files():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    elif isinstance(part, Path):
        if part.is_file():
            h.update(b"file\0" + part.read_bytes())
        elif part.is_dir():
            h.update(b"dir\0")
            for path in sorted(p for p in part.rglob("*") if p.is_file()):
                h.update(path.relative_to(part).as_posix().encode() + b"\0" + path.read_bytes())
        else:
            raise FileNotFoundError(f"cannot fingerprint {part}: it does not exist")
    elif isinstance(part, bytes):
        h.update(b"bytes\0" + part)
    elif isinstance(part, str):
        h.update(b"str\0" + part.encode())
    else:
        data = part.model_dump() if hasattr(part, "model_dump") else part
        h.update(b"json\0" + json.dumps(data, sort_keys=True, default=str).encode())
    h.update(b"\0\0")


def fingerprint(*parts: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of sha256 over ``parts`` (see the module docstring)."""
    h = hashlib.sha256()
    for part in parts:
        _update(h, part)
    return h.hexdigest()[:length]
