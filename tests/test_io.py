"""Reading a stage's outputs from a notebook opened in JupyterLab."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel.io import MissingOutput, read_csv_rows, read_output, read_output_rows


def test_missing_output_names_the_dvc_command(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"metrics/sft/summary.json does not exist yet: run `dvc repro sft` first"):
        read_output(tmp_path, "metrics/sft/summary.json", "sft")
    with pytest.raises(MissingOutput, match="dvc repro sft"):
        read_csv_rows(tmp_path / "train.csv", "sft")
    # a DVC-cached JSONL output, absent from a fresh clone
    with pytest.raises(MissingOutput, match=r"data/curated/train.jsonl does not exist here: run `dvc repro curate` \(or `dvc pull`\)"):
        read_output_rows(tmp_path, "data/curated/train.jsonl", "curate")
    (tmp_path / "g.jsonl").write_text('{"id": "1"}\n')
    assert read_output_rows(tmp_path, "g.jsonl", "generate", required=("id",)) == [{"id": "1"}]


def test_csv_rows_are_numbers(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("step,loss,grad_norm\n1,2.5,\n2,2.25,0.5\n")
    assert read_csv_rows(tmp_path / "train.csv", "sft") == [
        {"step": 1, "loss": 2.5, "grad_norm": None}, {"step": 2, "loss": 2.25, "grad_norm": 0.5}]
