"""Plan, check and launch an SFT run: one ``torchrun`` (or ``deepspeed``) command, many processes, or
one SLURM job of ``torchrun`` per node (``sft.launcher: slurm``, see ``abel.training.slurm``).

Everything that can be known before training is checked here, in the parent process, so a bad
combination fails in a second with a message naming the key instead of minutes into a run on
N processes: curated files, the model source, the DeepSpeed config, batch arithmetic against
the world size, the CPU-only traps (gloo, ``use_cpu``, one OpenMP thread per process,
``TORCH_EXTENSIONS_DIR`` inside the repo so DeepSpeed's ops are compiled once), and for a hostfile of
several nodes that each node lets us in over ssh and has this checkout and Python (``abel.training.hosts``).

Multi-node (``sft.launcher: deepspeed``, ``sft.hostfile``): the ``deepspeed`` runner starts
``deepspeed.launcher.launch`` on every node with pdsh over ssh; the ranks meet at the hostfile's first
node (``MASTER_ADDR``, by the name the hostfile gives it); their environment on every node is written to
``<run folder>/deepspeed_env`` (DeepSpeed's ``DS_ENV_FILE``), since ssh starts them in a fresh one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from abel.checkpoint_export import has_resume_state
from abel.config import SFTParams, resolve_precision
from abel.fingerprint import Code, fingerprint
from abel.io import InputError, atomic_open, write_json
from abel.procs import parent_death_signal, work_lock
from abel.training import allocator, slurm
from abel.training.data import read_curated
from abel.training.hosts import HostfileError, check_nodes, read_hostfile, ssh_args
from abel.training.models import ModelSourceError, check_source, prepare_base
from abel.training.safe_load import verify_checkpoint
from abel.training.train import COMPLETE, complete_checkpoints

DS_DIR = Path(__file__).with_name("deepspeed")


class PlanError(ValueError):
    """A parameter combination that cannot work; the message names the keys."""


@dataclass(frozen=True)
class Plan:
    processes: int  # per node
    nodes: int
    world_size: int
    grad_accum: int
    cpu: bool
    precision: str
    deepspeed_config: dict[str, Any] | None
    threads_per_process: int


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


def hosts(sft: SFTParams, root: Path) -> dict[str, int]:
    """The hostfile's nodes -> slots (checked: equal slots, each node once); {} without a hostfile."""
    if not sft.hostfile:
        return {}
    try:
        return read_hostfile(root / sft.hostfile)
    except HostfileError as exc:
        raise PlanError(str(exc)) from None


def ssh_config(sft: SFTParams, root: Path) -> Path | None:
    return root / sft.ssh_config if sft.ssh_config else None


