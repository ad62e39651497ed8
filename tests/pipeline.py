"""The tiny-profile pipeline in a temp copy of this checkout, for the end-to-end test modules
(tests/test_pipeline*.py): the copy, and the finished run that the
``finished_pipeline`` fixture (tests/conftest.py) makes once per test session."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def make_repo_copy(dest: Path, data_dir: Path) -> Path:
    """The tracked and untracked files of this checkout (no outputs, caches or venv) in ``dest`` as a fresh git
    repo: tiny profile, fetch from ``data_dir``, the curation comparison shrunk."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    dest.mkdir(parents=True, exist_ok=True)
    for rel in files:
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    for generated in ("metrics", "figures", "reports"):
        shutil.rmtree(dest / generated, ignore_errors=True)
    # the full curation ablation is not made by `dvc repro` (notebooks/90_ablation.ipynb, after `make ablation`):
    # the report stage reads it as an input
    for kept in ("reports/ablation.md", "reports/ablation_runs.json", "figures/ablation/accuracy.png",
                 "figures/ablation/accuracy.svg"):
        (dest / kept).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / kept, dest / kept)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    # the copy does not sit beside shared/: its fetch stage copies from the shared data (checksums checked)
    params["data"]["mirror"] = str(data_dir)
    params["profile"] = "tiny"  # SFT of a from-scratch tiny model: the cpu profile's SmolLM2 run takes minutes
    # the curation comparison's runs (compare@<format>, arith profile): the same code path, seconds instead of minutes
    arith = params["profiles"]["arith"]
    arith["curate"]["procedural_size"] = 300
    # one process per run here (tests/stages/test_compare.py trains a compare run on two)
    arith["sft"].update(max_steps=12, save_steps=6, eval_steps=6, max_val_examples=8, processes=1)
    params["compare"].update(test_questions=30, curve_train_questions=10, curve_test_questions=10)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        run(cmd, dest)
    return dest


def finished(shared: Path, data_dir: Path) -> Path:
    """``shared/tiny_pipeline``: a repo copy after ``dvc repro``, made by the first process that asks (the
    others wait on a lock: under pytest-xdist every worker asks). Tests copy it (``copy_of``) and never
    change it. A failed build is remembered, so the other workers fail at once with its message."""
    shared.mkdir(parents=True, exist_ok=True)
    repo, ready, failed = shared / "tiny_pipeline", shared / "tiny_pipeline.ready", shared / "tiny_pipeline.failed"
    with (shared / "tiny_pipeline.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            raise RuntimeError(f"the tiny pipeline failed to build in another test process:\n{failed.read_text()}")
        if not ready.exists():
            shutil.rmtree(repo, ignore_errors=True)
            try:
                make_repo_copy(repo, data_dir)
                run([str(BIN / "dvc"), "repro"], repo)
            except BaseException as exc:
                failed.write_text(f"{type(exc).__name__}: {exc}")
                raise
            ready.write_text("")
    return repo


def copy_of(repo: Path, dest: Path) -> Path:
    """A copy of ``repo`` (git, DVC cache and outputs) that a test may change."""
    shutil.copytree(repo, dest, symlinks=True)
    return dest
