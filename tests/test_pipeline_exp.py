"""`dvc exp run -S` and the generate stage on the vLLM backend, in a copy of the finished tiny pipeline
(tests/pipeline.py).

`dvc exp run -S` is the other side of the antlr4 conflict: DVC's hydra/omegaconf need antlr4 4.9
and fail with 4.11 ("Could not deserialize ATN"), while abel mode needs 4.11. Both run here, in
one checkout: the 4.11 stack lives only in the paper-scorer folder.
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from abel.io import read_jsonl
from tests.pipeline import BIN, run as _run

pytestmark = pytest.mark.slow


def test_dvc_exp_run_with_set_param_beside_abel_mode(repo_copy: Path) -> None:
    assert version("antlr4-python3-runtime").startswith("4.9"), "DVC's antlr4 must stay 4.9 in the main env"
    out = _run([str(BIN / "dvc"), "exp", "run", "-S", "analyze.bootstrap_resamples=2000"], repo_copy).stdout
    # only the stage that reads analyze.* re-runs; score (abel mode, antlr4 4.11 in workers) is cached
    assert "Running stage 'analyze'" in out
    assert "Running stage 'score'" not in out and "Running stage 'curate'" not in out
    shown = _run([str(BIN / "dvc"), "exp", "show", "--json"], repo_copy).stdout
    assert "bootstrap_resamples" in shown


def test_changing_a_generate_param_reruns_only_what_is_downstream(repo_copy: Path) -> None:
    out = _run([str(BIN / "dvc"), "exp", "run", "-S", "profiles.tiny.generate.max_new_tokens=32"], repo_copy).stdout
    assert "Running stage 'generate'" in out
    assert "Running stage 'curate'" not in out and "Running stage 'sft'" not in out
    gen = json.loads((repo_copy / "metrics/generate/summary.json").read_text())
    assert gen["max_new_tokens"] == 32


def test_generate_stage_with_the_vllm_backend_gives_the_hf_rows(repo_copy: Path, tmp_path: Path) -> None:
    """The generate stage (its notebook, via `abel stage`) with generate.backend: vllm on the tiny profile's
    trained model, in a copy of the finished pipeline: the same questions, and greedy responses identical
    to the hf backend's on at least 95% of them (the disagreements, if any, are printed)."""
    from abel.generation import vllm_engine

    if reason := vllm_engine.cpu_unsupported():
        pytest.skip(f"vLLM cannot run on this CPU: {reason}")
    try:
        vllm_engine.python()
    except vllm_engine.VLLMError as exc:
        pytest.fail(f"{exc} (make install installs it)")
    copy = tmp_path / "copy"
    shutil.copytree(repo_copy, copy, symlinks=True)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["profiles"]["tiny"]["generate"]["backend"] = "vllm"
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run([str(BIN / "abel"), "params", "--write"], copy)
    _run([str(BIN / "abel"), "stage", "generate"], copy)
    summary = json.loads((copy / "metrics/generate/summary.json").read_text())
    assert summary["backend"] == "vllm" and summary["vllm"] == "0.32.0" and summary["device"] == "cpu"
    same, total, differ = 0, 0, []
    for hf_file in sorted((repo_copy / "outputs/generations").glob("*.jsonl")):
        hf_rows, vllm_rows = read_jsonl(hf_file), read_jsonl(copy / "outputs/generations" / hf_file.name)
        assert [(r["id"], r["prompt"]) for r in vllm_rows] == [(r["id"], r["prompt"]) for r in hf_rows]
        for a, b in zip(hf_rows, vllm_rows):
            total += 1
            same += a["response"] == b["response"]
            if a["response"] != b["response"]:
                differ.append(f"{hf_file.stem} {a['id']}: hf {a['response'][:80]!r} | vllm {b['response'][:80]!r}")
    print(f"vllm vs hf greedy responses identical: {same}/{total}", *differ, sep="\n")
    asked = sum(params["profiles"]["tiny"]["generate"]["benchmarks"].values())
    assert total == asked and same >= 0.95 * total, "\n".join(differ)
