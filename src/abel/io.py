"""Line-accurate JSONL reading and atomic writes (temp file + rename, nothing half-written)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


class InputError(ValueError):
    """Bad input data; the message names the file, the line and the field."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a finite number")
    return value


def iter_jsonl(path: str | Path, required: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Yield one dict per line of ``path``; raise InputError naming file, line and field.

    Refused, each with file and line: bytes that are not UTF-8, invalid JSON, ``NaN`` /
    ``Infinity`` (not JSON, though Python writes them) or a number too large to be finite
    (``1e400``), a line that is not an object, a missing required field.
    """
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from exc
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                                 f"{exc.start + 1})") from None
            if not line.strip():
                raise InputError(f"{path}:{lineno}: empty line (expected one JSON object per line)")
            try:
                row = json.loads(line, parse_constant=_reject_constant, parse_float=_finite_float)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            for field in required:
                if row.get(field) is None:
                    raise InputError(f"{path}:{lineno}: missing field '{field}'")
            yield row


def read_jsonl(path: str | Path, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a whole JSONL file (validated before anything is returned)."""
    return list(iter_jsonl(path, required))


def _check_kind(path: Path, allow_link: bool) -> None:
    if path.is_symlink() and not allow_link:
        raise OSError(f"{path} is a symbolic link: only regular files are written")
    if path.exists() and not path.is_symlink() and not path.is_file():
        raise OSError(f"{path} is {'a directory' if path.is_dir() else 'not a regular file'}: only regular files are written")


def check_writable(path: str | Path) -> None:
    """Raise OSError (naming ``path``) unless an atomic write can create ``path``: a regular file or
    nothing (not a link, directory or device), in a folder this process can create a file in
    (tried; the folder is created if missing). For checking an output before long work."""
    path = Path(path)
    _check_kind(path, allow_link=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise OSError(f"cannot write into {path.parent}: {exc.strerror or exc}") from None


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename over it, else delete it.
    ``path`` must be a regular file, a link (replaced, its target untouched) or absent."""
    path = Path(path)
    _check_kind(path, allow_link=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, **({} if binary else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def relative_to(path: Path, base: Path) -> str | None:
    """``path`` relative to ``base`` (both resolved), in POSIX form; None when it is not under it."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return None


def relative_to_root(path: Path, root: Path) -> str:
    """How a tracked file names another: relative to the repo root when under it (the same on every
    machine), else the absolute path."""
    rel = relative_to(path, root)
    return str(path) if rel is None else rel


class MissingOutput(FileNotFoundError):
    """A notebook opened in JupyterLab reads a stage output that ``dvc repro`` has not produced yet."""


def require_output(root: Path, relpath: str, stage: str) -> Path:
    """``root / relpath``, a stage's output, for a notebook that shows rather than recomputes; if
    ``dvc repro`` has not produced it, MissingOutput names the command to run."""
    path = root / relpath
    if not path.is_file():
        raise MissingOutput(f"{relpath} does not exist yet: run `dvc repro {stage}` first "
                            f"(or set recompute = True in the notebook's parameters cell to run the stage here)")
    return path


def read_output(root: Path, relpath: str, stage: str) -> Any:
    """A stage's JSON output (``dvc repro`` wrote it)."""
    return json.loads(require_output(root, relpath, stage).read_text(encoding="utf-8"))


def read_output_rows(root: Path, relpath: str, stage: str, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """A stage's JSONL output (DVC-cached: absent from a fresh clone until pulled or re-run)."""
    if not (root / relpath).is_file():
        raise MissingOutput(f"{relpath} does not exist here: run `dvc repro {stage}` (or `dvc pull`) first")
    return read_jsonl(root / relpath, required)


def write_csv(path: Path, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as CSV with the header ``columns`` (other keys left out), written atomically."""
    import csv

    with atomic_open(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_csv_rows(path: Path, stage: str) -> list[dict[str, Any]]:
    """A stage's numeric CSV (``metrics/sft/train.csv``): empty cells become None, ``step`` an int."""
    import csv

    if not path.is_file():
        raise MissingOutput(f"{path} does not exist yet: run `dvc repro {stage}` first")
    with path.open(encoding="utf-8") as fh:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} | {"step": int(row["step"])}
                for row in csv.DictReader(fh)]


def replace_dir(staging: Path, dest: Path) -> None:
    """Put the finished folder ``staging`` in place of ``dest`` (which may not exist): ``dest`` is moved
    aside, ``staging`` renamed in, the old copy removed. Readers see the old folder or the new one, whole;
    a crash between the two renames leaves the old one beside it as ``.<name>.old-<pid>.tmp``."""
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}.tmp")
    if dest.exists():
        os.replace(dest, old)
    os.replace(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


def sha256_file(path: Path) -> str:
    """The file's sha256, hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
