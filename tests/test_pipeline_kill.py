"""Killing `dvc` alone in the middle of a stage, in a copy of the finished tiny pipeline (tests/pipeline.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pipeline import BIN, run as _run

pytestmark = pytest.mark.slow


def _stage_processes(root: Path) -> list[str]:
    """Processes working in ``root`` (dvc, abel stage, the kernel, torchrun, the ranks)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        try:
            cwd = proc.info["cwd"] or ""
        except (psutil.Error, OSError):
            continue
        if proc.pid != os.getpid() and (cwd == str(root) or cwd.startswith(f"{root}/")):
            found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or [])[:120]}")
    return found


def _default_signals() -> None:
    import signal

    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def _kill_dvc_alone(root: Path, sig: int, ready, what: str, written_at_end: str, shell: str | None) -> None:
    """Start `dvc repro` (``shell`` as ``SHELL``, which dvc runs commands with; None: unset, so dvc uses
    /bin/sh), wait for ``ready()``, send ``sig`` to the dvc process only; then nothing of the stage may
    be left running a few seconds later, and the stage must not have gone on to finish
    (``written_at_end``, which the stage writes last, is untouched)."""
    import signal
    import time

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env.pop("SHELL", None)
    if shell is not None:
        env["SHELL"] = shell
    final = root / written_at_end
    before = final.stat().st_mtime_ns if final.exists() else None
    # as from a terminal: the signals take their default action in dvc (a test run under nohup would
    # otherwise pass SIGHUP on as ignored, and dvc would rightly carry on)
    dvc = subprocess.Popen([str(BIN / "dvc"), "repro", "--no-run-cache"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=_default_signals)
    deadline = time.monotonic() + 600
    while not ready():
        assert dvc.poll() is None, f"dvc repro ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    os.kill(dvc.pid, sig)
    dvc.wait(timeout=60)
    deadline = time.monotonic() + 8  # "within a few seconds": an orphaned tiny stage could finish in 20
    while (left := _stage_processes(root)) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert left == [], f"{signal.Signals(sig).name} to dvc at {what} left: {left}"
    time.sleep(2)
    after = final.stat().st_mtime_ns if final.exists() else None
    assert after == before, f"after {signal.Signals(sig).name} to dvc at {what}, the stage went on to write {written_at_end}"


def test_killing_dvc_alone_ends_the_stage_and_a_rerun_reproduces_the_uninterrupted_run(repo_copy: Path) -> None:
    """SIGKILL, SIGHUP and SIGTERM to `dvc` alone, mid-sft (after a checkpoint) and mid-generate: no
    process of the stage survives, and the re-runs resume to the uninterrupted run's results."""
    import signal

    generations = {p.name: p.read_bytes() for p in sorted((repo_copy / "outputs/generations").glob("*.jsonl"))}
    sft_before = json.loads((repo_copy / "metrics/sft/summary.json").read_text())
    for rel in ("checkpoints", "models/sft", "outputs/generations"):  # make the stages do their work again
        shutil.rmtree(repo_copy / rel)
    ckpts = lambda n: len(list((repo_copy / "checkpoints/sft").glob("*/checkpoints/checkpoint-*/COMPLETE"))) >= n  # noqa: E731
    # rows finished (requests of generate.batch_size 16, filled across benchmarks): each kill leaves at least
    # four requests to go, so the stage cannot finish in the moments dvc takes to pass the signal on
    work = lambda n: sum(p.read_bytes().count(b"\n") for p in (repo_copy / "checkpoints/generate").glob("*/*.jsonl")) >= n  # noqa: E731
    sft_end, gen_end = "metrics/sft/summary.json", "metrics/generate/summary.json"
    # with SHELL unset (as under CI) dvc runs `/bin/sh -c 'abel stage ...'`, and dash keeps the shell
    # between dvc and the stage; bash execs the command, so the stage is dvc's own child
    _kill_dvc_alone(repo_copy, signal.SIGKILL, lambda: ckpts(1), "sft's first checkpoint", sft_end, None)
    _kill_dvc_alone(repo_copy, signal.SIGHUP, lambda: ckpts(2), "sft's second checkpoint", sft_end, "/bin/bash")
    _kill_dvc_alone(repo_copy, signal.SIGKILL, lambda: work(16), "generate's first request", gen_end, "/bin/bash")
    _kill_dvc_alone(repo_copy, signal.SIGTERM, lambda: work(32), "generate's second request", gen_end, None)
    _run([str(BIN / "dvc"), "repro", "--no-run-cache"], repo_copy)
    sft = json.loads((repo_copy / "metrics/sft/summary.json").read_text())
    assert json.loads((repo_copy / "outputs/provenance/sft.json").read_text())["run"]["resumes"] >= 1
    for key in ("steps", "train_loss_final", "val_loss_final", "train_tokens_seen"):
        assert sft[key] == pytest.approx(sft_before[key], rel=1e-6, abs=1e-6), key
    assert {p.name: p.read_bytes() for p in sorted((repo_copy / "outputs/generations").glob("*.jsonl"))} == generations
    assert _run([str(BIN / "dvc"), "status"], repo_copy).stdout.strip().endswith("Data and pipelines are up to date.")


