"""One compare@<format> run for real (curate, 2-process training, generation, strict scoring), shrunk to seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from abel import artifacts as A
from abel.config import parse_params
from abel.io import read_jsonl
from abel.stages import compare

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def small_params():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    arith = raw["profiles"]["arith"]
    arith["curate"]["procedural_size"] = 300
    arith["sft"].update(max_steps=12, save_steps=6, eval_steps=6, max_val_examples=8)
    raw["compare"].update(test_questions=30, curve_train_questions=10, curve_test_questions=10)
    raw["profile"] = "tiny"  # the active profile does not matter: the runs use compare.profile (arith)
    return parse_params(raw)


def test_a_run_writes_its_folder_and_metrics_and_a_rerun_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    params = small_params()
    m = compare.run(params, tmp_path, "stepwise", progress=False)
    folder = tmp_path / A.compare_run("stepwise")
    assert (m["format"], m["profile"], m["benchmark"], m["mode"], m["n"], m["steps"], m["world_size"]) == \
        ("stepwise", "arith", "chain_sum", "strict", 30, 12, 2)  # two processes (the pipeline tests' copy trains on one)
    assert m == compare.load(tmp_path, "stepwise")
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step-000006", "step-000012"]
    assert [(r["step"], r["split"], r["n"]) for r in m["curve"]] == [(6, "train", 10), (6, "test", 10),
                                                                       (12, "train", 10), (12, "test", 10)]
    assert not list(tmp_path.joinpath(A.COMPARE_RUNS).glob(".*"))  # no staging folder left
    tests = read_jsonl(folder / "test.jsonl")
    assert len(tests) == 30 and m["correct"] == sum(r["correct"] for r in tests)
    # the last checkpoint is the final model: the curve's last test answers are the test run's, read through
    # the exported checkpoint instead of the saved model
    curve = [r for r in read_jsonl(folder / "curve.jsonl") if r["step"] == 12 and r["split"] == "test"]
    assert [(r["id"], r["response"], r["correct"]) for r in curve] == [(r["id"], r["response"], r["correct"]) for r in tests[:10]]
    train, _ = compare.losses(tmp_path, "stepwise")
    assert [r["step"] for r in train] == [1, 5, 10]  # logged every sft.logging_steps (5 in arith), and the first
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["profile"] == "arith" and prov["run"]["resumes"] == 0

    before = {p: p.read_bytes() for p in (tmp_path / A.compare_metrics("stepwise"), folder / "test.jsonl", folder / "curve.jsonl")}
    again = compare.run(params, tmp_path, "stepwise", progress=False)  # the run folder is complete: nothing retrains
    assert again == m
    assert {p: p.read_bytes() for p in before} == before
    assert json.loads((folder / "provenance.json").read_text())["run"]["resumes"] == 0

    # another format: another curated corpus, another run key, another model
    other = compare.run(params, tmp_path, "answer_only", progress=False)
    assert other["format"] == "answer_only" and other["n"] == 30
    assert len(list((tmp_path / A.COMPARE_CHECKPOINTS).iterdir())) == 2
    first = read_jsonl(tmp_path / A.compare_run("answer_only") / A.CURATED_TRAIN)[0]
    assert "####" in first["target"] and "1." not in first["target"]
