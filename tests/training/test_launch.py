"""Everything that must fail before training does, with a message naming the cause."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from abel.config import ParamsError, SFTParams, parse_params
from abel.training import launch
from abel.training.hosts import check_nodes, read_hostfile
from abel.training.launch import PlanError, command, environment, load_deepspeed_config, node_environment, plan, run_key
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
    with pytest.raises(ParamsError, match="ssh_config says how to reach a hostfile's nodes: set hostfile too"):
        sft(launcher="deepspeed", ssh_config="ssh_config")
    with pytest.raises(ParamsError, match="not a multiple of micro_batch_size"):
        sft(global_batch_size=10, micro_batch_size=4)


def test_hostfile_sets_the_world(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("# two nodes\nnode-01 slots=8\nnode-02 slots=8  # second\n")
    p = plan(sft(launcher="deepspeed", hostfile="hosts", global_batch_size=128, micro_batch_size=4), tmp_path, gpus=8)
    assert (p.nodes, p.processes, p.world_size, p.grad_accum) == (2, 8, 16, 2)
    cmd = command(sft(launcher="deepspeed", hostfile="hosts"), p, Path("run.json"), tmp_path)
    assert cmd[:3] == [sys.executable, "-m", "deepspeed.launcher.runner"]  # the ranks run this same Python
    assert cmd[cmd.index("--hostfile") + 1] == str(tmp_path / "hosts")
    assert cmd[cmd.index("--launcher") + 1] == "pdsh"
    assert "--no_ssh_check" in cmd  # check_nodes has tried every node, with the options pdsh gets
    assert cmd[cmd.index("--master_addr") + 1] == "node-01"  # the ranks meet at the first node, by its hostfile name
    assert cmd[-2:] == ["abel.training.train", "run.json"] and "--no_local_rank" in cmd
    assert read_hostfile(launch.DS_DIR / "hostfile.example") == {"node-01": 8, "node-02": 8}
    (tmp_path / "one").write_text("gpu-box slots=4\n")  # one node: deepspeed trains here, no ssh
    one = sft(launcher="deepspeed", hostfile="one", global_batch_size=16)
    cmd = command(one, plan(one, tmp_path, gpus=4), Path("run.json"), tmp_path)
    assert cmd[cmd.index("--master_addr") + 1] == "127.0.0.1" and "--launcher" not in cmd


@pytest.mark.parametrize(("text", "message"), [
    ("node-01 gpus=8\n", r"bad:1: expected '<host> slots=<N>' with N >= 1, got 'node-01 gpus=8'"),
    ("node-01 slots=0\n", r"bad:1: expected '<host> slots=<N>' with N >= 1"),
    ("a slots=2\n\na slots=2\n", r"bad:3: a is listed again \(first on line 1\); name each node once"),
    ("# nobody\n", r"sft.hostfile: .*bad lists no hosts"),
    ("a slots=8\nb slots=4\n", r"sft.hostfile: every node needs the same number of slots \(processes per node\), "
                               r".*bad has a slots=8, b slots=4; give every line the same slots= \(at most the "
                               r"smallest node's 4 GPUs\)"),
])
def test_bad_hostfiles_are_refused_at_planning(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad").write_text(text)
    with pytest.raises(PlanError, match=message):
        plan(sft(launcher="deepspeed", hostfile="bad"), tmp_path, gpus=8)
    with pytest.raises(PlanError, match=r"sft.hostfile: .*missing does not exist; write one '<host> slots="):
        plan(sft(launcher="deepspeed", hostfile="missing"), tmp_path, gpus=8)


def test_multi_node_on_cpu_is_planned(tmp_path: Path) -> None:
    """No GPU: two nodes of one process each train over gloo (the refusal is gone)."""
    (tmp_path / "hosts").write_text("127.0.0.1 slots=1\n127.0.0.2 slots=1\n")
    p = plan(sft(launcher="deepspeed", hostfile="hosts", global_batch_size=16, micro_batch_size=4), tmp_path, gpus=0)
    assert (p.cpu, p.nodes, p.processes, p.world_size, p.grad_accum, p.precision) == (True, 2, 1, 2, 2, "fp32")


def test_ranks_environment_travels_to_every_node(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("n1 slots=1\nn2 slots=1\n")
    s = sft(launcher="deepspeed", hostfile="hosts", ssh_config="cluster_ssh")
    env = environment(plan(s, tmp_path, gpus=0), tmp_path) | {
        "PATH": "/venv/bin:/usr/bin", "TMPDIR": str(tmp_path / "tmp"), "HOME": "/root", "SECRET_TOKEN": "x",
        "HF_HOME": "/cache/hf", "NCCL_DEBUG": "INFO", "GLOO_SOCKET_IFNAME": "eth0", "HF_ODD": "a$b",
        "PDSH_SSH_ARGS_APPEND": "-o ConnectTimeout=9"}
    added = node_environment(s, tmp_path, env, tmp_path)
    assert added["PDSH_SSH_ARGS_APPEND"] == f"-F {tmp_path / 'cluster_ssh'} -o ConnectTimeout=9"
    lines = (tmp_path / "deepspeed_env").read_text().splitlines()
    assert added["DS_ENV_FILE"] == str(tmp_path / "deepspeed_env")
    got = dict(line.split("=", 1) for line in lines)  # how DeepSpeed's runner reads it
    assert got["OMP_NUM_THREADS"] == env["OMP_NUM_THREADS"] and got["CUDA_VISIBLE_DEVICES"] == ""
    assert got["DS_ACCELERATOR"] == "cpu" and got["TORCH_EXTENSIONS_DIR"] == env["TORCH_EXTENSIONS_DIR"]
    assert got["PATH"] == "/venv/bin:/usr/bin" and got["TMPDIR"] == str(tmp_path / "tmp")
    assert got["HF_HOME"] == "/cache/hf"
    assert got["NCCL_DEBUG"] == "INFO" and got["GLOO_SOCKET_IFNAME"] == "eth0"
    assert not {"HOME", "SECRET_TOKEN", "HF_ODD", "PDSH_SSH_ARGS_APPEND"} & set(got)  # not ours, or not carriable


def _two_loopback_nodes(tmp_path: Path, port: int) -> SFTParams:
    (tmp_path / "hosts").write_text("127.0.0.1 slots=1\n127.0.0.2 slots=1\n")
    (tmp_path / "ssh_config").write_text(f"Host *\n  Port {port}\n  StrictHostKeyChecking no\n"
                                         "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    return sft(model="tiny", launcher="deepspeed", hostfile="hosts", ssh_config="ssh_config")


def test_unreachable_node_stops_before_anything_starts(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    if shutil.which("pdsh") is None or shutil.which("ssh") is None:
        pytest.skip("needs pdsh and an ssh client (apt-get install pdsh openssh-client)")
    from abel.training.launch import free_port

    s = _two_loopback_nodes(tmp_path, free_port())  # nothing listens there: ssh is refused
    with pytest.raises(PlanError, match=r"(?s)sft.hostfile: 2 of 2 nodes cannot start ranks:\n  127.0.0.1: `ssh -o "
                                        r"BatchMode=yes .* failed: .*Connection refused.*  127.0.0.2: .*Fix: "
                                        r"passwordless ssh .*or name in sft.ssh_config \(.*ssh_config\) the Port"):
        launch.launch(s, tmp_path, curated[0], None, tmp_path / "out", runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_multi_node_needs_pdsh_and_the_ssh_config_it_names(tmp_path: Path, curated: tuple[Path, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    s = _two_loopback_nodes(tmp_path, 22)
    (tmp_path / "ssh_config").unlink()
    if shutil.which("pdsh") is not None and shutil.which("ssh") is not None:
        with pytest.raises(PlanError, match=r"sft.ssh_config: .*ssh_config does not exist; name an ssh client config"):
            launch.launch(s, tmp_path, curated[0], None, tmp_path / "out", runs_dir=tmp_path / "runs")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PlanError, match=r"sft.hostfile: a run on 2 nodes starts its ranks with pdsh, which is not "
                                        r"installed here; install it \(apt-get install pdsh\)"):
        launch.launch(s, tmp_path, curated[0], None, tmp_path / "out", runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_node_missing_the_checkout_or_python_is_named(sshd, tmp_path: Path) -> None:
    """Through a real sshd (tests/sshd.py): reachable, but this Python / checkout are not at those paths."""
    if shutil.which("pdsh") is None:
        pytest.skip("needs pdsh (apt-get install pdsh)")
    check_nodes(list(sshd.hosts), sshd.client_config, "", sys.executable, tmp_path)  # all there
    with pytest.raises(launch.HostfileError, match=r"(?s)127.0.0.1: /nowhere/python is not there: every node needs "
                                                   r"this Python.*127.0.0.2: .*Fix: the same checkout"):
        check_nodes(list(sshd.hosts), sshd.client_config, "", "/nowhere/python", tmp_path)
    with pytest.raises(launch.HostfileError, match=r"127.0.0.2: .*/gone is not there: every node needs this checkout"):
        check_nodes(list(sshd.hosts), sshd.client_config, "", sys.executable, tmp_path / "gone")


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


def test_hub_model_offline_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    # huggingface_hub reads HF_HUB_OFFLINE once, at import (already done in this process): set its constant too,
    # or the lookup goes to the network and fails only after its retries (about 20 s here, the same message)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
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
    # which malloc a rank reports: where tensors live, not their values (tests/training/test_multiprocess.py)
    ranks -= {"abel.training.allocator"}
    assert "abel.training.allocator" not in RUN_CODE
    assert ranks <= set(RUN_CODE), f"the ranks also run {sorted(ranks - set(RUN_CODE))}: add them to RUN_CODE"
    assert "abel.training.launch" in RUN_CODE and "abel.training.logs" not in RUN_CODE


def test_run_key_has_the_node_layout_not_the_host_names(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    """Other nodes of the same shape resume the run; another layout of the same world size is another run."""
    train, val = curated
    (tmp_path / "a").write_text("n1 slots=1\nn2 slots=1\n")
    (tmp_path / "b").write_text("gpu-7 slots=1\ngpu-9 slots=1  # moved\n")

    def key(**kw: object) -> str:
        s = sft(**kw)
        return run_key(s, plan(s, tmp_path, gpus=0), train, val)

    two_nodes = key(launcher="deepspeed", hostfile="a")
    assert two_nodes == key(launcher="deepspeed", hostfile="b", ssh_config="cfg")
    assert two_nodes != key(launcher="deepspeed", processes=2)  # 1 node x 2 processes


def test_run_key_does_not_depend_on_the_hosts_core_count(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    """A run killed on one machine resumes on another with more cores (same layout, same weights)."""
    import dataclasses

    train, val = curated
    p = plan(sft(processes=2), tmp_path, gpus=0)
    other = dataclasses.replace(p, threads_per_process=p.threads_per_process + 7)
    assert run_key(sft(processes=2), p, train, val) == run_key(sft(processes=2), other, train, val)
