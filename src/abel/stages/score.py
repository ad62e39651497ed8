"""The ``score`` stage: Abel's released generations and our own, scored in each mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abel import artifacts as A
from abel.config import Params
from abel.io import write_json
from abel.provenance import record_run
from abel.scoring.pool import PAPER_SCORER_PINS
from abel.scoring.released import discover, discover_generated, load_summary, score_released, summary_metrics

COLUMNS = ["benchmark", "model", "mode", "n", "correct", "accuracy", "timeouts", "slow_path", "seconds"]


def run(params: Params, root: Path, progress: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Score the released files and ours; write both summaries and the provenance. Returns both
    summaries (with each file's scoring seconds, which the written files leave out)."""
    kw = dict(timeout_s=params.score.timeout_s, workers=params.score.workers, memory_mb=params.score.worker_memory_mb,
              progress=progress)
    files = discover(params.data_dir(root), params.score.released_glob)
    released = score_released(files, root / A.SCORED_RELEASED, params.score.modes, **kw)
    write_json(root / A.RELEASED_SCORE_SUMMARY, summary_metrics(released))
    record_run(root, "score", params, ("score",), versions={"abel_mode_scorer": " + ".join(PAPER_SCORER_PINS)})
    own = discover_generated(root / A.GENERATIONS, A.OWN_MODEL)
    ours = score_released(own, root / A.SCORED_OURS, params.score.modes, **kw) if own else []
    write_json(root / A.OURS_SCORE_SUMMARY, summary_metrics(ours))
    return released, ours


def load(root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both summaries ``run`` wrote, without scoring."""
    return load_summary(root, A.RELEASED_SCORE_SUMMARY), load_summary(root, A.OURS_SCORE_SUMMARY)
