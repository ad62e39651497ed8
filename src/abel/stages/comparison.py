"""The ``comparison`` stage: the ``compare@<format>`` runs side by side (accuracy with Wilson intervals, paired
differences with bootstrap intervals and McNemar's exact test, overfitting curves), for the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from abel import artifacts as A
from abel.analysis import comparison
from abel.config import Params
from abel.io import read_csv_rows, read_output, read_output_rows, write_json, write_text
from abel.report import figures

RUN_KEYS = ("format", "benchmark", "accuracy", "ci_lo", "ci_hi", "ci", "n", "correct", "steps", "epochs",
            "train_tokens_seen", "train_records", "parameters", "curate_seed", "sft_seed", "train_loss_final",
            "val_loss_final", "curve")


def run(params: Params, root: Path) -> dict[str, Any]:
    """Read every run of ``compare.formats``, pair them, write the summary, the Markdown and the figures."""
    c, a = params.compare, params.analyze
    metrics = {f: read_output(root, A.compare_metrics(f), f"compare@{f}") for f in c.formats}
    tests = {f: read_output_rows(root, f"{A.compare_run(f)}/test.jsonl", f"compare@{f}", required=("id", "correct"))
             for f in c.formats}
    where = {f: f"{A.compare_run(f)}/test.jsonl" for f in c.formats}
    for f, m in metrics.items():  # the metrics (in git) and the responses (DVC) of one and the same run, of these params
        said = (m.get("format"), m.get("profile"), m.get("benchmark"), m.get("n"), m.get("correct"))
        found = (f, c.profile, c.benchmark, len(tests[f]), sum(r["correct"] is True for r in tests[f]))
        if said != found:
            raise comparison.ComparisonError(
                f"{A.compare_metrics(f)} says (format, profile, benchmark, n, correct) = {said}; compare.* and {where[f]} "
                f"give {found}: not the same run (re-run it: dvc repro compare@{f}, or dvc pull after a checkout)")
    verdicts = comparison.paired_verdicts(tests, where)
    summary = {"profile": c.profile, "benchmark": c.benchmark, "mode": metrics[c.formats[0]]["mode"], "compare_seed": c.seed,
               "ci": a.ci, "runs": [{k: metrics[f][k] for k in RUN_KEYS} for f in c.formats],
               "pairs": comparison.pairs(verdicts, resamples=a.bootstrap_resamples, ci=a.ci, seed=c.seed)}
    write_json(root / A.COMPARISON_METRICS, summary)
    write_text(root / A.COMPARISON_MD, comparison.markdown(summary))
    for stem, fig in plots(root, summary):
        figures.save(fig, root / A.COMPARISON_FIGURES / stem)
    return summary


def load(root: Path) -> dict[str, Any]:
    """The summary ``run`` wrote (runs, pairs), without reading the runs again."""
    return dict(read_output(root, A.COMPARISON_METRICS, "comparison"))


def plots(root: Path, summary: dict[str, Any]) -> list[tuple[str, Figure]]:
    """(file stem, figure): accuracies and paired differences; losses and overfitting curves per format."""
    runs = summary["runs"]
    losses = {r["format"]: (read_csv_rows(root / A.compare_run(r["format"]) / "train.csv", f"compare@{r['format']}"),
                            read_csv_rows(root / A.compare_run(r["format"]) / "val.csv", f"compare@{r['format']}"))
              for r in runs}
    sizes = sorted({r["parameters"] for r in runs})
    size = f"{sizes[0]:,}" if len(sizes) == 1 else f"{sizes[0]:,}-{sizes[-1]:,}"
    what = f"{summary['profile']} profile, {size}-parameter models, {summary['mode']} scoring"
    return [("accuracy", figures.comparison_figure(runs, summary["pairs"], f"Curation format vs accuracy ({what})")),
            ("curves", figures.comparison_curves_figure(runs, losses, f"Loss and accuracy per checkpoint ({what})"))]
