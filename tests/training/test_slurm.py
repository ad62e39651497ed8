"""``sft.launcher: slurm``: the sbatch script from params, configuration errors before anything is
submitted (fast, with stand-in SLURM commands), and a real single-host SLURM cluster running the
tiny run as a 2-node x 1-task job (slow; tests/training/slurm_cluster.py starts the daemons).

Why 2 nodes x 1 task: the production form is one srun task per node, each a torchrun of
``sft.processes`` ranks meeting at the first node of ``$SLURM_JOB_NODELIST``. Two emulated nodes
(two slurmd on localhost) with one task and one rank each make a 2-task job that goes through that
whole path, c10d rendezvous across the job's nodes included, and gives the same world size (2) as
the 2-process torchrun run it is compared with.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from abel.config import ParamsError, SFTParams, SlurmParams, parse_params
from abel.training import launch, slurm
from abel.training.launch import PlanError, plan, run_key
from abel.training.logs import RunLog

from .conftest import REPO, run, tiny_sft
from .slurm_cluster import SlurmCluster, Unavailable


def sft(**kw: object) -> SFTParams:
    return parse_params({"sft": kw}).sft


# -- the script ----------------------------------------------------------------------------------

def test_script_takes_nodes_gpus_and_time_from_params(tmp_path: Path) -> None:
    s = SlurmParams(partition="gpu", nodes=4, gpus_per_node=8, cpus_per_task=32, time="2-00:00:00",
                    extra_args=["--account=abel", "--qos=high"])
    run_dir = tmp_path / "checkpoints" / "sft" / "0123abcd"
    text = slurm.render_script(s, "gpu", 8, False, run_dir / "run.json", run_dir, tmp_path, python="/venv/bin/python")
    sbatch = [line[len("#SBATCH "):] for line in text.splitlines() if line.startswith("#SBATCH ")]
    assert sbatch == ["--job-name=abel-sft-0123abcd", "--partition=gpu", "--nodes=4", "--ntasks-per-node=1",
                      "--gpus-per-node=8", "--cpus-per-task=32", "--time=2-00:00:00", "--requeue", "--open-mode=append",
                      f"--output={run_dir / 'train.log'}", f"--chdir={tmp_path}", "--account=abel", "--qos=high"]
    srun = text[text.index("\nsrun "):]
    assert '--nodes="$SLURM_NNODES" --ntasks-per-node=1' in srun and '--cpus-per-task="$SLURM_CPUS_PER_TASK"' in srun
    assert "/venv/bin/python -m torch.distributed.run --nnodes=\"$SLURM_NNODES\" --nproc_per_node=8" in srun
    assert '--rdzv_backend=c10d --rdzv_endpoint="${head_addr:-$head_node}:$((20000 + SLURM_JOB_ID % 20000))"' in srun
    assert '--rdzv_id="$SLURM_JOB_ID"' in srun and srun.rstrip().endswith(f"-m abel.training.train {run_dir / 'run.json'}")
    # a requeued job re-reads the run folder before its ranks start
    assert text.index(f"-m abel.training.slurm prepare {run_dir / 'run.json'}") < text.index("\nsrun ")
    assert "CUDA_VISIBLE_DEVICES" not in text
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)  # valid bash


def test_cpu_script_hides_gpus_and_leaves_slurm_defaults(tmp_path: Path) -> None:
    text = slurm.render_script(SlurmParams(rdzv_port=29400), "debug", 2, True, tmp_path / "run.json", tmp_path,
                               tmp_path, python="python")
    assert "--gpus-per-node" not in text and "--cpus-per-task" not in text and "--time" not in text
    assert "export CUDA_VISIBLE_DEVICES=\n" in text and ':29400" --rdzv_id' in text
    assert "threads=$(( ${SLURM_CPUS_PER_TASK:-${SLURM_CPUS_ON_NODE:-1}} / 2 ))" in text


def test_slurm_plan_is_the_allocation_not_this_machine(tmp_path: Path) -> None:
    paper = sft(launcher="slurm", processes=0, slurm={"nodes": 2, "gpus_per_node": 8}, global_batch_size=128,
                micro_batch_size=4)
    p = plan(paper, tmp_path, gpus=0)  # a login node without GPUs plans for the GPU nodes it asks for
    assert (p.nodes, p.processes, p.world_size, p.grad_accum, p.cpu, p.precision) == (2, 8, 16, 2, False, "bf16")
    with pytest.raises(PlanError, match=r"sft.processes: 0 means one process per GPU.*sft.slurm.gpus_per_node is 0"):
        plan(sft(launcher="slurm", processes=0), tmp_path, gpus=8)
    with pytest.raises(PlanError, match=r"sft.processes: 4 processes per node but sft.slurm.gpus_per_node is 2"):
        plan(sft(launcher="slurm", processes=4, slurm={"gpus_per_node": 2}), tmp_path)


def test_bad_slurm_params_name_the_key() -> None:
    with pytest.raises(ParamsError, match=r"sft.slurm.time: .*'soon' is not an sbatch --time"):
        sft(slurm={"time": "soon"})
    with pytest.raises(ParamsError, match=r"sft.slurm.extra_args: .*'--nodes=3' is set by sft.slurm.nodes; set that key"):
        sft(slurm={"extra_args": ["--nodes=3"]})
    with pytest.raises(ParamsError, match=r"sft.slurm.extra_args: .*'--output=x' is set by the launcher"):
        sft(slurm={"extra_args": ["--output=x"]})
    with pytest.raises(ParamsError, match=r"sft.slurm.nodes: Input should be greater than or equal to 1"):
        sft(slurm={"nodes": 0})
    with pytest.raises(ParamsError, match=r"sft.slurm.partiton: unknown key"):
        sft(slurm={"partiton": "gpu"})


def test_the_launcher_is_not_in_the_run_key(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    """Same params and process layout, started by torchrun or by SLURM: the same weights, the same key
    (a run begun under one resumes under the other)."""
    train, val = curated
    local = sft(processes=2)
    cluster = sft(processes=2, launcher="slurm", slurm={"partition": "cpu", "time": "10"})
    p = plan(local, tmp_path, gpus=0)
    assert p == plan(cluster, tmp_path, gpus=0)
    assert run_key(local, p, train, val) == run_key(cluster, p, train, val)
    two_nodes = sft(processes=1, launcher="slurm", slurm={"nodes": 2})
    assert run_key(two_nodes, plan(two_nodes, tmp_path), train, val) != run_key(local, p, train, val)  # the layout is


def test_gres_counts() -> None:
    assert [slurm._gpus(g) for g in ("(null)", "gpu:8", "gpu:a100:4(S:0-1)", "gpu:a100:4,gpu:v100:2", "shard:8")] == \
        [0, 8, 4, 6, 0]


# -- errors before anything is submitted (stand-in commands) -------------------------------------

@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """sinfo lists partitions debug* (2 CPU nodes) and gpu (4 nodes x 8 GPUs); every other command logs
    its call to calls.txt; sbatch refuses (exit 1) with the message in sbatch.err if present."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    (bin_dir / "sinfo").write_text("#!/bin/sh\nprintf 'debug*|2|(null)\\ngpu|4|gpu:a100:8(S:0-1)\\n'\n")
    for name in ("squeue", "scontrol", "scancel"):
        (bin_dir / name).write_text(f"#!/bin/sh\necho {name} \"$@\" >> {calls}\nexit 1\n")
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\necho sbatch \"$@\" >> {calls}\n"
                                    f"cat {tmp_path / 'sbatch.err'} >&2 2>/dev/null\nexit 1\n")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return tmp_path


