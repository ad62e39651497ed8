"""Real multi-process DeepSpeed on CPU (gloo), checked from what the run itself logged; resume after SIGKILL;
two "nodes" (127.0.0.1 and 127.0.0.2) reached over a real sshd by the deepspeed launcher's pdsh.

Slow (each run starts 2 processes; the first compiles DeepSpeed's shared-memory op into
.cache/torch_extensions): run by `make test`, skipped by `-m "not slow"`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from abel.training import allocator
from abel.training.launch import RunResult, launch
from abel.training.logs import RunLog

from .conftest import REPO, run, tiny_sft

pytestmark = pytest.mark.slow


def assert_real_multiprocess(log: RunLog, stage: int) -> None:
    assert log.world_size == 2
    for rank, begins in log.begins.items():
        assert begins[0]["world_size"] == 2 and begins[0]["rank"] == rank
        assert begins[0]["engine"] == "DeepSpeedEngine" and begins[0]["zero_stage"] == stage
        assert begins[0]["grad_accum"] == 2 and begins[0]["micro_batch"] == 4  # 16 = 4 x 2 ranks x 2
    # each rank trained on its own shard: never the same example as the other rank in one step
    assert log.shared_steps == 0
    assert set(log.shards[0]) != set(log.shards[1])
    assert min(len(ids) for ids in log.shards.values()) >= 100  # up to 30 steps x 2 micro-batches x 4
    losses = [r["loss"] for r in log.train]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5, losses
    assert log.val and log.val[-1]["val_loss"] < log.val[0]["val_loss"]


def test_zero2_two_processes(zero2: tuple[RunResult, RunLog]) -> None:
    result, log = zero2
    assert_real_multiprocess(log, stage=2)
    assert (result.output_dir / "model.safetensors").is_file() and (result.output_dir / "tokenizer.json").is_file()
    assert result.resumed_from is None


def test_two_nodes_over_ssh_train_what_one_node_trains(zero2: tuple[RunResult, RunLog], curated: tuple[Path, Path],
                                                      tmp_path: Path, sshd) -> None:
    """2 nodes x 1 process, the deepspeed launcher and a hostfile of two loopback addresses: pdsh logs in to
    each over ssh (tests/sshd.py, a throwaway key) and starts one rank there; gloo. The same config as
    the 1 node x 2 process torchrun run, and the same numbers at every step: exactly, because both runs
    are fp32 with the same seeds and shards, and an all-reduce of two gradients is one addition, the same
    whichever rank does it."""
    if shutil.which("pdsh") is None:
        pytest.skip("no pdsh (apt-get install pdsh): the deepspeed launcher starts a multi-node run's ranks with it")
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("".join(f"{host} slots=1\n" for host in sshd.hosts))
    sft = tiny_sft("zero2", launcher="deepspeed", hostfile=str(hostfile), ssh_config=str(sshd.client_config))
    result, log = run(sft, curated, tmp_path)
    assert (result.plan.nodes, result.plan.processes, result.plan.world_size) == (2, 1, 2)
    assert_real_multiprocess(log, stage=2)  # world size 2, sharded, ZeRO-2, loss falls
    assert {rank: begins[0]["node_rank"] for rank, begins in log.begins.items()} == {0: 0, 1: 1}
    # each node's launcher ran in an ssh session pdsh opened to that node's address (pdsh prefixes its output)
    train_log = (result.run_dir / "train.log").read_text(errors="replace")
    for node, host in enumerate(sshd.hosts):
        assert re.search(rf"^{re.escape(host)}: .*node_rank={node}\b", train_log, re.M), train_log[-3000:]
        assert f"on {host} port {sshd.port}" in sshd.log.read_text(errors="replace")

    _, one_node = zero2
    assert {rank: begins[0]["node_rank"] for rank, begins in one_node.begins.items()} == {0: 0, 1: 0}
    # the one-node run's ranks got tcmalloc where it is installed; pdsh's ranks start without a preload
    local = "tcmalloc" if allocator.find_tcmalloc() else "system"
    assert {b[0]["allocator"] for b in one_node.begins.values()} == {local}
    assert {b[0]["allocator"] for b in log.begins.values()} == {"system"}
    assert [(r["step"], r["loss"]) for r in log.train] == [(r["step"], r["loss"]) for r in one_node.train]
    assert log.train[-1]["step"] == 30 and log.train[-1]["loss"] == one_node.train[-1]["loss"]
    assert log.val == one_node.val
    assert log.shards == one_node.shards  # rank r trained on the same examples as rank r of the one-node run


def test_zero3_two_processes_with_packing(curated: tuple[Path, Path], tmp_path: Path) -> None:
    result, log = run(tiny_sft("zero3", packing=True), curated, tmp_path)
    assert log.world_size == 2 and log.begins[0][0]["zero_stage"] == 3 and log.shared_steps == 0
    losses = [r["loss"] for r in log.train]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5, losses
    # ZeRO-3 shards parameters; the saved model is the gathered whole and loads on its own
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(result.output_dir)
    assert sum(p.numel() for p in model.parameters()) > 50_000


def test_plain_ddp_trains_the_same_weights_under_tcmalloc_and_the_system_malloc(curated: tuple[Path, Path],
                                                                                tmp_path: Path) -> None:
    """sft.cpu_allocator moves where tensors live, never a number: 2 processes of plain DDP (the cpu profile's
    engine, on the tiny model) trained under each, the same loss at every step and the same weights, bit
    for bit. (SmolLM2, whose tensors are the ones glibc maps afresh, was checked the same way by hand:
    benchmarks/README.md.)"""
    if allocator.find_tcmalloc() is None:
        pytest.skip("no tcmalloc installed (apt-get install libtcmalloc-minimal4)")
    import torch
    from safetensors.torch import load_file

    runs = {}
    for choice in ("system", "tcmalloc"):
        sft = tiny_sft("none", cpu_allocator=choice, max_steps=8, save_steps=100, eval_steps=4)
        runs[choice] = run(sft, curated, tmp_path / choice)
    (sys_result, sys_log), (tc_result, tc_log) = runs["system"], runs["tcmalloc"]
    assert {b[0]["allocator"] for b in sys_log.begins.values()} == {"system"}
    assert {b[0]["allocator"] for b in tc_log.begins.values()} == {"tcmalloc"}
    assert sys_log.world_size == tc_log.world_size == 2 and sys_log.begins[0][0]["engine"] == "DistributedDataParallel"
    assert [(r["step"], r["loss"], r["grad_norm"]) for r in sys_log.train] == \
        [(r["step"], r["loss"], r["grad_norm"]) for r in tc_log.train]
    assert len(sys_log.train) == 8 and sys_log.val == tc_log.val
    a, b = (load_file(r.output_dir / "model.safetensors") for r in (sys_result, tc_result))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def kill_tree(pid: int) -> int:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in procs:
        proc.kill()
    return len(procs)


def test_sigkill_then_resume_matches_uninterrupted_run(zero2: tuple[RunResult, RunLog], curated: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from abel.config import parse_params
        from abel.training.launch import launch
        from tests.training.test_multiprocess import tiny_sft
        if __name__ == "__main__":
            launch(tiny_sft("zero2"), Path({str(REPO)!r}), Path({str(curated[0])!r}), Path({str(curated[1])!r}),
                   Path({str(tmp_path / "model")!r}), runs_dir=Path({str(tmp_path / "runs")!r}), progress=False)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list((tmp_path / "runs").glob("*/checkpoints/checkpoint-10/COMPLETE")):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert kill_tree(proc.pid) >= 4  # launcher, torchrun, 2 ranks: everything dies at once
    proc.wait()
    assert not (tmp_path / "model").exists()

    result, log = run(tiny_sft("zero2"), curated, tmp_path)
    assert result.resumed_from is not None and int(result.resumed_from.rsplit("-", 1)[1]) >= 10
    assert len(log.begins[0]) == 2  # a first attempt and a resumed one
    _, baseline = zero2
    assert log.train[-1]["step"] == baseline.train[-1]["step"] == 30
    assert log.train[-1]["loss"] == pytest.approx(baseline.train[-1]["loss"], rel=1e-5)
    assert log.val[-1]["val_loss"] == pytest.approx(baseline.val[-1]["val_loss"], rel=1e-5)
    assert (result.output_dir / "model.safetensors").is_file()


def test_rank_logs_survive_as_json(zero2: tuple[RunResult, RunLog]) -> None:
    result, _ = zero2
    for path in result.log_dir.glob("rank*.jsonl"):
        assert all(json.loads(line)["event"] in {"begin", "log", "end"} for line in path.read_text().splitlines())


def test_resume_refuses_a_checkpoint_with_a_planted_pickle(zero2: tuple[RunResult, RunLog], curated: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    """A real run's folder with a payload planted in its newest checkpoint: the launch stops before any
    process starts, names the file, and the payload never runs."""
    import shutil

    import torch

    from abel.training.safe_load import UntrustedCheckpoint
    from tests.training.test_safe_load import Payload

    result, _ = zero2
    runs = tmp_path / "runs"
    shutil.copytree(result.run_dir, runs / result.run_dir.name)
    newest = sorted((runs / result.run_dir.name / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))[-1]
    planted = newest / "rng_state_0.pth"
    sentinel = tmp_path / "pwned"
    torch.save({"cpu": Payload(sentinel)}, planted)
    with pytest.raises(UntrustedCheckpoint, match=str(planted)):
        launch(tiny_sft("zero2"), REPO, curated[0], curated[1], tmp_path / "model", runs_dir=runs, progress=False)
    assert not sentinel.exists() and not (tmp_path / "model").exists()
