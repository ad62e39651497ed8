"""MATH self-check: the gold solutions score 100% against their own answers, through both the
shortcut and the math-verify worker path, and mismatched pairs are rejected (short explained list)."""

from __future__ import annotations

import pytest

from abel.io import read_jsonl
from abel.scoring import strict
from abel.scoring.runner import score_rows
from abel.scoring.extract import last_boxed
from abel.scoring.pool import WorkerPool

# Mismatched pairs (solution i vs answer i+1) that strict mode accepts although the strings differ,
# each with the reason it is right to accept them.
EXPLAINED_CROSS_ACCEPTS = {
    22: "'5' vs 'x=5': an equation's right-hand side is the answer (math-verify, as MATH graders do)",
}


@pytest.fixture(scope="module")
def math500(data_dir):
    return read_jsonl(data_dir / "math500" / "test.jsonl", required=("solution", "answer"))


def test_math500_solutions_match_their_answers(math500) -> None:
    rows = [{"response": r["solution"], "gold": r["answer"]} for r in math500]
    verdicts, summary = score_rows(rows, "strict", kind="latex", progress=False)
    failures = [(r["unique_id"], v["pred"], v["reason"]) for r, v in zip(math500, verdicts) if not v["correct"]]
    assert failures == []
    assert summary.accuracy == 1.0


def test_math500_through_math_verify_path(math500) -> None:
    """No string shortcut: every pair goes through the worker's LaTeX equivalence."""
    args = [(r["solution"], r["answer"]) for r in math500]
    with WorkerPool(workers=2, timeout_s=5.0, memory_mb=4096) as pool:
        outcomes = pool.map(strict.judge_slow, args)
    failures = [(r["unique_id"], o.status, o.error) for r, o in zip(math500, outcomes)
                if not (o.status == "ok" and o.value[0])]
    assert failures == []


def test_mismatched_pairs_are_rejected(math500) -> None:
    n = len(math500)
    rows = [{"response": math500[i]["solution"], "gold": math500[(i + 1) % n]["answer"]} for i in range(n)]
    verdicts, _ = score_rows(rows, "strict", kind="latex", progress=False)
    accepted = {i for i, v in enumerate(verdicts) if v["correct"]}
    identical = {i for i in range(n) if math500[i]["answer"].strip() == math500[(i + 1) % n]["answer"].strip()}
    assert identical <= accepted
    assert accepted - identical == set(EXPLAINED_CROSS_ACCEPTS)


def test_math_test_solutions_through_math_verify_path(data_dir) -> None:
    rows = read_jsonl(data_dir / "math" / "test.jsonl", required=("solution",))
    golds = [last_boxed(r["solution"])[0] for r in rows]
    assert all(g is not None for g in golds), "every MATH test solution has a closed \\boxed{}"
    with WorkerPool(workers=2, timeout_s=5.0, memory_mb=4096) as pool:
        outcomes = pool.map(strict.judge_slow, [(r["solution"], g) for r, g in zip(rows, golds)])
    failures = [(r["idx"], o.status, o.error) for r, o in zip(rows, outcomes) if not (o.status == "ok" and o.value[0])]
    assert failures == []
