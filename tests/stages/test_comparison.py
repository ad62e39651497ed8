"""The comparison stage on compare@<format> outputs written here (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from abel import artifacts as A
from abel.analysis.comparison import ComparisonError
from abel.analysis.stats import accuracy_rows, mcnemar_exact
from abel.config import parse_params
from abel.io import MissingOutput, write_csv, write_json, write_jsonl
from abel.stages import comparison

REPO = Path(__file__).resolve().parents[2]
VERDICTS = {"answer_only": [True, False, False, False, True, False, False, False],
            "original": [True, True, False, True, True, False, True, False],
            "stepwise": [True, True, True, True, False, True, True, True]}


def write_run(root: Path, fmt: str, verdicts: list[bool], ids: list[str] | None = None, n: int | None = None) -> None:
    ids = ids or [str(i) for i in range(len(verdicts))]
    folder = root / A.compare_run(fmt)
    write_jsonl(folder / "test.jsonl", ({"id": i, "prompt": "q", "gold": "1", "response": "r", "correct": v}
                                        for i, v in zip(ids, verdicts)))
    write_csv(folder / "train.csv", [{"step": s, "loss": 2.0 / s} for s in (1, 2, 3)], ("step", "loss"))
    write_csv(folder / "val.csv", [{"step": 3, "val_loss": 0.7}], ("step", "val_loss"))
    k = sum(verdicts)
    write_json(root / A.compare_metrics(fmt), {
        "format": fmt, "profile": "arith", "benchmark": "chain_sum", "mode": "strict", "accuracy": k / len(verdicts),
        "ci_lo": 0.0, "ci_hi": 1.0, "ci": 0.95, "n": len(verdicts) if n is None else n, "correct": k, "steps": 3,
        "epochs": 1.0, "train_tokens_seen": 300, "train_records": 40, "parameters": 1000, "curate_seed": 0, "sft_seed": 0,
        "train_loss_final": 0.6,
        "val_loss_final": 0.7, "curve": accuracy_rows({3: {"train": verdicts, "test": verdicts}}, ci=0.95)})


def params():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["analyze"]["bootstrap_resamples"] = 500
    return parse_params(raw)


def test_run_writes_the_summary_markdown_and_figures(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"metrics/compare/answer_only\.json does not exist yet: run `dvc repro compare@answer_only`"):
        comparison.run(params(), tmp_path)
    for fmt, v in VERDICTS.items():
        write_run(tmp_path, fmt, v)
    summary = comparison.run(params(), tmp_path)
    assert summary == comparison.load(tmp_path) == json.loads((tmp_path / A.COMPARISON_METRICS).read_text())
    assert [r["format"] for r in summary["runs"]] == ["answer_only", "original", "stepwise"]
    assert [r["accuracy"] for r in summary["runs"]] == [2 / 8, 5 / 8, 7 / 8]
    last = summary["pairs"][1]
    assert (last["base"], last["other"], last["delta"]) == ("answer_only", "stepwise", pytest.approx(5 / 8))
    assert last["p_value"] == mcnemar_exact(VERDICTS["answer_only"], VERDICTS["stepwise"]).p_value
    md = (tmp_path / A.COMPARISON_MD).read_text()
    assert "| stepwise | 87.5 |" in md and "| 1000 | 0 / 0 |" in md
    for stem in ("accuracy", "curves"):
        assert (tmp_path / A.COMPARISON_FIGURES / f"{stem}.png").stat().st_size > 1000


def test_runs_on_other_questions_are_an_error(tmp_path: Path) -> None:
    for fmt, v in VERDICTS.items():
        write_run(tmp_path, fmt, v)
    write_run(tmp_path, "stepwise", VERDICTS["stepwise"], ids=[str(i + 1) for i in range(8)])
    with pytest.raises(ComparisonError, match="outputs/compare/stepwise/test.jsonl and outputs/compare/answer_only/test.jsonl "
                                              "answered different questions"):
        comparison.run(params(), tmp_path)
    write_run(tmp_path, "stepwise", VERDICTS["stepwise"], n=9)  # metrics and responses of different runs
    with pytest.raises(ComparisonError, match=r"metrics/compare/stepwise.json says \(format, profile, benchmark, n, correct\) = "
                                              r"\('stepwise', 'arith', 'chain_sum', 9, 7\); compare.\* and outputs/compare/"
                                              r"stepwise/test.jsonl give \('stepwise', 'arith', 'chain_sum', 8, 7\): not the same run"):
        comparison.run(params(), tmp_path)
    write_run(tmp_path, "stepwise", VERDICTS["stepwise"])
    write_run(tmp_path, "original", VERDICTS["stepwise"])  # another run's responses under original's metrics
    metrics = json.loads((tmp_path / A.compare_metrics("original")).read_text())
    write_run(tmp_path, "original", VERDICTS["original"])
    (tmp_path / A.compare_run("original") / "test.jsonl").write_text(
        (tmp_path / A.compare_run("stepwise") / "test.jsonl").read_text())
    with pytest.raises(ComparisonError, match=r"\('original', 'arith', 'chain_sum', 8, 5\); .* give \('original', 'arith', "
                                              r"'chain_sum', 8, 7\)"):
        comparison.run(params(), tmp_path)
    assert metrics["correct"] == 7
