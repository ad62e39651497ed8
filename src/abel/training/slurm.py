"""``sft.launcher: slurm``: the same run as ``torchrun``, as one sbatch job on a SLURM cluster.

How it starts: ``abel stage sft`` (or ``launch``) runs where ``sbatch`` works (a login node, or any
machine whose ``SLURM_CONF`` reaches the cluster's slurmctld), checks the cluster, writes
``checkpoints/sft/<run key>/sbatch.sh`` and submits it with ``sbatch --parsable``, then waits for the
job, showing the usual progress bar from rank 0's log; the job's output goes to the run folder's
``train.log``. The script asks for ``sft.slurm.nodes`` nodes with one task each, and its ``srun``
starts one ``torchrun`` per node (``sft.processes`` ranks each), meeting at the first node of
``$SLURM_JOB_NODELIST`` (c10d rendezvous keyed by the job id).

What it needs: the SLURM client commands (``sbatch``, ``squeue``, ``scontrol``, ``sinfo``, ``scancel``;
Debian/Ubuntu package ``slurm-client``) on the submitting machine, and the repo, its Python environment,
the curated data and ``checkpoints/`` on a filesystem every node sees at the same path (the ranks read
``run.json`` and write checkpoints there; the submitting process renames the final model).

Requeue (preemption, node failure, ``scontrol requeue``): SLURM runs the same script again, whose first
step, ``python -m abel.training.slurm prepare RUN.json`` on the batch node, re-reads the run folder
(drops half-written checkpoints, checks the newest complete one, points ``run.json`` at it) before
``srun`` starts the ranks, so they resume from the newest complete checkpoint.

Lifetime: while the job is queued or running, a guard process (``python -m abel.training.slurm guard
JOB``) cancels it (``scancel``) when the submitting process ends without saying the job is done:
Ctrl-C, SIGTERM from ``abel stage``'s tree teardown, or a SIGKILL (its stdin pipe closes).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from abel.config import SlurmParams
from abel.io import write_json, write_text

CLIENT_COMMANDS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel")
INSTALL_HINT = ("the SLURM client commands: on Debian/Ubuntu `apt-get install slurm-client` (with SLURM_CONF or "
                "/etc/slurm/slurm.conf naming the cluster), or run from the cluster's login node")
SCRIPT = "sbatch.sh"
JOB_FILE = "slurm-job.json"  # the job submitted into this run folder, and what SLURM said about it at the end
# a job in any other state is still the cluster's business (queued, running, requeued, held)
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
            "PREEMPTED"}


class SlurmConfigError(ValueError):
    """The cluster cannot run this job as configured; the message names the param and the fix."""


class SlurmError(RuntimeError):
    """A SLURM command failed while submitting or watching the job."""


@dataclass(frozen=True)
class Partition:
    name: str
    default: bool
    nodes: int
    gpus_per_node: int  # the most any of its nodes has (GRES gpu), 0 without GPUs


def _run(args: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def missing_commands() -> list[str]:
    return [c for c in CLIENT_COMMANDS if shutil.which(c) is None]


def _gpus(gres: str) -> int:
    """GPUs in a GRES string: ``gpu:8``, ``gpu:a100:4(S:0-1),gpu:v100:2`` -> 8, 6; ``(null)`` -> 0."""
    return sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def partitions() -> list[Partition]:
    """What ``sinfo`` says: every partition, its node count and GPUs per node."""
    try:
        out = _run(["sinfo", "--noheader", "--format=%P|%D|%G"])
    except subprocess.TimeoutExpired:
        raise SlurmConfigError("sft.launcher: slurm: `sinfo` did not answer in 60 s; is slurmctld reachable "
                               f"(SLURM_CONF={os.environ.get('SLURM_CONF', '/etc/slurm/slurm.conf')})?") from None
    if out.returncode != 0:
        raise SlurmConfigError(f"sft.launcher: slurm: `sinfo` failed ({out.stderr.strip() or out.returncode}); is "
                               f"slurmctld reachable (SLURM_CONF={os.environ.get('SLURM_CONF', '/etc/slurm/slurm.conf')})?")
    found: dict[str, Partition] = {}
    for line in out.stdout.splitlines():
        if line.count("|") != 2:
            continue
        name, nodes, gres = line.strip().split("|")
        default = name.endswith("*")
        name = name.rstrip("*")
        old = found.get(name, Partition(name, default, 0, 0))
        found[name] = Partition(name, old.default or default, old.nodes + int(nodes or 0),
                                max(old.gpus_per_node, _gpus(gres)))
    return list(found.values())


def check_cluster(s: SlurmParams, processes: int) -> Partition:
    """Everything the cluster can tell before a job exists: the client commands, the partition, enough
    nodes, enough GPUs per node. The partition the job goes to (the default one when unset)."""
    missing = missing_commands()
    if missing:
        raise SlurmConfigError(f"sft.launcher: slurm needs {', '.join(missing)} on PATH: install {INSTALL_HINT}; "
                               "or set sft.launcher: torchrun to train on this machine")
    parts = partitions()
    names = ", ".join(p.name + ("*" if p.default else "") for p in parts) or "none"
    if s.partition:
        chosen = next((p for p in parts if p.name == s.partition), None)
        if chosen is None:
            raise SlurmConfigError(f"sft.slurm.partition: {s.partition!r} is not a partition of this cluster "
                                   f"(sinfo lists: {names}); set sft.slurm.partition to one of them")
    else:
        chosen = next((p for p in parts if p.default), None)
        if chosen is None:
            raise SlurmConfigError(f"sft.slurm.partition: empty, and the cluster has no default partition "
                                   f"(sinfo lists: {names}); set sft.slurm.partition to one of them")
    if s.nodes > chosen.nodes:
        raise SlurmConfigError(f"sft.slurm.nodes: {s.nodes} nodes, but partition {chosen.name!r} has "
                               f"{chosen.nodes}; lower sft.slurm.nodes or pick another sft.slurm.partition")
    if s.gpus_per_node > chosen.gpus_per_node:
        raise SlurmConfigError(f"sft.slurm.gpus_per_node: {s.gpus_per_node} GPUs per node, but the nodes of "
                               f"partition {chosen.name!r} have {chosen.gpus_per_node or 'no'} GPUs (GRES gpu); "
                               "lower it (0 = CPU nodes) or pick another sft.slurm.partition")
    if s.gpus_per_node and processes > s.gpus_per_node:
        raise SlurmConfigError(f"sft.processes: {processes} processes per node but sft.slurm.gpus_per_node is "
                               f"{s.gpus_per_node}; set sft.processes to 0 (one per GPU) or at most that")
    return chosen


def render_script(s: SlurmParams, partition: str, processes: int, cpu: bool, run_file: Path, run_dir: Path,
                  root: Path, python: str = sys.executable) -> str:
    """The sbatch script: one task per node, each an ``srun``-started ``torchrun`` of ``processes`` ranks."""
    q = shlex.quote
    log = run_dir / "train.log"
    opts = [f"--job-name=abel-sft-{run_dir.name}", f"--partition={partition}", f"--nodes={s.nodes}",
            "--ntasks-per-node=1"]
    if s.gpus_per_node:
        opts.append(f"--gpus-per-node={s.gpus_per_node}")
    if s.cpus_per_task:
        opts.append(f"--cpus-per-task={s.cpus_per_task}")
    if s.time:
        opts.append(f"--time={s.time}")
    opts += ["--requeue", "--open-mode=append", f"--output={log}", f"--chdir={root}", *s.extra_args]
    port = str(s.rdzv_port) if s.rdzv_port else '$((20000 + SLURM_JOB_ID % 20000))'
    # said outright either way: sbatch exports the submitting shell's environment, and a login node
    # without GPUs may have DS_ACCELERATOR=cpu in it
    device = "export CUDA_VISIBLE_DEVICES=\nexport DS_ACCELERATOR=cpu\n" if cpu else "export DS_ACCELERATOR=cuda\n"
    srun_opts = "--kill-on-bad-exit=1 --nodes=\"$SLURM_NNODES\" --ntasks-per-node=1" + (
        ' --cpus-per-task="$SLURM_CPUS_PER_TASK"' if s.cpus_per_task else "")
    return f"""#!/bin/bash
