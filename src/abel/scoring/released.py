"""Abel's released generations and our own: found, scored (each mode), written (the ``score`` stage
runs this)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abel.artifacts import metric_key, split_metric_key
from abel.io import read_jsonl, read_output, write_json, write_jsonl
from abel.scoring.runner import Mode, score_rows


SUMMARY_FIELDS = ("n", "correct", "accuracy", "timeouts", "errors", "slow_path")


@dataclass(frozen=True)
class ReleasedFile:
    benchmark: str  # the folder name: gsm8k, gsm8k_robust, math, mathgpt, ...
    model: str  # the file stem: 7b, 13b, 70b (ours: the label given to discover_generated)
    path: Path


def discover(data_dir: Path, pattern: str) -> list[ReleasedFile]:
    """Released generation files ``<benchmark>/<model>.jsonl`` matching ``pattern`` under ``data_dir``."""
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"data directory {data_dir} does not exist: set data.dir in params.yaml "
            "(e.g. `dvc exp run -S data.dir=/path/to/data`) to the folder holding abel_outputs/"
        )
    files = [ReleasedFile(p.parent.name, p.stem, p) for p in sorted(data_dir.glob(pattern)) if p.is_file()]
    if not files:
        raise FileNotFoundError(f"no released generations match {data_dir}/{pattern} (score.released_glob)")
    return files


def discover_generated(gen_dir: Path, label: str) -> list[ReleasedFile]:
    """The generate stage's ``<benchmark>.jsonl`` files (none: an empty list, nothing generated yet)."""
    return [ReleasedFile(p.stem, label, p) for p in sorted(gen_dir.glob("*.jsonl"))] if gen_dir.is_dir() else []


def scored_path(out_dir: Path, benchmark: str, model: str, mode: str) -> Path:
    return out_dir / benchmark / f"{model}.{mode}.jsonl"


def score_released(files: list[ReleasedFile], out_dir: Path, modes: list[Mode], *, timeout_s: float,
                   workers: int, memory_mb: int, progress: bool = True) -> list[dict[str, Any]]:
    """Score every file in every mode; write the joined rows and ``summary.json`` into ``out_dir``."""
    summary = []
    for file in files:
        rows = read_jsonl(file.path, required=("response", "gold"))
        for mode in modes:
            kind = rows[0].get("kind") if rows else None  # our generations carry the registry's answer kind
            verdicts, stats = score_rows(rows, mode, kind=kind, timeout_s=timeout_s, workers=workers, memory_mb=memory_mb,
                                         progress=progress, desc=f"{file.benchmark}/{file.model} [{mode}]")
            write_jsonl(
                scored_path(out_dir, file.benchmark, file.model, mode),
                ({"id": row.get("id", i), "sample": row.get("sample", 0), "prompt": row.get("prompt", ""),
                  "response": row["response"], "gold": row["gold"], "tags": row.get("tags", {}), **verdict}
                 for i, (row, verdict) in enumerate(zip(rows, verdicts))),
            )
            summary.append({"benchmark": file.benchmark, "model": file.model, "source": file.path.name,
                            **stats.to_dict()})
    # tracked output: deterministic, so no wall-clock seconds or absolute paths in the file
    write_json(out_dir / "summary.json", [{k: v for k, v in s.items() if k != "seconds"} for s in summary])
    return summary


def summary_metrics(summary: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A ``score_summary.json``: one row per ``benchmark/model/mode`` key, deterministic fields only."""
    return {metric_key(s["benchmark"], s["model"], s["mode"]): {k: s[k] for k in SUMMARY_FIELDS} for s in summary}


def load_summary(root: Path, relpath: str) -> list[dict[str, Any]]:
    """Rows of a ``score_summary.json`` the score stage wrote."""
    data = read_output(root, relpath, "score")
    return [dict(zip(("benchmark", "model", "mode"), split_metric_key(key)), **row) for key, row in data.items()]
