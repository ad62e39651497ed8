"""The ``compare`` stages (a DVC matrix, one per ``compare.formats`` entry): one run of the curation
comparison. Curate, train and evaluate a model on ``compare.profile``'s settings with only
``curate.format`` set to this run's format (same seeds, same held-out questions as the other runs).

Everything the run makes goes to ``outputs/compare/<format>/`` (a DVC output, written whole at the end):
its curated corpus and curation report, the final model, its checkpoints (model files), the losses, the
responses to the test questions with their strict verdicts (which the ``comparison`` stage pairs across
formats) and the responses at each checkpoint (the overfitting curve). Its headline numbers go to
``metrics/compare/<format>.json`` (in git). The run folder with resume state is
``checkpoints/compare/<run key>/``, outside DVC, as for the sft stage: a killed run resumes.
"""

from __future__ import annotations

import random
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from abel import artifacts as A
from abel.analysis.stats import accuracy_rows, proportion
from abel.checkpoint_export import export_checkpoints, manifest_checkpoints, trim_resume_state
from abel.config import Params
from abel.curation.pipeline import curate
from abel.data import registry
from abel.generation import checkpoints as ck
from abel.generation.backends import hf_backend
from abel.io import (read_csv_rows, read_jsonl, read_output, relative_to_root, replace_dir, write_csv, write_json,
                     write_jsonl)
from abel.provenance import provenance
from abel.scoring.runner import correct_by_gold
from abel.training.launch import launch
from abel.training.logs import RUN_FACTS, TRAIN_COLUMNS, VAL_COLUMNS, read_run, summary
from abel.training.models import parameter_count

MODE = "strict"  # the comparison's scorer (the abel scorer misreads some answers: README "Scoring")


def run(params: Params, root: Path, fmt: str, progress: bool = True) -> dict[str, Any]:
    """The whole run of ``fmt``; returns what ``load`` returns."""
    p, c = params.compare_run(fmt), params.compare
    out = root / A.compare_run(fmt)
    staging = out.with_name(f".{fmt}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    data_dir = p.data_dir(root)

    curation = curate(p.curate, data_dir, root, progress=progress, out=staging)
    val = staging / A.CURATED_VAL
    result = launch(p.sft, root, staging / A.CURATED_TRAIN, val if read_jsonl(val) else None, staging / "model",
                    runs_dir=root / A.COMPARE_CHECKPOINTS, progress=progress)
    log = read_run(result.log_dir)
    write_csv(staging / "train.csv", log.train, TRAIN_COLUMNS)
    write_csv(staging / "val.csv", log.val, VAL_COLUMNS)
    manifest = export_checkpoints(result.run_dir, staging / "checkpoints", staging)
    trim_resume_state(result.run_dir)

    greedy = p.generate.model_copy(update={"backend": "hf", "temperature": 0.0, "top_p": 1.0, "samples": 1})
    test = registry.load(c.benchmark, data_dir, limit=c.test_questions or None, seed=c.seed)
    generate, _ = hf_backend(greedy.model_copy(update={"model": str(staging / "model")}), root)
    responses = generate([i.prompt for i in test])
    correct = correct_by_gold(params.score, [i.gold for i in test], responses, [i.kind for i in test])
    write_jsonl(staging / "test.jsonl", ({"id": i.id, "prompt": i.prompt, "gold": i.gold, "response": r, "correct": ok}
                                         for i, r, ok in zip(test, responses, correct)))

    # the overfitting curve: training records and the first test questions, at every saved checkpoint
    train = read_jsonl(staging / A.CURATED_TRAIN, required=("prompt", "answer"))
    train = random.Random(c.seed).sample(train, min(c.curve_train_questions, len(train)))
    asked = ck.questions(train, test[:c.curve_test_questions])
    curve, verdicts = ck.answer_at_checkpoints(manifest_checkpoints(manifest, staging), asked, greedy, root,
                                               partial(correct_by_gold, params.score), progress=progress)
    write_jsonl(staging / "curve.jsonl", curve)

    est = proportion(correct, ci=params.analyze.ci)
    metrics = {"format": fmt, "profile": p.profile, "benchmark": c.benchmark, "mode": MODE,
               "curate_seed": p.curate.seed, "sft_seed": p.sft.seed,
               "accuracy": est.value, "ci_lo": est.lo, "ci_hi": est.hi, "ci": est.ci, "n": est.n, "correct": sum(correct),
               "train_records": curation["train"], "val_records": curation["val"],
               "parameters": parameter_count(str(staging / "model")), **summary(log),
               "curve": accuracy_rows(verdicts, ci=params.analyze.ci)}
    # facts of this machine and this attempt, not of the result: in the run's provenance
    facts = {k: metrics.pop(k) for k in RUN_FACTS}
    write_json(staging / "provenance.json", {
        **provenance(root, p, ("curate", "sft", "generate"), {"curate": p.curate.seed, "sft": p.sft.seed, "compare": c.seed}),
        "run": {**facts, "run_dir": relative_to_root(result.run_dir, root)}})
    replace_dir(staging, out)
    write_json(root / A.compare_metrics(fmt), metrics)
    return load(root, fmt)


def load(root: Path, fmt: str) -> dict[str, Any]:
    """The run's metrics (``metrics/compare/<format>.json``), without running it."""
    return dict(read_output(root, A.compare_metrics(fmt), f"compare@{fmt}"))


def losses(root: Path, fmt: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's training and validation loss rows."""
    folder = root / A.compare_run(fmt)
    return read_csv_rows(folder / "train.csv", f"compare@{fmt}"), read_csv_rows(folder / "val.csv", f"compare@{fmt}")
