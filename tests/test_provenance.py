"""Provenance blocks: commit + dirty flag, params hashes, versions, hardware."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from abel.config import parse_params
from abel.provenance import git_state, params_hash, provenance


def test_git_state_sees_commit_and_dirty_tree(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"commit": None, "dirty": None}  # not a checkout: said, not guessed
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "src").mkdir()
    (tmp_path / "metrics").mkdir()
    for rel in ("src/f.py", "metrics/m.json", "dvc.lock"):
        (tmp_path / rel).write_text("a")
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    clean = git_state(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "metrics/m.json").write_text("b")  # outputs and DVC's own lock file are not inputs
    (tmp_path / "dvc.lock").write_text("b")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "src/f.py").write_text("b")
    assert git_state(tmp_path) == {"commit": clean["commit"], "dirty": True}
    # a commit of outputs only (what follows a pipeline run) moves HEAD, not the inputs' commit
    subprocess.run(["git", "checkout", "-q", "src/f.py"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qam", "outputs"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert head != clean["commit"] and git_state(tmp_path) == {"commit": clean["commit"], "dirty": False}


def test_record_run_writes_provenance_and_run_facts_beside_the_metrics(tmp_path: Path) -> None:
    from abel.artifacts import provenance as provenance_file
    from abel.provenance import record_run

    params = parse_params({})
    record = record_run(tmp_path, "sft", params, ("sft",), {"sft": 0}, run={"tokens_per_s": 12.5})
    on_disk = json.loads((tmp_path / provenance_file("sft")).read_text())
    assert on_disk == record and record["run"] == {"tokens_per_s": 12.5} and record["seeds"] == {"sft": 0}
    assert provenance_file("sft") == "outputs/provenance/sft.json"


def test_block_records_params_versions_and_hardware(tmp_path: Path) -> None:
    params = parse_params({"sft": {"lr": 1e-4}})
    block = provenance(tmp_path, params, ("sft",), {"sft": 0}, versions={"extra": "1"})
    assert block["params_hash"]["sft"] == params_hash(params.sft) != params_hash(parse_params({}).sft)
    assert block["versions"]["torch"].startswith("2.13.0") and block["versions"]["extra"] == "1"
    assert "vllm" in block["versions"] and block["seeds"] == {"sft": 0} and block["profile"] == "cpu"
    assert block["hardware"]["cpu_count"] >= 1 and isinstance(block["hardware"]["gpus"], list)
