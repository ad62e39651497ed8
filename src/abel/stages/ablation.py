"""The curation comparison (``abel stage ablation``, after ``make ablation``; not a dvc stage): the
finished ``dvc exp`` runs of one profile compared on one benchmark, kept in
``reports/ablation_runs.json`` so a clone without the experiments re-renders the same comparison."""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.figure import Figure

from abel import artifacts as A
from abel.analysis import ablation
from abel.io import write_text
from abel.report import figures


def run(root: Path, *, profile: str, benchmark: str, mode: str, exp_json: str = "") -> tuple[list[ablation.Run], str]:
    """Read the experiments (``exp_json``: a saved ``dvc exp show --json``; empty: ask DVC), or the kept
    runs when there are none; write the comparison unless there is nothing to compare (an empty one
    never replaces a committed one). Returns the runs and where they came from."""
    tree = json.loads(Path(exp_json).read_text()) if exp_json else ablation.exp_show(root)
    runs = ablation.runs(tree, benchmark=benchmark, mode=mode, profile=profile, read=ablation.git_reader(root))
    if runs:
        source = f"read from `{exp_json}`" if exp_json else "read from `dvc exp show --json` and each experiment's commit"
        ablation.save_runs(root / A.ABLATION_RUNS, runs, mode=mode, source=source)
    else:
        runs, source = load(root, profile=profile, benchmark=benchmark, mode=mode)
    if runs:
        figures.save(plot(runs, profile=profile, mode=mode), root / A.ABLATION_FIGURES / "accuracy")
        write_text(root / A.ABLATION_MD,
                   ablation.report_markdown(runs, profile=profile, benchmark=benchmark, mode=mode, source=source))
    return runs, source


def load(root: Path, *, profile: str, benchmark: str, mode: str) -> tuple[list[ablation.Run], str]:
    """The kept runs (none, and an empty source, when the file is absent)."""
    if not (root / A.ABLATION_RUNS).is_file():
        return [], ""
    return ablation.load_runs(root / A.ABLATION_RUNS, benchmark=benchmark, mode=mode, profile=profile)


def plot(runs: list[ablation.Run], *, profile: str, mode: str) -> Figure:
    return figures.ablation_figure(runs, f"Curation ablation ({profile} profile, {mode} scoring)")
