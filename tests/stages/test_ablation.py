"""The ablation stage's ``load`` and ``plot`` on a saved comparison (no dvc experiments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel import artifacts as A
from abel.analysis.ablation import Run, save_runs
from abel.stages import ablation


def _run(fmt: str, seed: int, acc: float, profile: str = "arith", benchmark: str = "chain_sum") -> Run:
    return Run(name=f"{fmt}-{seed}", rev=f"{seed:040d}", profile=profile, format=fmt, dedupe=True, decontaminate=True,
               curate_seed=seed, sft_seed=seed, benchmark=benchmark, accuracy=acc, ci_lo=acc - 0.1, ci_hi=acc + 0.1,
               n=50, steps=10, train_tokens=1000, epochs=3.0)


RUNS = [_run("abel", 0, 0.5), _run("abel", 1, 0.7), _run("plain", 0, 0.3),
        _run("abel", 2, 0.9, profile="gsm"), _run("abel", 3, 0.1, benchmark="gsm8k")]


def test_load_absent_is_empty(tmp_path: Path) -> None:
    assert ablation.load(tmp_path, profile="arith", benchmark="chain_sum", mode="strict") == ([], "")


def test_load_filters_the_saved_runs(tmp_path: Path) -> None:
    save_runs(tmp_path / A.ABLATION_RUNS, RUNS, mode="strict", source="read from `exp.json`")
    runs, source = ablation.load(tmp_path, profile="arith", benchmark="chain_sum", mode="strict")
    assert source == "read from `exp.json`"
    assert runs == RUNS[:3]  # other profiles and benchmarks left out, Run objects rebuilt exactly
    assert ablation.load(tmp_path, profile="arith", benchmark="chain_sum", mode="abel") == ([], "read from `exp.json`")


def test_plot(tmp_path: Path) -> None:
    fig = ablation.plot(RUNS[:3], profile="arith", mode="strict")
    ax = fig.axes[0]
    assert ax.get_title() == "Curation ablation (arith profile, strict scoring)"
    assert ax.get_ylabel() == "accuracy on chain_sum (%)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["abel", "plain"]
    assert [p.get_height() for p in ax.patches] == pytest.approx([60.0, 30.0])  # variant means over seeds
