"""Everything that must fail before training does, with a message naming the cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abel.config import ParamsError, SFTParams, parse_params
from abel.training import launch
from abel.training.launch import PlanError, command, environment, load_deepspeed_config, plan, run_key
from abel.training.models import ModelSourceError, check_source

from .conftest import write_curated


def sft(**kw: object) -> SFTParams:
    return parse_params({"sft": kw}).sft


def test_batch_arithmetic_follows_world_size(tmp_path: Path) -> None:
    p = plan(sft(global_batch_size=16, micro_batch_size=2, processes=2), tmp_path, gpus=0)
    assert (p.world_size, p.grad_accum, p.cpu, p.precision, p.threads_per_process) == (2, 4, True, "fp32", p.threads_per_process)
    p = plan(sft(global_batch_size=128, micro_batch_size=4, processes=0, deepspeed="zero3"), tmp_path, gpus=8)
    assert (p.world_size, p.grad_accum, p.precision, p.cpu) == (8, 4, "bf16", False)
    with pytest.raises(PlanError, match=r"global_batch_size 12 is not a multiple of sft.micro_batch_size 2 x world size 4"):
        plan(sft(global_batch_size=12, micro_batch_size=2, processes=4), tmp_path, gpus=0)


def test_impossible_combinations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="zero3_offload"):
        plan(sft(deepspeed="zero3_offload"), tmp_path, gpus=0)
    with pytest.raises(PlanError, match="no GPU is visible"):
        plan(sft(processes=0), tmp_path, gpus=0)
    with pytest.raises(PlanError, match="only 2 GPUs"):
        plan(sft(processes=4, global_batch_size=16), tmp_path, gpus=2)
    with pytest.raises(PlanError, match="bf16"):
        plan(sft(precision="bf16"), tmp_path, gpus=0)
    with pytest.raises(ParamsError, match="hostfile needs launcher: deepspeed"):
        sft(hostfile="hosts")
    with pytest.raises(ParamsError, match="not a multiple of micro_batch_size"):
        sft(global_batch_size=10, micro_batch_size=4)


def test_hostfile_sets_the_world(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("# two nodes\nnode-01 slots=8\nnode-02 slots=8  # second\n")
    p = plan(sft(launcher="deepspeed", hostfile="hosts", global_batch_size=128, micro_batch_size=4), tmp_path, gpus=8)
    assert (p.nodes, p.processes, p.world_size, p.grad_accum) == (2, 8, 16, 2)
    cmd = command(sft(launcher="deepspeed", hostfile="hosts"), p, Path("run.json"), tmp_path)
    assert cmd[0] == "deepspeed" and cmd[cmd.index("--hostfile") + 1] == str(tmp_path / "hosts")
    assert cmd[-2:] == ["abel.training.train", "run.json"] and "--no_local_rank" in cmd
    (tmp_path / "bad").write_text("node-01 gpus=8\n")
    with pytest.raises(PlanError, match=r"bad:1: expected '<host> slots=<N>'"):
        plan(sft(launcher="deepspeed", hostfile="bad"), tmp_path, gpus=8)
    (tmp_path / "uneven").write_text("a slots=8\nb slots=4\n")
    with pytest.raises(PlanError, match="same number of slots"):
        plan(sft(launcher="deepspeed", hostfile="uneven"), tmp_path, gpus=8)


def test_torchrun_command_and_cpu_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    p = plan(sft(processes=2), tmp_path, gpus=0)
    cmd = command(sft(processes=2), p, Path("run.json"), tmp_path)
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and cmd[cmd.index("--nproc_per_node") + 1] == "2"
    env = environment(p, tmp_path)
    assert env["OMP_NUM_THREADS"] == str(p.threads_per_process)  # unset, CPU training crawls
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["DS_ACCELERATOR"] == "cpu"
    assert env["TORCH_EXTENSIONS_DIR"] == str(tmp_path / ".cache" / "torch_extensions")  # compiled once, in the repo


def test_shipped_deepspeed_configs_are_valid() -> None:
    for name, stage in (("zero2", 2), ("zero3", 3), ("zero3_offload", 3)):
        assert load_deepspeed_config(name)["zero_optimization"]["stage"] == stage
    assert load_deepspeed_config("none") is None


def test_invalid_deepspeed_config_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "DS_DIR", tmp_path)
    (tmp_path / "zero2.json").write_text('{\n  "zero_optimization": {"stage": 2,}\n}')
    with pytest.raises(PlanError, match=r"zero2.json:2: invalid JSON"):
        load_deepspeed_config("zero2")
    (tmp_path / "zero2.json").write_text(json.dumps({"zero_optimization": {"stage": 2, "overlap_comms": True}}))
    with pytest.raises(PlanError, match=r"zero_optimization.overlap_comms"):
        load_deepspeed_config("zero2")
    (tmp_path / "zero2.json").write_text(json.dumps({"train_batch_size": 8}))
    with pytest.raises(PlanError, match="no 'zero_optimization'"):
        load_deepspeed_config("zero2")


def test_model_sources_are_checked_before_training(tmp_path: Path) -> None:
    check_source("tiny", tmp_path)
    with pytest.raises(ModelSourceError, match="does not exist"):
        check_source("gguf:/nowhere/model.gguf", tmp_path)
    with pytest.raises(ModelSourceError, match="not a model directory"):
        check_source("./models/missing", tmp_path)
    (tmp_path / "m").mkdir()
    with pytest.raises(ModelSourceError, match="no config.json"):
        check_source(str(tmp_path / "m"), tmp_path)


@pytest.mark.slow  # transformers' own offline lookups take ~20 s
def test_hub_model_offline_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelSourceError, match="cannot load 'meta-llama/Llama-2-7b-hf'.*local directory"):
        check_source("meta-llama/Llama-2-7b-hf", tmp_path)


def test_launch_refuses_bad_inputs_before_starting(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    empty = write_curated(tmp_path / "empty.jsonl", [])
    with pytest.raises(PlanError, match="no records"):
        launch.launch(sft(model="tiny"), tmp_path, empty, None, tmp_path / "out", runs_dir=tmp_path / "runs")
    with pytest.raises(PlanError, match="not a model directory"):
        launch.launch(sft(model="./nope"), tmp_path, curated[0], None, tmp_path / "out", runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()  # nothing half-made


def test_run_key_tracks_params_plan_data_and_the_ranks_code(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    train, val = curated
    p = plan(sft(processes=2), tmp_path, gpus=0)
    key = run_key(sft(processes=2), p, train, val)
    assert key == run_key(sft(processes=2), p, train, val)
    assert key != run_key(sft(processes=2, lr=1e-4), p, train, val)
    assert key != run_key(sft(processes=2), plan(sft(processes=1), tmp_path, gpus=0), train, val)  # another layout
    assert key != run_key(sft(processes=2), p, train, None)
    copy = write_curated(tmp_path / "t.jsonl", [json.loads(line) for line in train.read_text().splitlines()[:-1]])
    assert key != run_key(sft(processes=2), p, copy, val)


def test_run_key_covers_the_training_code_and_not_the_log_reader() -> None:
    """What the ranks run (python -m abel.training.train and its imports, core modules aside) and the
    launcher are in the key; the log reader and the stage module are not, so editing them never retrains."""
    from abel.training.launch import RUN_CODE
    from tests.imports import closure

    ranks = {m for m in closure("abel.training.train") if m.startswith("abel.training.") or m == "abel.modelio"}
    assert ranks <= set(RUN_CODE), f"the ranks also run {sorted(ranks - set(RUN_CODE))}: add them to RUN_CODE"
    assert "abel.training.launch" in RUN_CODE and "abel.training.logs" not in RUN_CODE


def test_run_key_does_not_depend_on_the_hosts_core_count(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    """A run killed on one machine resumes on another with more cores (same layout, same weights)."""
    import dataclasses

    train, val = curated
    p = plan(sft(processes=2), tmp_path, gpus=0)
    other = dataclasses.replace(p, threads_per_process=p.threads_per_process + 7)
    assert run_key(sft(processes=2), p, train, val) == run_key(sft(processes=2), other, train, val)