def cpu_slurm(**slurm_kw: object) -> SFTParams:
    return sft(model="tiny", deepspeed="none", launcher="slurm", processes=2, max_steps=2, global_batch_size=24,
               micro_batch_size=1, slurm={"partition": "debug", **slurm_kw})


@pytest.mark.parametrize(("slurm_kw", "message"), [
    ({"partition": "a100"}, r"sft.slurm.partition: 'a100' is not a partition of this cluster \(sinfo lists: debug\*, gpu\); "
                            r"set sft.slurm.partition to one of them"),
    ({"nodes": 3}, r"sft.slurm.nodes: 3 nodes, but partition 'debug' has 2"),
    ({"gpus_per_node": 2}, r"sft.slurm.gpus_per_node: 2 GPUs per node, but the nodes of partition 'debug' have no GPUs"),
    ({"partition": "gpu", "gpus_per_node": 16}, r"sft.slurm.gpus_per_node: 16 GPUs per node, but .* 'gpu' have 8"),
])
def test_cluster_mismatch_stops_before_launching(fake_slurm: Path, curated: tuple[Path, Path], slurm_kw: dict,
                                                 message: str) -> None:
    with pytest.raises(PlanError, match=message):
        launch.launch(cpu_slurm(**slurm_kw), fake_slurm, curated[0], None, fake_slurm / "out", runs_dir=fake_slurm / "runs")
    assert not (fake_slurm / "runs").exists() and not (fake_slurm / "calls.txt").exists()  # nothing made, nothing asked


def test_default_partition_is_used_when_none_is_named(fake_slurm: Path) -> None:
    assert slurm.check_cluster(SlurmParams(), 2).name == "debug"
    assert slurm.check_cluster(SlurmParams(partition="gpu", gpus_per_node=8, nodes=4), 8).name == "gpu"


