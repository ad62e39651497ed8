"""The score stage's ``load``: both summaries, as the stage writes them (no scoring)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel import artifacts as A
from abel.io import MissingOutput, write_json
from abel.stages import score


def test_load_both_summaries(tmp_path: Path) -> None:
    row = {"n": 4, "correct": 3, "accuracy": 0.75, "timeouts": 0, "errors": 0, "slow_path": 1}
    write_json(tmp_path / A.RELEASED_SCORE_SUMMARY, {"gsm8k/7b/abel": row, "gsm8k/7b/strict": {**row, "correct": 2}})
    write_json(tmp_path / A.OURS_SCORE_SUMMARY, {})  # nothing generated: an empty summary
    released, ours = score.load(tmp_path)
    assert released == [{"benchmark": "gsm8k", "model": "7b", "mode": "abel", **row},
                        {"benchmark": "gsm8k", "model": "7b", "mode": "strict", **row, "correct": 2}]
    assert ours == []


def test_load_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match="dvc repro score"):
        score.load(tmp_path)