def load_deepspeed_config(name: str) -> dict[str, Any] | None:
    """``src/abel/training/deepspeed/<name>.json``, parsed and checked against DeepSpeed's own schema."""
    if name == "none":
        return None
    path = DS_DIR / f"{name}.json"
    try:
        cfg = json.loads(path.read_text())
    except OSError as exc:
        raise PlanError(f"sft.deepspeed: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    zero = cfg.get("zero_optimization")
    if not isinstance(zero, dict):
        raise PlanError(f"{path}: no 'zero_optimization' section")
    import torch

    # name the accelerator: left to guess, DeepSpeed warns "Setting accelerator to CPU" into the stage log
    os.environ.setdefault("DS_ACCELERATOR", "cuda" if torch.cuda.is_available() else "cpu")
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig  # pydantic: names the bad field
    from pydantic import ValidationError

    try:
        DeepSpeedZeroConfig(**{k: v for k, v in zero.items() if v != "auto"})
    except ValidationError as exc:
        bad = "; ".join(f"zero_optimization.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PlanError(f"{path}: {bad}") from None
    return cfg


def plan(sft: SFTParams, root: Path, gpus: int | None = None) -> Plan:
    if sft.launcher == "slurm":  # the allocation's GPUs, not this (login) machine's
        gpus = sft.slurm.gpus_per_node
    gpus = gpu_count() if gpus is None else gpus
    cpu = gpus == 0
    if sft.launcher == "slurm":
        nodes = sft.slurm.nodes
        processes = sft.processes or gpus
        if processes == 0:
            raise PlanError("sft.processes: 0 means one process per GPU, and sft.slurm.gpus_per_node is 0; "
                            "set a number (or sft.slurm.gpus_per_node)")
        if not cpu and processes > gpus:
            raise PlanError(f"sft.processes: {processes} processes per node but sft.slurm.gpus_per_node is {gpus}")
    elif sft.hostfile:
        slots = list(hosts(sft, root).values())
        nodes, processes = len(slots), slots[0]
    else:
        nodes = 1
        processes = sft.processes or gpus
        if processes == 0:
            raise PlanError("sft.processes: 0 means one process per GPU, and no GPU is visible; set a number")
        if not cpu and processes > gpus:
            raise PlanError(f"sft.processes: {processes} processes but only {gpus} GPUs are visible")
    world = processes * nodes
    per_step = sft.micro_batch_size * world
    if sft.global_batch_size % per_step:
        raise PlanError(f"sft.global_batch_size {sft.global_batch_size} is not a multiple of "
                        f"sft.micro_batch_size {sft.micro_batch_size} x world size {world}")
    precision = resolve_precision(sft.precision, gpu=not cpu)
    if cpu and precision == "bf16":
        raise PlanError("sft.precision: bf16 is for GPUs here; CPU runs train in fp32 (use auto or fp32)")
    if cpu and sft.deepspeed == "zero3_offload":
        raise PlanError("sft.deepspeed: zero3_offload moves parameters and optimizer state from GPU to host "
                        "memory; a CPU run already keeps them there. Use zero3 (or zero2) on CPU.")
    cores = os.cpu_count() or 1
    return Plan(processes=processes, nodes=nodes, world_size=world, grad_accum=sft.global_batch_size // per_step,
                cpu=cpu, precision=precision, deepspeed_config=load_deepspeed_config(sft.deepspeed),
                threads_per_process=max(1, cores // processes))


def check_inputs(sft: SFTParams, train_path: Path, val_path: Path | None, root: Path) -> None:
    """Curated files readable and non-empty, model source loadable: before any process starts."""
    read_curated(train_path)
    if val_path is not None:
        read_curated(val_path)
    check_source(sft.model, root)


# The code that decides the weights: what the ranks run (python -m abel.training.train and what it
# imports, core modules aside) and the launcher, which trains the tiny model's tokenizer, writes the
# ranks' run file and their environment. The log reader and the stage module are not in it: editing
# them never retrains (tests/training/test_launch.py checks the list covers the ranks' imports); nor is
# abel.training.slurm, which starts the same ranks, with the same run file, on a cluster's nodes.
RUN_CODE = ("abel.training.train", "abel.training.data", "abel.training.models", "abel.training.safe_load",
            "abel.training.launch", "abel.modelio")


# (abel.training.allocator, imported by the ranks, is not in it: it says which malloc they run with, which moves
# where tensors live, not their values; tests/training/test_multiprocess.py trains under both and compares)

# where the ranks run, not what they compute: the plan (nodes x processes, precision) holds what of it
# decides the weights, so a run started by torchrun resumes under SLURM (the same loss, tests/training/test_slurm.py)
# and a multi-node run resumes on other nodes of the same shape
LAUNCH_ONLY = {"launcher", "slurm", "hostfile", "ssh_config", "cpu_allocator"}  # the allocator: see abel.training.allocator


def run_key(sft: SFTParams, p: Plan, train_path: Path, val_path: Path | None) -> str:
    """Checkpoints are reused only by a run that would train the same weights and log the same curves:
    the same params (less how the processes are started), process layout, precision and DeepSpeed
    config (the plan, less the host's thread count, so a run resumes on another machine), curated data
    and training code.

    Which hosts and how ssh reaches them (``sft.hostfile``, ``sft.ssh_config``) are not in it either: the
    layout they give (nodes x processes per node) is, so a run moved to other nodes of the same shape
    resumes. Two layouts of one world size (2 nodes x 1 process, 1 node x 2) are two runs: here they log
    the same losses, but gradient reduction over more ranks, or NCCL across nodes, need not add in the
    same order."""
    layout = {k: v for k, v in asdict(p).items() if k != "threads_per_process"}
    return fingerprint(sft.model_dump(exclude=LAUNCH_ONLY), layout, train_path,
                       val_path if val_path is not None else "no validation set", Code(*RUN_CODE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(sft: SFTParams, p: Plan, run_file: Path, root: Path) -> list[str]:
    entry = ["-m", "abel.training.train", str(run_file)]
    if sft.launcher == "deepspeed":
        # the `deepspeed` command, run by this Python: the ranks on every node run this same interpreter
        cmd = [sys.executable, "-m", "deepspeed.launcher.runner", "--master_port", str(free_port())]
        if sft.hostfile:
            # --no_ssh_check: check_nodes has tried every node with the options pdsh gets (DeepSpeed's own
            # check tries the first with plain ssh). --master_addr: the ranks meet at node 0 by its hostfile
            # name (DeepSpeed's guess, `ssh <node 0> hostname -I`, ignores sft.ssh_config); on one node, here.
            node0 = next(iter(hosts(sft, root))).rpartition("@")[2] if p.nodes > 1 else "127.0.0.1"  # user@host
            cmd += ["--hostfile", str(root / sft.hostfile), "--no_ssh_check", "--master_addr", node0]
            if p.nodes > 1:
                cmd += ["--launcher", "pdsh"]
        else:
            cmd += ["--num_nodes", "1", "--num_gpus", str(p.processes)]
        return [*cmd, "--no_local_rank", "--module", "abel.training.train", str(run_file)]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(p.processes),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *entry]


# What the ranks on every node get from this process's environment, besides the PYTHON* variables the
# deepspeed runner exports itself: pdsh starts them over ssh in the node's own, fresh environment.
FORWARD_NAMES = ("PATH", "VIRTUAL_ENV", "TMPDIR", "XDG_CACHE_HOME")
FORWARD_PREFIXES = ("OMP_", "MKL_", "TORCH_", "DS_", "CUDA_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "GLOO_", "NCCL_")


def node_environment(sft: SFTParams, root: Path, env: dict[str, str], run_dir: Path) -> dict[str, str]:
    """What a run on several nodes adds to ``env``: ssh's options for pdsh (``PDSH_SSH_ARGS_APPEND``, the
    ones check_nodes used) and ``DS_ENV_FILE``, a file in the run folder with the FORWARD variables of
    ``env`` that the deepspeed runner exports on every node. A value DeepSpeed's file format or pdsh's
    quoting cannot carry (a newline, quote, ``$``, backslash, backtick or ``%``) is left out."""
    forward = {k: v for k, v in sorted(env.items()) if (k in FORWARD_NAMES or k.startswith(FORWARD_PREFIXES))
               and not any(c in v for c in '\n"$\\`%')}
    path = run_dir / "deepspeed_env"
    with atomic_open(path) as fh:
        fh.write("".join(f"{k}={v}\n" for k, v in forward.items()))
    append = " ".join(ssh_args(ssh_config(sft, root), env.get("PDSH_SSH_ARGS_APPEND", "")))
    return {"PDSH_SSH_ARGS_APPEND": append, "DS_ENV_FILE": str(path)}


def environment(p: Plan, root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(p.threads_per_process)  # unset, CPU training is ~50x slower
    env.setdefault("TORCH_EXTENSIONS_DIR", str(root / ".cache" / "torch_extensions"))  # DeepSpeed's compiled ops
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if p.cpu:
        env.setdefault("DS_ACCELERATOR", "cpu")
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    log_dir: Path
    output_dir: Path
    plan: Plan
    resumed_from: str | None


def _run_with_progress(cmd: list[str], env: dict[str, str], cwd: Path, log_file: Path, rank0_log: Path,
                       progress: bool, lock_fd: int) -> int:
    """Run ``cmd`` with its output in ``log_file``; one progress bar fed by rank 0's step log."""
    from tqdm import tqdm

    bar = tqdm(desc="sft", unit="step", disable=not progress, mininterval=2.0, dynamic_ncols=True)
    with log_file.open("ab") as out:
        # the launcher ends when this process does (whatever ends it), and holds the run folder's lock
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=parent_death_signal, pass_fds=(lock_fd,))
        try:
            return _follow(_proc_waiter(proc), rank0_log, bar)
        except BaseException:  # interrupted anywhere: SIGTERM lets torchrun stop its workers too
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise


def _proc_waiter(proc: subprocess.Popen[bytes]) -> Callable[[float], int | None]:
    def wait(timeout: float) -> int | None:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    return wait


def _follow(wait: Callable[[float], int | None], rank0_log: Path, bar: Any) -> int:
    """Call ``wait(1.0)`` (an exit code, or None while training goes on) until it returns a code, moving
    ``bar`` along rank 0's step log meanwhile; that code."""
    offset = 0
    while True:
        code = wait(1.0)
        if rank0_log.is_file():
            if rank0_log.stat().st_size < offset:  # started again without a checkpoint: a new log
                offset = 0
            with rank0_log.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offset += len(complete)
            for line in complete.decode().splitlines():
                row = json.loads(line)
                if row["event"] == "begin":
                    bar.reset(total=row["max_steps"])
                    bar.update(row["step"])
                elif "loss" in row:
                    bar.update(row["step"] - bar.n)
                    bar.set_postfix(loss=f"{row['loss']:.3f}", rank0_tok_s=f"{row['tokens'] / max(row['seconds'], 1e-9):.0f}")
                elif "val_loss" in row:
                    bar.write(f"step {row['step']}: validation loss {row['val_loss']:.4f}")
        if code is not None:
            bar.close()
            return code


def launch(sft: SFTParams, root: Path, train_path: Path, val_path: Path | None, output_dir: Path,
           runs_dir: Path | None = None, gpus: int | None = None, progress: bool = True) -> RunResult:
    """Check, prepare the base model, and run training; resumes a killed run with the same key."""
    try:
        p = plan(sft, root, gpus)
        check_inputs(sft, train_path, val_path, root)
        if sft.hostfile and p.nodes > 1:  # each node lets us in over ssh, with this checkout and this Python, before anything starts
            check_nodes(list(hosts(sft, root)), ssh_config(sft, root), os.environ.get("PDSH_SSH_ARGS_APPEND", ""),
                        sys.executable, root)
        partition = slurm.check_cluster(sft.slurm, p.processes).name if sft.launcher == "slurm" else None
        # tcmalloc for CPU ranks this process starts itself (sft.cpu_allocator; abel.training.allocator)
        malloc = allocator.resolve(sft.cpu_allocator, local=p.cpu and p.nodes == 1 and partition is None)
    except (InputError, ModelSourceError, HostfileError, slurm.SlurmConfigError, allocator.AllocatorError) as exc:
        raise PlanError(str(exc)) from None
    run_dir = (runs_dir or root / "checkpoints" / "sft") / run_key(sft, p, train_path, val_path)
    with work_lock(run_dir) as lock_fd:  # two trainers never share a checkpoint folder
        return _launch_locked(sft, p, root, run_dir, train_path, val_path, output_dir, progress, lock_fd, partition,
                              malloc)


def prepare_resume(ckpt_dir: Path, log_dir: Path) -> str | None:
    """The newest complete checkpoint in ``ckpt_dir`` (checked for planted code), after removing any a
    kill left half-written; None (and the logs of the attempt that saved nothing removed) if there is none.
    Run by the launcher, and by a requeued SLURM job before its ranks start."""
    for partial in ckpt_dir.glob("checkpoint-*"):  # killed mid-save: never resume from those
        if not (partial / COMPLETE).is_file():
            shutil.rmtree(partial)
    done = complete_checkpoints(ckpt_dir)
    if not done:
        shutil.rmtree(log_dir, ignore_errors=True)
        return None
    if not has_resume_state(done[-1]):
        # its optimizer state was trimmed once a newer checkpoint existed: resuming would go on with a fresh
        # optimizer and schedule, other weights than an uninterrupted run, and no error
        raise InputError(f"{done[-1]} holds model files only (the sft stage trimmed its resume state after the run "
                         f"finished, keeping it in the newest checkpoint, which is gone), so training cannot resume "
                         f"from it. Delete the run folder {ckpt_dir.parent} to train again from the start.")
    verify_checkpoint(done[-1])  # untrusted input: refuse a file that names code before anything loads it
    print(f"resuming from {done[-1].name} (the newest complete checkpoint of {len(done)}) in {ckpt_dir.parent}",
          file=sys.stderr, flush=True)
    return str(done[-1])


def _launch_locked(sft: SFTParams, p: Plan, root: Path, run_dir: Path, train_path: Path, val_path: Path | None,
                   output_dir: Path, progress: bool, lock_fd: int, partition: str | None,
                   malloc: str | None = None) -> RunResult:
    ckpt_dir, log_dir = run_dir / "checkpoints", run_dir / "logs"
    slurm.cancel_stale(run_dir)  # a job whose launcher was killed with its guard: never two runs in one folder
    resume = prepare_resume(ckpt_dir, log_dir)
    base_dir = run_dir / "base"
    if (base_dir / "config.json").is_file():
        base = str(base_dir)
    else:
        corpus = [r["prompt"] + r["target"] for r in read_curated(train_path, sft.max_train_examples)]
        tmp = run_dir / "base.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        base = prepare_base(sft, corpus, tmp, root)
        if base == str(tmp):
            tmp.rename(base_dir)
            base = str(base_dir)
    run = {"sft": sft.model_dump(), "base_model": base, "train_path": str(train_path),
           "val_path": str(val_path) if val_path else None, "checkpoint_dir": str(ckpt_dir),
           "log_dir": str(log_dir), "output_dir": str(output_dir), "resume_from": resume,
           "grad_accum": p.grad_accum, "cpu": p.cpu, "precision": p.precision,
           "deepspeed_config": p.deepspeed_config, "plan": asdict(p),
           # ranks end if this process does; a SLURM job's ranks are ended by scancel (the guard) instead
           "owner": None if partition else {"pid": os.getpid(), "host": socket.gethostname()}}
    run_file = run_dir / "run.json"
    out_tmp = output_dir.with_name(output_dir.name + ".tmp")
    shutil.rmtree(out_tmp, ignore_errors=True)
    run["output_dir"] = str(out_tmp)
    write_json(run_file, run)
    if partition is not None:
        code, how = _run_slurm_job(sft, p, root, run_dir, run_file, partition, progress)
        return _finish(code, how, run_dir, output_dir, out_tmp, p, resume)
    cmd = command(sft, p, run_file, root)
    with atomic_open(run_dir / "command.txt") as fh:
        fh.write(" ".join(cmd) + "\n")
    env = allocator.preload(environment(p, root), malloc, sft.cpu_allocator)
    scratch = run_dir / "tmp"  # torchrun's torchelastic_* logs and the ranks' temp files: not in /tmp
    shutil.rmtree(scratch, ignore_errors=True)  # a killed run's leftovers
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    if p.nodes > 1:
        env |= node_environment(sft, root, env, run_dir)
    try:
        code = _run_with_progress(cmd, env, root, run_dir / "train.log", log_dir / "rank0.jsonl", progress, lock_fd)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _finish(code, f"training exited with status {code}", run_dir, output_dir, out_tmp, p, resume)


def _finish(code: int, how: str, run_dir: Path, output_dir: Path, out_tmp: Path, p: Plan,
            resume: str | None) -> RunResult:
    """Raise with the log's tail when training failed (``how`` says how), else move the model into place."""
    if code != 0:
        tail = "".join((run_dir / "train.log").read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise RuntimeError(f"{how}; last lines of {run_dir / 'train.log'}:\n{tail}\n"
                           f"(command in {run_dir / 'command.txt'}; re-running resumes from the newest complete "
                           f"checkpoint in {run_dir / 'checkpoints'})")
    shutil.rmtree(output_dir, ignore_errors=True)
    out_tmp.rename(output_dir)
    return RunResult(run_dir, run_dir / "logs", output_dir, p, resume)


def _run_slurm_job(sft: SFTParams, p: Plan, root: Path, run_dir: Path, run_file: Path, partition: str,
                   progress: bool) -> tuple[int, str]:
    """Write and submit the sbatch script, then wait for the job with the progress bar of rank 0's log;
    0 when the job COMPLETED, and how it ended. The job is cancelled if this process ends before it does."""
    from tqdm import tqdm

    script = slurm.write_script(slurm.render_script(sft.slurm, partition, p.processes, p.cpu, run_file, run_dir, root),
                                run_dir)
    with atomic_open(run_dir / "command.txt") as fh:
        fh.write(f"sbatch --parsable {script}\n")
    (run_dir / slurm.JOB_FILE).unlink(missing_ok=True)
    try:
        # sbatch exports this environment to the job: with system, without a tcmalloc preload of the user's
        job_id = slurm.submit(script, env=allocator.preload(dict(os.environ), None, sft.cpu_allocator))
    except slurm.SlurmConfigError as exc:  # sbatch refused it: nothing was launched
        raise PlanError(str(exc)) from None
    slurm.record(run_dir, {"job_id": job_id, "script": str(script)})
    print(f"submitted slurm job {job_id} ({sft.slurm.nodes} node(s) x {p.processes} process(es), partition "
          f"{partition}); output in {run_dir / 'train.log'}", file=sys.stderr, flush=True)
    bar = tqdm(desc="sft", unit="step", disable=not progress, mininterval=2.0, dynamic_ncols=True)
    waiter = slurm.JobWaiter(job_id, say=bar.write if progress else lambda m: print(m, file=sys.stderr, flush=True))
    with (run_dir / "train.log").open("ab") as log:
        guard = slurm.Guard(job_id, log)
        done = False
        try:
            code = _follow(waiter, run_dir / "logs" / "rank0.jsonl", bar)
            done = True
        finally:
            if not done:  # interrupted, or lost contact: the job must not train on unwatched
                slurm.cancel(job_id)
            guard.release(done)
    slurm.record(run_dir, {**slurm.facts(job_id, waiter.info), "script": str(script)})
    return code, (f"slurm job {job_id} ended {waiter.info.get('JobState', '?')} (exit code "
                  f"{waiter.info.get('ExitCode', '?')}, `scontrol show job {job_id}`)")
