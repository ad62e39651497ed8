"""Checkpoint evaluation helpers: accuracy rows, mixed-kind scoring."""

from __future__ import annotations

from abel.analysis.stats import accuracy_rows
from abel.scoring.runner import correct_by_kind


def test_accuracy_rows_per_step_and_split() -> None:
    rows = accuracy_rows({8: {"train": [True, True, False, True], "test": [False] * 4}}, ci=0.9)
    assert [(r["step"], r["split"], r["n"], r["accuracy"]) for r in rows] == [(8, "train", 4, 0.75), (8, "test", 4, 0.0)]
    assert rows[0]["ci_lo"] <= 0.75 <= rows[0]["ci_hi"] and rows[0]["ci"] == 0.9


def test_mixed_kinds_are_scored_each_with_its_own_kind() -> None:
    rows = [{"response": "#### 12", "gold": "12"}, {"response": "so \\boxed{\\frac{1}{2}}", "gold": "\\frac{1}{2}"},
            {"response": "#### 13", "gold": "12"}]
    assert correct_by_kind(rows, ["numeric", "latex", "numeric"], timeout_s=2.0, workers=1, progress=False) == [
        True, True, False]