def test_missing_slurm_commands_stop_before_launching(tmp_path: Path, curated: tuple[Path, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sinfo").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "sinfo").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(PlanError, match=r"sft.launcher: slurm needs sbatch, squeue, scontrol, scancel on PATH: "
                                        r"install the SLURM client commands: on Debian/Ubuntu `apt-get install slurm-client`"):
        launch.launch(cpu_slurm(), tmp_path, curated[0], None, tmp_path / "out", runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_sbatch_refusal_is_a_plan_error_and_no_job(fake_slurm: Path, curated: tuple[Path, Path]) -> None:
    (fake_slurm / "sbatch.err").write_text("sbatch: error: Batch job submission failed: Requested time limit is "
                                           "invalid (missing or exceeds some limit)\n")
    with pytest.raises(PlanError, match=r"sbatch refused .*sbatch.sh: sbatch: error: .*Requested time limit is invalid"
                                        r".*from sft.slurm: partition, nodes, gpus_per_node, cpus_per_task, time"):
        launch.launch(cpu_slurm(time="99-00:00:00"), fake_slurm, curated[0], None, fake_slurm / "out",
                      runs_dir=fake_slurm / "runs")
    calls = (fake_slurm / "calls.txt").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("sbatch --parsable ")  # submitted once, refused: nothing to cancel
    assert not (fake_slurm / "out").exists()


# -- a real single-host cluster ------------------------------------------------------------------

@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """munged + slurmctld + 2 slurmd (node1, node2) on localhost; SLURM_CONF set for the session.
    Skips with the reason when the daemons cannot start (ABEL_REQUIRE_SLURM=1, as in CI: fails instead)."""
    try:
        cluster = SlurmCluster.start(tmp_path_factory.mktemp("slurm"), nodes=2)
    except Unavailable as exc:
        if os.environ.get("ABEL_REQUIRE_SLURM") == "1":
            pytest.fail(f"ABEL_REQUIRE_SLURM=1 but no SLURM cluster: {exc}")
        pytest.skip(f"no single-host SLURM cluster: {exc}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        cluster.stop()
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


def slurm_tiny(partition: str) -> SFTParams:
    """The torchrun baseline's params as 2 nodes x 1 rank, each rank with the baseline's thread count."""
    threads = max(1, (os.cpu_count() or 1) // 2)
    return tiny_sft("zero2", launcher="slurm", processes=1,
                    slurm={"partition": partition, "nodes": 2, "cpus_per_task": threads})


def run_on(cluster: SlurmCluster, sft_: SFTParams, curated: tuple[Path, Path], tmp: Path):  # type: ignore[no-untyped-def]
    try:
        return run(sft_, curated, tmp)
    except BaseException as exc:
        raise AssertionError(f"{exc}\n\nSLURM daemon logs:\n{cluster.logs()}") from exc


def assert_same_curves(log: RunLog, baseline: RunLog) -> None:
    """Float tolerance, not equality: the two runs start their ranks differently (1 node x 2 vs 2 nodes x 1;
    static vs c10d rendezvous); same data, seeds, world size and threads per rank, so the curves agree to
    rounding (the assertion message reports the largest relative difference)."""
    assert [r["step"] for r in log.train] == [r["step"] for r in baseline.train] == list(range(1, 31))
    ours, theirs = [r["loss"] for r in log.train], [r["loss"] for r in baseline.train]
    worst = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
    assert ours == pytest.approx(theirs, rel=1e-5), f"largest relative difference {worst:.3g}"
    assert [r["val_loss"] for r in log.val] == pytest.approx([r["val_loss"] for r in baseline.val], rel=1e-5)
    assert log.shards == baseline.shards  # each rank trained on the same examples as its torchrun twin


@pytest.mark.slow
def test_two_task_job_trains_like_torchrun(slurm_cluster: SlurmCluster, zero2, curated: tuple[Path, Path],  # type: ignore[no-untyped-def]
                                           tmp_path: Path) -> None:
    result, log = run_on(slurm_cluster, slurm_tiny(slurm_cluster.partition), curated, tmp_path)
    job = json.loads((result.run_dir / slurm.JOB_FILE).read_text())
    assert (job["JobState"], job["NumNodes"], job["NumTasks"], job["NodeList"], job["Restarts"]) == \
        ("COMPLETED", "2", "2", "node[1-2]", "0")
    script = (result.run_dir / slurm.SCRIPT).read_text()
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n" in script and "--nproc_per_node=1 " in script
    assert log.world_size == 2
    for rank, begins in log.begins.items():
        assert (begins[0]["rank"], begins[0]["world_size"], begins[0]["grad_accum"]) == (rank, 2, 2)
    _, baseline = zero2
    assert_same_curves(log, baseline)
    losses = [r["loss"] for r in log.train]
    print(f"\nslurm 2x1 vs torchrun 1x2, train loss step 1/10/20/30: "
          f"{[losses[i] for i in (0, 9, 19, 29)]} vs {[baseline.train[i]['loss'] for i in (0, 9, 19, 29)]}; "
          f"bitwise equal: {losses == [r['loss'] for r in baseline.train]}")
    assert (result.output_dir / "model.safetensors").is_file()
    assert not list((result.run_dir / "tmp").glob("job-*"))  # the job's scratch folder went with it


@pytest.mark.slow
def test_requeued_job_resumes_from_the_newest_checkpoint(slurm_cluster: SlurmCluster, zero2,  # type: ignore[no-untyped-def]
                                                         curated: tuple[Path, Path], tmp_path: Path) -> None:
    box: list = []

    def launch_it() -> None:
        try:
            box.append(run(slurm_tiny(slurm_cluster.partition), curated, tmp_path))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box.append(exc)

    thread = threading.Thread(target=launch_it)
    thread.start()
    deadline = time.monotonic() + 900
    while not list((tmp_path / "runs").glob("*/checkpoints/checkpoint-10/COMPLETE")):
        assert thread.is_alive(), box
        assert time.monotonic() < deadline, slurm_cluster.logs()
        time.sleep(0.2)
    run_dir = next((tmp_path / "runs").iterdir())
    job_id = slurm.recorded_job(run_dir)
    out = slurm_cluster.client(["scontrol", "requeue", str(job_id)])
    assert out.returncode == 0, out.stderr
    thread.join(timeout=900)
    assert not thread.is_alive() and box, slurm_cluster.logs()
    if isinstance(box[0], BaseException):
        raise AssertionError(f"{box[0]}\n\nSLURM daemon logs:\n{slurm_cluster.logs()}") from box[0]
    result, log = box[0]
    job = json.loads((run_dir / slurm.JOB_FILE).read_text())
    assert (job["JobState"], job["Restarts"]) == ("COMPLETED", "1")
    text = (run_dir / "train.log").read_text(errors="replace")  # a requeue can cut a multi-byte character
    assert "DUE TO JOB REQUEUE" in text and "(restart 1)" in text
    begins = log.begins[0]  # the first attempt, then the requeued one, from a checkpoint
    step = begins[-1]["step"]
    assert len(begins) == 2 and step >= 10 and begins[1]["resumed_from"].endswith(f"/checkpoint-{step}")
    _, baseline = zero2
    assert_same_curves(log, baseline)  # the requeued run ends where the uninterrupted torchrun run does


@pytest.mark.slow
def test_killed_launcher_cancels_its_job(slurm_cluster: SlurmCluster, curated: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGKILL to the submitting process alone: its guard sees the pipe close and cancels the job, whose
    ranks end; nothing trains on unwatched."""
    script = tmp_path / "launch.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from abel.training.launch import launch
        from tests.training.test_slurm import slurm_tiny
        launch(slurm_tiny({slurm_cluster.partition!r}), Path({str(REPO)!r}), Path({str(curated[0])!r}), Path({str(curated[1])!r}),
               Path({str(tmp_path / "model")!r}), runs_dir=Path({str(tmp_path / "runs")!r}), progress=False)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list((tmp_path / "runs").glob("*/logs/rank0.jsonl")):  # the ranks are training
        assert proc.poll() is None, "the launcher ended before it could be killed"
        assert time.monotonic() < deadline, slurm_cluster.logs()
        time.sleep(0.2)
    run_dir = next((tmp_path / "runs").iterdir())
    job_id = slurm.recorded_job(run_dir)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while (info := slurm.job_info(job_id)) is not None and info["JobState"] not in slurm.FINISHED:
        assert time.monotonic() < deadline, f"job {job_id} still {info['JobState']} a minute after its launcher died"
        time.sleep(0.5)
    assert info is not None and info["JobState"] == "CANCELLED"
    run_file = str(run_dir / "run.json")
    deadline = time.monotonic() + 60
    while ranks := [p for p in psutil.process_iter(["cmdline"]) if run_file in (p.info["cmdline"] or [])]:
        assert time.monotonic() < deadline, f"ranks still running: {ranks}"
        time.sleep(0.5)
    assert "launcher gone: cancelled slurm job" in (run_dir / "train.log").read_text(errors="replace")
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_a_job_left_behind_is_cancelled_before_a_new_launch(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """A job whose launcher and guard were both killed still owns its run folder: the next launch there
    cancels it before anything else, so two jobs never train into one folder."""
    job = tmp_path / "sleep.sh"
    job.write_text(f"#!/bin/bash\n#SBATCH --output={tmp_path / 'sleep.log'}\nsleep 300\n")
    job_id = slurm.submit(job)
    slurm.record(tmp_path, {"job_id": job_id})
    slurm.cancel_stale(tmp_path)
    assert slurm.job_info(job_id)["JobState"] == "CANCELLED"