# Written by abel.training.slurm for the run in {run_dir}; submitted with `sbatch --parsable {run_dir / SCRIPT}`.
# SLURM runs it again after a requeue: the prepare step points run.json at the newest complete checkpoint.
{chr(10).join('#SBATCH ' + o for o in opts)}
set -euo pipefail
echo "abel: slurm job $SLURM_JOB_ID on $SLURM_JOB_NODELIST (restart ${{SLURM_RESTART_COUNT:-0}}) at $(date -Is)"
export TOKENIZERS_PARALLELISM=${{TOKENIZERS_PARALLELISM:-false}}
export TORCH_EXTENSIONS_DIR=${{TORCH_EXTENSIONS_DIR:-{q(str(root / '.cache' / 'torch_extensions'))}}}
threads=$(( ${{SLURM_CPUS_PER_TASK:-${{SLURM_CPUS_ON_NODE:-1}}}} / {processes} ))
export OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 ))
{device}scratch={q(str(run_dir / 'tmp'))}/job-$SLURM_JOB_ID
mkdir -p "$scratch"
export TMPDIR="$scratch"
trap 'rm -rf "$scratch"' EXIT
{q(python)} -m abel.training.slurm prepare {q(str(run_file))}
nodes=$(scontrol show hostnames "$SLURM_JOB_NODELIST")
head_node=${{nodes%%$'\\n'*}}
head_addr=$(scontrol show node "$head_node" | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2 || true)
srun {srun_opts} \\
  {q(python)} -m torch.distributed.run --nnodes="$SLURM_NNODES" --nproc_per_node={processes} \\
  --rdzv_backend=c10d --rdzv_endpoint="${{head_addr:-$head_node}}:{port}" --rdzv_id="$SLURM_JOB_ID" \\
  -m abel.training.train {q(str(run_file))}
