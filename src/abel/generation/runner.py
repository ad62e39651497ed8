"""Resumable, kill-safe generation into Abel's released schema (``id, prompt, response`` + ``sample``).

Rows are appended one finished batch at a time, flushed and fsync'd. On start, a torn last line (a
kill in the middle of a write) is cut off, and every (id, sample) already in the file is skipped, so
re-running after SIGKILL never duplicates or truncates a finished row.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

Generate = Callable[[list[str]], list[str]]


def finished_keys(path: Path) -> set[tuple[str, int]]:
    """(id, sample) pairs already written; repairs a torn final line in place."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
    if end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    keys = set()
    for lineno, line in enumerate(data[:end].split(b"\n"), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON in a finished row: {exc.msg}") from None
            keys.add((str(row["id"]), int(row.get("sample", 0))))
    return keys


def run(items: Sequence[dict[str, Any]], generate: Generate, out_path: Path, *, samples: int = 1,
        batch_size: int = 16, progress: bool = True) -> int:
    """Generate ``samples`` responses for each item (``id``, ``prompt``); return how many were new."""
    return run_files({out_path: items}, generate, samples=samples, batch_size=batch_size, progress=progress,
                     desc=f"generate {out_path.name}")[out_path]


def run_files(files: dict[Path, Sequence[dict[str, Any]]], generate: Generate, *, samples: int = 1,
              batch_size: int = 16, progress: bool = True, desc: str = "generate") -> dict[Path, int]:
    """``run`` for several output files at once: every file's missing rows go to the backend in shared
    requests of ``batch_size`` prompts (a request may hold rows of several files), so a backend that
    batches (vLLM) sees full requests instead of one short request per file. After each request, its
    rows are appended to their own files, each flushed and fsync'd; a kill between two files' writes
    leaves only finished rows, and a re-run skips them (its first request then holds other rows than the
    uninterrupted run's did; greedy rows do not depend on it). Returns how many rows each file got now
    (all it was missing: a request that fails raises)."""
    todo: list[tuple[Path, str, int, str]] = []
    new: dict[Path, int] = {}
    for out_path, items in files.items():
        out_path.parent.mkdir(parents=True, exist_ok=True)
        done = finished_keys(out_path)
        out_path.touch()  # a file with nothing to generate still exists afterwards
        missing = [(out_path, str(it["id"]), s, it["prompt"]) for s in range(samples) for it in items
                   if (str(it["id"]), s) not in done]
        if done:
            print(f"resuming {out_path.name}: {len(done)} of {len(items) * samples} responses already in {out_path}, "
                  f"{len(missing)} to generate", file=sys.stderr, flush=True)
        todo += missing
        new[out_path] = len(missing)
    bar = tqdm(total=len(todo), desc=desc, unit="resp", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        responses = generate([prompt for *_, prompt in batch])
        if len(responses) != len(batch):
            raise RuntimeError(f"generator returned {len(responses)} responses for {len(batch)} prompts")
        rows: dict[Path, list[str]] = {}
        for (path, rid, s, prompt), resp in zip(batch, responses):
            rows.setdefault(path, []).append(json.dumps({"id": rid, "sample": s, "prompt": prompt, "response": resp},
                                                        ensure_ascii=False) + "\n")
        for path, lines in rows.items():
            with path.open("a", encoding="utf-8") as fh:
                fh.write("".join(lines))
                fh.flush()
                os.fsync(fh.fileno())
        bar.update(len(batch))
    bar.close()
    return new
