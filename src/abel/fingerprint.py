"""One content hash for everything that decides whether work can be reused: run keys (SFT
checkpoints, generation work files) and the params hashes provenance records.

``fingerprint(*parts)`` is sha256 over the parts in order, each entry tagged with its kind and
length-prefixed, so that different part lists never hash alike by concatenation:

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


def _entry(h: Any, tag: bytes, name: bytes, data: bytes) -> None:
    """One length-prefixed entry, so that no two different part lists can hash alike."""
    for piece in (tag, name, data):
        h.update(len(piece).to_bytes(8, "big") + piece)


def _file(h: Any, tag: bytes, name: bytes, path: Path) -> None:
    """Like ``_entry`` for a file's bytes, read in chunks (model files can be many GB)."""
    h.update(len(tag).to_bytes(8, "big") + tag + len(name).to_bytes(8, "big") + name)
    h.update(path.stat().st_size.to_bytes(8, "big"))
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)


def _update(h: Any, part: Any) -> None:
    if isinstance(part, Code):
        for path in part.files():
            _file(h, b"code", path.name.encode(), path)
    elif isinstance(part, Path):
        if part.is_file():
            _file(h, b"file", b"", part)
        elif part.is_dir():
            files = sorted(p for p in part.rglob("*") if p.is_file())
            _entry(h, b"dir", b"", str(len(files)).encode())
            for path in files:
                _file(h, b"dir-file", path.relative_to(part).as_posix().encode(), path)
        else:
            raise FileNotFoundError(f"cannot fingerprint {part}: it does not exist")
    elif isinstance(part, bytes):
        _entry(h, b"bytes", b"", part)
    elif isinstance(part, str):
        _entry(h, b"str", b"", part.encode())
    else:
        data = part.model_dump() if hasattr(part, "model_dump") else part
        _entry(h, b"json", b"", json.dumps(data, sort_keys=True, default=str).encode())


def fingerprint(*parts: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of sha256 over ``parts`` (see the module docstring)."""
    h = hashlib.sha256()
    for part in parts:
        _update(h, part)
    return h.hexdigest()[:length]