"""


def write_script(text: str, run_dir: Path) -> Path:
    path = run_dir / SCRIPT
    write_text(path, text)
    path.chmod(0o755)
    return path


def submit(script: Path, env: dict[str, str] | None = None) -> int:
    """``sbatch --parsable``; the job id. sbatch's refusal (a time over the partition's limit, an
    unknown account, ...) is a SlurmConfigError with its message: no job exists then."""
    out = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, timeout=120,
                         check=False, env=env)
    if out.returncode != 0:
        raise SlurmConfigError(f"sbatch refused {script}: {out.stderr.strip() or out.stdout.strip()} "
                               "(its #SBATCH lines come from sft.slurm: partition, nodes, gpus_per_node, "
                               "cpus_per_task, time, extra_args)")
    return int(out.stdout.strip().split(";")[0])


def job_info(job_id: int) -> dict[str, str] | None:
    """``scontrol show job`` as a dict (JobState, ExitCode, NodeList, Restarts, ...); None when slurmctld
    no longer knows the job. SlurmError when slurmctld cannot be asked."""
    out = _run(["scontrol", "--oneliner", "show", "job", str(job_id)])
    if out.returncode != 0:
        if "Invalid job id" in out.stderr:
            return None
        raise SlurmError(f"scontrol show job {job_id}: {out.stderr.strip() or out.returncode}")
    fields = dict(re.findall(r"(\w+)=(\S*)", out.stdout))
    return fields or None


def cancel(job_id: int) -> None:
    _run(["scancel", str(job_id)], timeout=30)


def record(run_dir: Path, job: dict[str, Any]) -> None:
    write_json(run_dir / JOB_FILE, job)


def recorded_job(run_dir: Path) -> int | None:
    try:
        return int(json.loads((run_dir / JOB_FILE).read_text())["job_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cancel_stale(run_dir: Path, wait_s: float = 120.0) -> None:
    """A job of an earlier launch still queued or running in this folder (its launcher and guard were
    both killed): cancel it and wait until it is gone, so two runs never train into one folder."""
    job = recorded_job(run_dir)
    if job is None or missing_commands():
        return
    try:
        info = job_info(job)
    except SlurmError:
        return
    if info is None or info.get("JobState") in FINISHED:
        return
    print(f"slurm job {job} ({info.get('JobState')}) of an earlier launch still owns {run_dir}; cancelling it",
          file=sys.stderr, flush=True)
    cancel(job)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        info = job_info(job)
        if info is None or info.get("JobState") in FINISHED:
            return
        time.sleep(1.0)
    raise SlurmError(f"slurm job {job} still {info.get('JobState') if info else '?'} {wait_s:.0f} s after scancel; "
                     f"it trains into {run_dir}: wait for it to end, then re-run")


class Guard:
    """``python -m abel.training.slurm guard JOB``, fed by a pipe: cancels the job unless told it is done."""

    def __init__(self, job_id: int, log: IO[bytes]) -> None:
        self.job_id = job_id
        self.proc = subprocess.Popen([sys.executable, "-m", "abel.training.slurm", "guard", str(job_id)],
                                     stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)

    def release(self, done: bool) -> None:
        """``done``: the job finished, the guard exits quietly; else it cancels the job."""
        assert self.proc.stdin is not None
        try:
            if done:
                self.proc.stdin.write(b"done\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class JobWaiter:
    """``wait(timeout)`` for the launcher's progress loop: None while the job is queued or running, then
    0 (COMPLETED) or 1; state changes (and requeues) are written through ``say``."""

    def __init__(self, job_id: int, say: Callable[[str], None], poll_s: float = 2.0, patience_s: float = 600.0) -> None:
        self.job_id, self.say, self.poll_s, self.patience_s = job_id, say, poll_s, patience_s
        self.info: dict[str, str] = {}
        self._last = ""
        self._failing_since: float | None = None

    def __call__(self, timeout: float) -> int | None:
        time.sleep(max(timeout, self.poll_s))
        try:
            info = job_info(self.job_id)
            self._failing_since = None
        except (SlurmError, subprocess.TimeoutExpired) as exc:  # slurmctld restarting: keep waiting, for a while
            now = time.monotonic()
            self._failing_since = self._failing_since or now
            if now - self._failing_since > self.patience_s:
                raise SlurmError(f"lost contact with slurmctld for {self.patience_s:.0f} s while waiting for job "
                                 f"{self.job_id} ({exc}); it may still be running: `squeue -j {self.job_id}`") from None
            return None
        if info is None:
            self.info["JobState"] = self.info.get("JobState", "") + " (then purged by slurmctld)"
            return 1
        self.info = info
        state = info.get("JobState", "?")
        now = f"{state} restarts={info.get('Restarts', '0')}"
        if now != self._last:
            reason = info.get("Reason", "None")
            self.say(f"slurm job {self.job_id}: {state}" + (f" ({reason})" if reason not in ("None", "") else "")
                     + (f", requeued {info['Restarts']} time(s)" if info.get("Restarts", "0") != "0" else "")
                     + (f" on {info['NodeList']}" if state == "RUNNING" else ""))
            self._last = now
        if state in FINISHED:
            return 0 if state == "COMPLETED" else 1
        return None


def facts(job_id: int, info: dict[str, str]) -> dict[str, Any]:
    """What to keep of ``scontrol show job`` in the run folder."""
    keys = ("JobState", "ExitCode", "Restarts", "NodeList", "NumNodes", "NumTasks", "BatchHost", "Partition",
            "SubmitTime", "StartTime", "EndTime")
    return {"job_id": job_id, **{k: info[k] for k in keys if k in info}}


def _prepare(run_file: str) -> int:
    """The batch step before ``srun``: point run.json at the newest complete checkpoint in the run folder
    (a requeued job resumes from it; the first start finds what the launcher found)."""
    from abel.training.launch import prepare_resume

    path = Path(run_file)
    run = json.loads(path.read_text())
    resume = prepare_resume(Path(run["checkpoint_dir"]), Path(run["log_dir"]))
    if resume != run.get("resume_from"):
        run["resume_from"] = resume
        write_json(path, run)
    print(f"abel: ranks start from {Path(resume).name if resume else 'scratch'}", flush=True)
    return 0


def _guard(job_id: int) -> int:
    """Block on stdin: ``done`` -> exit; EOF (the launcher died) or a signal -> scancel the job."""

    def stop(signum: int, frame: object) -> None:
        cancel(job_id)
        print(f"abel: launcher stopped (signal {signal.Signals(signum).name}): cancelled slurm job {job_id}",
              file=sys.stderr, flush=True)
        os._exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    if sys.stdin.readline().strip() == "done":
        return 0
    cancel(job_id)
    print(f"abel: launcher gone: cancelled slurm job {job_id}", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "prepare":
        return _prepare(argv[1])
    if len(argv) == 2 and argv[0] == "guard" and argv[1].isdigit():
        return _guard(int(argv[1]))
    print("usage: python -m abel.training.slurm prepare RUN.json | guard JOB_ID (used by the sbatch script and "
          "the launcher of sft.launcher: slurm)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
