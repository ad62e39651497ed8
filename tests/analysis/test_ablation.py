"""The ablation comparison reads `dvc exp show --json`: hand-made trees with known answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from abel.analysis import ablation


def exp(rev: str, fmt: str, seed: int, acc: float, profile: str = "arith", error: Any = None,
        dedupe: bool = True, with_metrics: bool = True, epochs: int = 6) -> dict[str, Any]:
    metrics = {ablation.ACCURACY_FILE: {"data": {"chain_sum/sft/strict": {
        "accuracy": acc, "ci_lo": acc - 0.05, "ci_hi": acc + 0.05, "n": 400}}},
        ablation.SFT_FILE: {"data": {"steps": 100 + seed, "train_tokens_seen": 5000}}} if with_metrics else {}
    params = {"profile": profile, "curate": {"format": fmt, "seed": seed, "dedupe": dedupe, "decontaminate": True},
              "sft": {"seed": seed, "epochs": 1}, "profiles": {"arith": {"sft": {"epochs": epochs}}}}
    return {"rev": rev, "name": f"exp-{rev}", "error": error,
            "data": {"params": {"params.yaml": {"data": params}}, "metrics": metrics}}


TREE = [
    {"rev": "workspace", "data": {}, "experiments": None},
    {"rev": "base", "data": {}, "experiments": [
        {"revs": [exp("a1", "stepwise", 0, 0.90)]},
        {"revs": [exp("a2", "stepwise", 1, 0.80)]},
        {"revs": [exp("a3", "answer_only", 0, 0.20)]},
        {"revs": [exp("a4", "stepwise", 0, 0.10, dedupe=False)]},
        {"revs": [exp("a5", "stepwise", 2, 0.99, error={"msg": "failed"})]},  # failed: skipped
        {"revs": [exp("a6", "stepwise", 3, 0.99, profile="tiny")]},            # other profile: skipped
        {"revs": [exp("a7", "original", 0, 0.5, with_metrics=False)]},          # unfinished: skipped
        {"revs": [exp("a0", "stepwise", 0, 0.50)]},  # a re-run of a1's params: counted once
        {"revs": [exp("a8", "answer_only", 0, 0.60, epochs=12)]},  # more epochs: its own variant
    ]},
]


def test_runs_keep_finished_runs_of_the_profile_once() -> None:
    runs = ablation.runs(TREE)
    assert [(r.variant, r.curate_seed, r.accuracy) for r in runs] == [
        ("answer_only", 0, 0.20), ("answer_only (12 epochs)", 0, 0.60), ("stepwise", 0, 0.50), ("stepwise", 1, 0.80),
        ("stepwise (no dedupe)", 0, 0.10)]
    assert runs[2].steps == 100 and runs[3].steps == 101 and runs[1].epochs == 12


def test_summary_across_seeds() -> None:
    summary = {s.variant: s for s in ablation.summarize(ablation.runs(TREE))}
    assert summary["stepwise"].seeds == 2 and summary["stepwise"].mean == pytest.approx(0.65)
    assert summary["stepwise"].sd == pytest.approx(0.2121, abs=1e-4) and summary["answer_only"].sd == 0.0
    table = ablation.markdown(ablation.runs(TREE))
    # the interval is Wilson's from the counts (320/400), not the experiment's own ci_lo/ci_hi (75, 85)
    assert "| stepwise | 1 | 80.0 | [75.8, 83.6] | 400 | 101 |" in table
    assert "| stepwise | 2 | 65.0 | 50.0 | 80.0 | 21.2 |" in table


def test_runs_read_the_detailed_metrics_from_each_experiments_commit() -> None:
    """exp show carries only the declared metric (headline.json): the detailed files come from `read`."""
    committed = {}
    tree = [{"rev": "base", "data": {}, "experiments": []}]
    for e in TREE[1]["experiments"]:
        entry = json.loads(json.dumps(e["revs"][0]))
        for path, shown in (entry["data"].pop("metrics") or {}).items():
            committed[(entry["rev"], path)] = shown["data"]
        entry["data"]["metrics"] = {"metrics/headline.json": {"data": {"sft_val_loss": 1.0}}}
        tree[0]["experiments"].append({"revs": [entry]})
    assert ablation.runs(tree) == []  # nothing to read without the files
    read = lambda rev, path: committed.get((rev, path))  # noqa: E731
    assert ablation.runs(tree, read=read) == ablation.runs(TREE)


def test_no_runs_is_said_plainly() -> None:
    assert "No finished experiments" in ablation.markdown(ablation.runs(TREE, profile="paper"))


def test_saved_runs_re_render_the_same_comparison(tmp_path) -> None:
    """A fresh clone has no experiments: the comparison re-renders from the saved runs, byte for byte."""
    runs = ablation.runs(TREE)
    path = tmp_path / "ablation_runs.json"
    ablation.save_runs(path, runs, mode="strict", source="dvc exp show")
    loaded, source = ablation.load_runs(path, benchmark="chain_sum", mode="strict", profile="arith")
    assert loaded == runs and source == "dvc exp show"
    kw = dict(profile="arith", benchmark="chain_sum", mode="strict", source=source)
    assert ablation.report_markdown(loaded, **kw) == ablation.report_markdown(runs, **kw)
    assert ablation.load_runs(path, benchmark="chain_sum", mode="abel", profile="arith")[0] == []
    assert ablation.load_runs(path, benchmark="gsm8k", mode="strict", profile="arith")[0] == []


def test_an_empty_comparison_is_never_saved_and_a_bad_file_is_named(tmp_path) -> None:
    path = tmp_path / "ablation_runs.json"
    with pytest.raises(ablation.AblationError, match="no runs to save"):
        ablation.save_runs(path, [], mode="strict", source="x")
    assert not path.exists()
    path.write_text('{"runs": [{"name": 1}]}')
    with pytest.raises(ablation.AblationError, match="ablation_runs.json: not a saved ablation comparison"):
        ablation.load_runs(path, benchmark="chain_sum", mode="strict", profile="arith")


def test_the_profile_overlay_is_what_the_experiment_ran() -> None:
    """Read through config.with_profile (the pipeline's own merge): an overlay value wins over the base."""
    entry = exp("b1", "stepwise", 0, 0.5)
    entry["data"]["params"]["params.yaml"]["data"]["profiles"]["arith"]["curate"] = {"format": "original"}
    tree = [{"rev": "base", "data": {}, "experiments": [{"revs": [entry]}]}]
    [run] = ablation.runs(tree)
    assert (run.format, run.epochs) == ("original", 6)
