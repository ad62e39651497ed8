"""The ``sft`` stage: launch the run, then turn the ranks' logs into files DVC tracks."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from abel.config import Params
from abel.io import atomic_open, read_csv_rows, read_output, write_json
from abel.training.launch import RunResult, launch
from abel.training.logs import RunLog, read_run, summary
from abel.provenance import record_run
from abel.training.models import parameter_count

# results only: throughput is a fact of the run (outputs/provenance/sft.json), not of the model
TRAIN_COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm", "tokens")
RUN_FACTS = ("tokens_per_s", "resumes")


def write_csv(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    with atomic_open(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def run(params: Params, root: Path, model_dir: str = "models/sft", metrics_dir: str = "metrics/sft",
        runs_dir: Path | None = None, progress: bool = True) -> tuple[RunResult, RunLog, dict[str, Any]]:
    """Train (or resume), then write ``train.csv``, ``val.csv`` and ``summary.json`` under ``metrics_dir``
    (results), and the run's provenance, throughput and resume count to ``outputs/provenance/sft.json``."""
    curated = root / "data" / "curated"
    val = curated / "val.jsonl"
    result = launch(params.sft, root, curated / "train.jsonl", val if val.is_file() else None,
                    root / model_dir, runs_dir=runs_dir, progress=progress)
    log = read_run(result.log_dir)
    out = root / metrics_dir
    write_csv(out / "train.csv", log.train, TRAIN_COLUMNS)
    write_csv(out / "val.csv", log.val, ("step", "val_loss"))
    info = {"profile": params.profile, "model": params.sft.model, "parameters": parameter_count(str(result.output_dir)),
            "processes": result.plan.processes, "nodes": result.plan.nodes, "grad_accum": result.plan.grad_accum,
            "precision": result.plan.precision, "deepspeed": params.sft.deepspeed, "packing": params.sft.packing,
            "run_dir": _relative(result.run_dir, root),  # its complete checkpoints: the overfit stage reads them
            **summary(log)}
    facts = {k: info.pop(k) for k in RUN_FACTS}
    write_json(out / "summary.json", info)
    record_run(root, "sft", params, ("curate", "sft"), {"sft": params.sft.seed, "curate": params.curate.seed}, run=facts)
    return result, log, info


def load(root: Path, metrics_dir: str = "metrics/sft") -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """What ``run`` wrote (train rows, val rows, summary), without training: for the notebook in JupyterLab."""
    info = read_output(root, f"{metrics_dir}/summary.json", "sft")
    return (read_csv_rows(root / metrics_dir / "train.csv", "sft"), read_csv_rows(root / metrics_dir / "val.csv", "sft"),
            info)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
