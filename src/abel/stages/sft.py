"""The ``sft`` stage: launch the run, then turn the ranks' logs into files DVC tracks, and the loss figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from abel import artifacts as A
from abel.checkpoint_export import export_checkpoints, trim_resume_state
from abel.config import Params
from abel.io import read_csv_rows, read_output, relative_to_root, write_csv, write_json
from abel.provenance import record_run
from abel.report import figures
from abel.training.launch import RunResult, launch
from abel.training.logs import RUN_FACTS, TRAIN_COLUMNS, VAL_COLUMNS, RunLog, read_run, summary
from abel.training.models import parameter_count


def run(params: Params, root: Path, runs_dir: Path | None = None,
        progress: bool = True) -> tuple[RunResult, RunLog, dict[str, Any]]:
    """Train (or resume), then write ``train.csv``, ``val.csv`` and ``summary.json`` (results), the run's
    provenance, throughput and resume count (``outputs/provenance/sft.json``) and the loss figure."""
    val = root / A.CURATED_VAL
    result = launch(params.sft, root, root / A.CURATED_TRAIN, val if val.is_file() else None,
                    root / A.SFT_MODEL, runs_dir=runs_dir, progress=progress)
    log = read_run(result.log_dir)
    write_csv(root / A.SFT_TRAIN_CSV, log.train, TRAIN_COLUMNS)
    write_csv(root / A.SFT_VAL_CSV, log.val, VAL_COLUMNS)
    info = {"profile": params.profile, "model": params.sft.model, "parameters": parameter_count(str(result.output_dir)),
            "processes": result.plan.processes, "nodes": result.plan.nodes, "grad_accum": result.plan.grad_accum,
            "precision": result.plan.precision, "deepspeed": params.sft.deepspeed, "packing": params.sft.packing,
            "run_dir": relative_to_root(result.run_dir, root),  # its checkpoints (resume state), outside DVC
            **summary(log)}
    facts = {k: info.pop(k) for k in RUN_FACTS}
    write_json(root / A.SFT_SUMMARY, info)
    # the checkpoints the overfit stage reads, as DVC output (model files only) and their manifest in git
    write_json(root / A.SFT_CHECKPOINT_MANIFEST, export_checkpoints(result.run_dir, root / A.SFT_CHECKPOINTS, root))
    # only the newest checkpoint's resume state can ever be used again: the older ones' goes (GBs at 135M)
    freed = trim_resume_state(result.run_dir)
    if freed and progress:
        print(f"sft: removed {freed / 1e6:,.0f} MB of superseded resume state from {relative_to_root(result.run_dir, root)}")
    record_run(root, "sft", params, ("curate", "sft"), {"sft": params.sft.seed, "curate": params.curate.seed}, run=facts)
    figures.save(plot(log.train, log.val, info), root / A.SFT_FIGURES / "loss")
    return result, log, info


def load(root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """What ``run`` wrote (train rows, val rows, summary), without training."""
    return (read_csv_rows(root / A.SFT_TRAIN_CSV, "sft"), read_csv_rows(root / A.SFT_VAL_CSV, "sft"),
            dict(read_output(root, A.SFT_SUMMARY, "sft")))


def plot(train: list[dict[str, Any]], val: list[dict[str, Any]], info: dict[str, Any]) -> Figure:
    return figures.loss_figure(train, val, f"SFT of {info['model']} ({info['profile']} profile)")
