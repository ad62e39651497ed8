"""Untrusted model output: parsed, never run; every answer ends within the limit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from abel.scoring import score_rows

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
}


@pytest.mark.parametrize("mode", ["strict", "abel"])
@pytest.mark.parametrize("gold", ["5", "x+1"])
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_each_answer_ends_within_two_seconds(mode: str, gold: str, name: str) -> None:
    SENTINEL.unlink(missing_ok=True)
    start = time.perf_counter()
    verdicts, summary = score_rows([{"response": PATHOLOGICAL[name], "gold": gold}], mode,
                                   timeout_s=1.0, progress=False)
    elapsed = time.perf_counter() - start
    # includes starting the worker process: the bound is on the whole call
    assert elapsed < 2.0, f"{mode}/{name} took {elapsed:.2f}s"
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

    with pytest.raises(ValueError, match="positive time limit"):
        shared_pool(1, 4096).map(str, [(1,)])
