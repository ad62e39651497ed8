"""The ``overfit`` stage: accuracy on training and on held-out questions at every saved SFT
checkpoint, beside the loss curves (read from the sft stage's files, never its module)."""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from abel import artifacts as A
from abel.analysis.stats import accuracy_rows
from abel.checkpoint_export import manifest_checkpoints
from abel.config import Params
from abel.data import registry
from abel.generation import checkpoints as ck
from abel.io import read_csv_rows, read_jsonl, read_output, write_json, write_jsonl
from abel.provenance import record_run
from abel.report import figures
from abel.scoring.runner import correct_by_gold


def run(params: Params, root: Path, progress: bool = True) -> dict[str, Any]:
    """Generate greedily at each checkpoint, score, write responses, metrics, provenance and the figure."""
    o, a = params.overfit, params.analyze
    train = read_jsonl(root / A.CURATED_TRAIN, required=("prompt", "answer"))
    train = random.Random(o.seed).sample(train, min(o.train_questions, len(train)))
    test = registry.load(o.test_benchmark, params.data_dir(root), limit=o.test_questions, seed=o.seed)
    asked = ck.questions(train, test)
    # the Trainer checkpoints the last step too, so the saved ones end with the final model. Every one the
    # sft stage's manifest lists must be here (a DVC output of sft): a missing one is an error, never a
    # shorter curve
    points = manifest_checkpoints(read_output(root, A.SFT_CHECKPOINT_MANIFEST, "sft"), root,
                                  verify=True)  # sha256, not sizes: every checkpoint of one model has the same sizes
    greedy = params.generate.model_copy(update={"max_new_tokens": o.max_new_tokens, "batch_size": o.batch_size,
                                                "temperature": 0.0, "top_p": 1.0, "samples": 1, "seed": o.seed})
    responses, verdicts = ck.answer_at_checkpoints(points, asked, greedy, root, partial(correct_by_gold, params.score),
                                                   progress=progress)
    write_jsonl(root / A.OVERFIT_RESPONSES, responses)
    write_json(root / A.OVERFIT_METRICS, {"test_benchmark": o.test_benchmark, "rows": accuracy_rows(verdicts, ci=a.ci)})
    record_run(root, "overfit", params, ("overfit", "sft"), {"overfit": o.seed})
    result = load(root)
    figures.save(plot(root, result), root / A.OVERFIT_FIGURES / "overfit")
    return result


def load(root: Path) -> dict[str, Any]:
    """The accuracy rows ``run`` wrote (``test_benchmark``, ``rows``)."""
    return dict(read_output(root, A.OVERFIT_METRICS, "overfit"))


def plot(root: Path, result: dict[str, Any]) -> Figure:
    """Losses (the sft stage's curves) above accuracy per checkpoint."""
    sft_info = read_output(root, A.SFT_SUMMARY, "sft")
    return figures.overfit_figure(read_csv_rows(root / A.SFT_TRAIN_CSV, "sft"), read_csv_rows(root / A.SFT_VAL_CSV, "sft"),
                                  result["rows"], f"SFT of {sft_info['model']} ({sft_info['profile']} profile)",
                                  f"test questions ({result['test_benchmark']})")
