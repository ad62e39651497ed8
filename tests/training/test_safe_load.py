"""Checkpoints are untrusted input: a planted pickle payload never runs, and the error names the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from abel.training.safe_load import UntrustedCheckpoint, verify_checkpoint


class Payload:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):  # what an attacker plants: unpickling runs os.system
        return (os.system, (f"touch {self.sentinel}",))


def _checkpoint(folder: Path, sentinel: Path) -> Path:
    folder.mkdir(parents=True)
    torch.save({"weights": torch.zeros(2)}, folder / "scheduler.pt")
    planted = folder / "rng_state_0.pth"
    torch.save({"cpu": Payload(sentinel)}, planted)
    return planted


def test_a_planted_pickle_is_refused_unread_and_named(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    planted = _checkpoint(tmp_path / "checkpoint-10", sentinel)
    with pytest.raises(UntrustedCheckpoint, match=str(planted)) as info:
        verify_checkpoint(tmp_path / "checkpoint-10")
    assert "system" in str(info.value)
    assert not sentinel.exists()


def test_plain_checkpoint_files_pass(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint-5"
    folder.mkdir()
    torch.save({"weights": torch.zeros(2), "step": 5}, folder / "mp_rank_00_model_states.pt")
    (folder / "training_args.bin").write_bytes(b"never loaded on resume")
    assert [p.name for p in verify_checkpoint(folder)] == ["mp_rank_00_model_states.pt"]


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint-1"
    folder.mkdir()
    (folder / "optim.pt").write_bytes(b"\x80\x04garbage")
    with pytest.raises(UntrustedCheckpoint, match="optim.pt"):
        verify_checkpoint(folder)


def test_after_enforce_weights_only_even_weights_only_false_runs_nothing(tmp_path: Path) -> None:
    """DeepSpeed calls torch.load(..., weights_only=False); in a rank that called enforce_weights_only
    the payload still never runs."""
    sentinel = tmp_path / "pwned"
    planted = _checkpoint(tmp_path / "checkpoint-10", sentinel)
    code = (f"import sys, torch; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "from abel.training.safe_load import enforce_weights_only\n"
            "enforce_weights_only()\n"
            f"torch.load({str(planted)!r}, weights_only=False)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Weights only load failed" in done.stderr, done.stderr[-2000:]
    assert not sentinel.exists()
