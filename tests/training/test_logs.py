"""Reading back the ranks' logs: merged curves, and what counts as a resume."""

from __future__ import annotations

import json
from pathlib import Path

from abel.training.logs import read_run, resumes, summary


def _write(log_dir: Path, rank: int, rows: list[dict]) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"rank{rank}.jsonl").open("a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def _begin(step: int) -> dict:
    return {"event": "begin", "step": step, "world_size": 2, "engine": "DeepSpeedEngine", "zero_stage": 2,
            "dtype": "torch.float32", "too_long": 0}


def _log(step: int, loss: float, examples: list[int]) -> dict:
    return {"event": "log", "step": step, "epoch": step / 4, "loss": loss, "lr": 1e-3, "tokens": 100, "seconds": 2.0,
            "examples": examples}


def test_a_killed_and_resumed_run_counts_one_resume_and_the_later_attempt_wins(tmp_path: Path) -> None:
    for rank in (0, 1):
        _write(tmp_path, rank, [_begin(0), _log(1, 2.0, [rank]), _log(2, 1.9, [2 + rank]),  # killed after step 2
                                _begin(1), _log(2, 1.8, [2 + rank]), _log(3, 1.7, [4 + rank]), _log(4, 1.6, [6 + rank])])
    log = read_run(tmp_path)
    assert [r["step"] for r in log.train] == [1, 2, 3, 4] and log.train[1]["loss"] == 1.8
    assert resumes(log) == 1 and summary(log)["resumes"] == 1 and log.shared_steps == 0


def test_a_rerun_of_a_finished_run_trains_nothing_and_is_not_a_resume(tmp_path: Path) -> None:
    """The ranks start at the final step only to export the model again: not a resume."""
    for rank in (0, 1):
        _write(tmp_path, rank, [_begin(0), *(_log(s, 2.0 - s / 10, [2 * s + rank]) for s in range(1, 5)), _begin(4)])
    assert resumes(read_run(tmp_path)) == 0
    log_dir = tmp_path / "b"  # killed at step 1, resumed to the end, then started again when finished
    for rank in (0, 1):
        _write(log_dir, rank, [_begin(0), _log(1, 2.0, [rank]), _begin(1), _log(2, 1.9, [2 + rank]), _begin(2)])
    assert resumes(read_run(log_dir)) == 1


def test_steps_after_the_last_logged_one_count(tmp_path: Path) -> None:
    """logging_steps 5 and 12 steps: the last logged row is step 10, the run ended at 12 with more tokens."""
    for rank in (0, 1):
        _write(tmp_path, rank, [_begin(0), _log(5, 2.0, [rank]), _log(10, 1.5, [2 + rank]),
                                {"event": "end", "rank": rank, "step": 12, "epoch": 3.0, "tokens": 40},
                                _begin(12), {"event": "end", "rank": rank, "step": 12, "epoch": 3.0, "tokens": 0}])  # re-export
    s = summary(read_run(tmp_path))
    assert (s["steps"], s["epochs"], s["train_tokens_seen"]) == (12, 3.0, 2 * 100 * 2 + 2 * 40)
    old = tmp_path / "old"  # logs of a run from before the end row carried tokens: the last logged step, as before
    for rank in (0, 1):
        _write(old, rank, [_begin(0), _log(5, 2.0, [rank]), _log(10, 1.5, [2 + rank])])
    s = summary(read_run(old))
    assert (s["steps"], s["epochs"], s["train_tokens_seen"]) == (10, 2.5, 400)


def test_the_allocator_is_every_ranks_and_every_attempts(tmp_path: Path) -> None:
    """Killed under one malloc, resumed under another: both named, so the run's tokens/s is not read as one's."""
    for rank in (0, 1):
        _write(tmp_path, rank, [_begin(0) | {"allocator": "system"}, _log(1, 2.0, [rank]),
                                _begin(1) | {"allocator": "tcmalloc"}, _log(2, 1.9, [2 + rank])])
    assert summary(read_run(tmp_path))["allocator"] == "system, tcmalloc"
    one = tmp_path / "one"
    for rank in (0, 1):
        _write(one, rank, [_begin(0) | {"allocator": "tcmalloc"}, _log(1, 2.0, [rank])])
    assert summary(read_run(one))["allocator"] == "tcmalloc"
    old = tmp_path / "old"  # logs from before ranks logged it
    for rank in (0, 1):
        _write(old, rank, [_begin(0), _log(1, 2.0, [rank])])
    assert summary(read_run(old))["allocator"] is None
