"""The ``score`` stage over Abel's released generations: find, score (each mode), write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abel.io import read_jsonl, write_json, write_jsonl
from abel.scoring.runner import Mode, score_rows


@dataclass(frozen=True)
class ReleasedFile:
    benchmark: str  # the folder name: gsm8k, gsm8k_robust, math, mathgpt, ...
    model: str  # the file stem: 7b, 13b, 70b
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


def scored_path(out_dir: Path, benchmark: str, model: str, mode: str) -> Path:
    return out_dir / benchmark / f"{model}.{mode}.jsonl"


def score_released(files: list[ReleasedFile], out_dir: Path, modes: list[Mode], *, timeout_s: float,
                   workers: int, memory_mb: int, progress: bool = True) -> list[dict[str, Any]]:
    """Score every file in every mode; write the joined rows and ``summary.json`` into ``out_dir``."""
    summary = []
    for file in files:
        rows = read_jsonl(file.path, required=("response", "gold"))
        for mode in modes:
            verdicts, stats = score_rows(rows, mode, timeout_s=timeout_s, workers=workers, memory_mb=memory_mb,
                                         progress=progress, desc=f"{file.benchmark}/{file.model} [{mode}]")
            write_jsonl(
                scored_path(out_dir, file.benchmark, file.model, mode),
                ({"id": row.get("id", i), "prompt": row.get("prompt", ""), "response": row["response"],
                  "gold": row["gold"], **verdict} for i, (row, verdict) in enumerate(zip(rows, verdicts))),
            )
            summary.append({"benchmark": file.benchmark, "model": file.model, "source": file.path.name,
                            **stats.to_dict()})
    # tracked output: deterministic, so no wall-clock seconds or absolute paths in the file
    write_json(out_dir / "summary.json", [{k: v for k, v in s.items() if k != "seconds"} for s in summary])
    return summary
