"""The generate stage's reading helpers, on files written here (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel import artifacts as A
from abel.io import MissingOutput, write_json, write_jsonl
from abel.stages import generate

SUMMARY = {"benchmarks": {"gsm8k": {"n": 2}, "math": {"n": 1}}}


def test_load_and_examples(tmp_path: Path) -> None:
    write_json(tmp_path / A.GENERATE_SUMMARY, SUMMARY)
    long = "step " * 50  # 250 characters
    write_jsonl(tmp_path / A.GENERATIONS / "gsm8k.jsonl", [{"id": 0, "gold": "5", "response": "#### 5"},
                                                           {"id": 1, "gold": "6", "response": "second"}])
    write_jsonl(tmp_path / A.GENERATIONS / "math.jsonl", [{"id": "m7", "gold": "\\frac12", "response": long}])
    summary = generate.load(tmp_path)
    assert summary == SUMMARY
    examples = generate.examples(tmp_path, summary, chars=20)
    assert examples == [
        {"benchmark": "gsm8k", "id": 0, "gold": "5", "response": "#### 5"},  # short: unchanged, only the first row
        {"benchmark": "math", "id": "m7", "gold": "\\frac12", "response": long[:20] + " ..."},
    ]
    assert generate.examples(tmp_path, summary, chars=len(long))[1]["response"] == long  # exactly fits: no " ..."


def test_missing_outputs_say_run_generate(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"metrics/generate/summary\.json does not exist yet: run `dvc repro generate`"):
        generate.load(tmp_path)
    with pytest.raises(MissingOutput, match=r"outputs/generations/gsm8k\.jsonl does not exist here: run `dvc repro generate`"):
        generate.examples(tmp_path, SUMMARY)
