"""Checkpoint evaluation helpers: which checkpoints count, accuracy rows, mixed-kind scoring."""

from __future__ import annotations

from pathlib import Path

from abel.analysis.stats import accuracy_rows
from abel.generation import checkpoints as ck
from abel.modelio import CHECKPOINT_COMPLETE
from abel.scoring.runner import correct_by_kind


def test_only_complete_checkpoints_count(tmp_path: Path) -> None:
    for step, complete in ((4, True), (8, True), (12, False)):
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        if complete:
            (folder / CHECKPOINT_COMPLETE).write_text("")
    (tmp_path / "checkpoints" / "checkpoint-x").mkdir()
    assert [s for s, _ in ck.saved_checkpoints(tmp_path)] == [4, 8]


def test_accuracy_rows_per_step_and_split() -> None:
    rows = accuracy_rows({8: {"train": [True, True, False, True], "test": [False] * 4}}, ci=0.9)
    assert [(r["step"], r["split"], r["n"], r["accuracy"]) for r in rows] == [(8, "train", 4, 0.75), (8, "test", 4, 0.0)]
    assert rows[0]["ci_lo"] <= 0.75 <= rows[0]["ci_hi"] and rows[0]["ci"] == 0.9


def test_mixed_kinds_are_scored_each_with_its_own_kind() -> None:
    rows = [{"response": "#### 12", "gold": "12"}, {"response": "so \\boxed{\\frac{1}{2}}", "gold": "\\frac{1}{2}"},
            {"response": "#### 13", "gold": "12"}]
    assert correct_by_kind(rows, ["numeric", "latex", "numeric"], timeout_s=2.0, workers=1, progress=False) == [
        True, True, False]
