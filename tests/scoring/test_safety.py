"""Untrusted model output: parsed, never run; every answer ends within the limit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abel.scoring.runner import score_rows

SENTINEL = Path("/tmp/abel_scorer_must_not_create_this")

PATHOLOGICAL = {
    "tower": "#### 9^{9^{9}}",
    "factorial": "#### 1000000!",
    "huge_power": "#### 7^{10^9}",
    "deep_nest": "#### " + "(" * 3000 + "1" + ")" * 3000,
    "unclosed_box": "so \\boxed{" + "x" * 60_000,
    "prose_2mb": "word " * 400_000 + "\n#### 5",
    "boxed_tower": "The answer is \\boxed{9^{9^{9}}}",
    "boxed_factorial": "\\boxed{1000000!}",
    "boxed_deep_nest": "\\boxed{" + "(" * 3000 + "1" + ")" * 3000 + "}",
    "injection": f"#### __import__('os').system('touch {SENTINEL}')",
    "nested_boxes": "\\boxed{" * 20_000 + "5" + "}" * 20_000,
    "unclosed_boxes": "\\boxed{" * 20_000,
    "box_run": "\\boxed{1}, " * 30_000,
    "heading_flood": "#### Step 1:\n" * 50_000,
}


def _slowdown(cpu_s: float = 0.1) -> float:
    """Wall seconds per CPU second for a busy loop here and now (1.0 on an idle core; more when other work,
    such as parallel tests, shares the CPU). The limits below are CPU time, so wall-time bounds scale by it."""
    start, end = time.perf_counter(), time.process_time() + cpu_s
    while time.process_time() < end:
        pass
    return max(1.0, (time.perf_counter() - start) / cpu_s)


@pytest.mark.parametrize("mode", ["strict", "abel"])
@pytest.mark.parametrize("gold", ["5", "x+1"])
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_each_answer_ends_within_two_seconds(mode: str, gold: str, name: str) -> None:
    SENTINEL.unlink(missing_ok=True)
    slowdown = _slowdown()
    start = time.perf_counter()
    verdicts, summary = score_rows([{"response": PATHOLOGICAL[name], "gold": gold}], mode,
                                   timeout_s=1.0, progress=False)
    elapsed = time.perf_counter() - start
    slowdown = max(slowdown, _slowdown())
    # includes starting the worker process: the bound is on the whole call (2 s on an idle machine)
    assert elapsed < 2.0 * slowdown, f"{mode}/{name} took {elapsed:.2f}s (CPU {slowdown:.2f}x slower than idle)"
    assert summary.n == 1 and summary.errors == 0
    if verdicts[0]["reason"].startswith("timeout"):
        assert summary.timeouts == 1
    assert not SENTINEL.exists(), "model output was executed"


def test_timeouts_are_counted_and_do_not_stall_the_rest() -> None:
    rows = [{"response": "\\boxed{9^{9^{9}}}", "gold": "x+1"}] * 2 + [
        {"response": "\\boxed{x^2+1}", "gold": "1+x^2"}
    ]
    verdicts, summary = score_rows(rows, "strict", timeout_s=0.5, workers=2, progress=False)
    assert summary.timeouts == 2
    assert verdicts[2]["correct"] is True


def test_a_pool_without_a_time_limit_refuses_work() -> None:
    from abel.scoring.pool import shared_pool

    with pytest.raises(ValueError, match="positive, finite time limit"):
        shared_pool(1, 4096).map(str, [(1,)])


def _burn_cpu(seconds: float) -> bool:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return True


def test_the_limit_is_cpu_time_so_a_busy_machine_changes_no_verdict() -> None:
    """With every core busy, tasks needing 0.3 s of CPU take longer than 0.6 s of wall time, and
    still finish under a 0.6 s limit; a task needing 2 s of CPU is stopped at 0.6 s of its CPU."""
    from abel.scoring.pool import WorkerPool

    with WorkerPool(workers=2, timeout_s=0.6, memory_mb=4096) as pool:
        pool.map(str, [(1,), (2,)])  # start both workers before the load
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 1) + 1)]
        try:
            start = time.perf_counter()
            outcomes = pool.map(_burn_cpu, [(0.3,), (0.3,), (2.0,)])
            wall = time.perf_counter() - start
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    assert [o.status for o in outcomes] == ["ok", "ok", "timeout"], outcomes
    assert "CPU" in outcomes[2].error
    assert wall > 0.6, "the machine was not loaded: this run shows nothing"


def _burn_cpu_deaf_to_the_soft_limit(seconds: float) -> bool:
    """Stands in for one long C call: the soft limit's signal is blocked, so its handler never runs."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})
    return _burn_cpu(seconds)


def test_a_task_that_never_returns_to_python_is_ended_by_the_hard_cpu_limit() -> None:
    """The kernel ends the worker at the limit + HARD_GRACE_S of CPU time; the answer is a timeout and
    the pool goes on with a new worker."""
    from abel.scoring.pool import HARD_GRACE_S, WorkerPool

    with WorkerPool(workers=1, timeout_s=0.3, memory_mb=4096) as pool:
        pool.map(str, [(1,)])
        slowdown = _slowdown()
        start = time.perf_counter()
        outcomes = pool.map(_burn_cpu_deaf_to_the_soft_limit, [(30.0,)])
        elapsed = time.perf_counter() - start
        slowdown = max(slowdown, _slowdown())
        after = pool.map(str, [(2,)])
    assert outcomes[0].status == "timeout" and "worker ended" in outcomes[0].error, outcomes
    # the worker's CPU time, not the 30 s it asked for (wall time: stretched on a busy machine)
    assert elapsed < (0.3 + HARD_GRACE_S) * slowdown + 1.5, f"{elapsed:.2f}s (CPU {slowdown:.2f}x slower than idle)"
    assert after[0].status == "ok" and after[0].value == "2"


def test_abel_score_with_timeouts_exits_cleanly(tmp_path: Path) -> None:
    rows = tmp_path / "hostile.jsonl"
    rows.write_text('{"response": "#### 9^{9^{9}}", "gold": "x+1"}\n{"response": "\\\\boxed{1000000!}", "gold": "x+1"}\n')
    done = subprocess.run([sys.executable, "-m", "abel.cli", "score", "--quiet", str(rows)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"timeouts": 2' in done.stdout
    assert done.stderr == "", done.stderr  # no stray traceback from a worker after exit
