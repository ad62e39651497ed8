"""Self-consistency (maj@k) and pass@k over sampled, scored answers (``generate.samples`` > 1)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from math import comb
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): chance that k of n samples, c of them correct, include one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority(answers: Sequence[Hashable | None]) -> Hashable | None:
    """The most common non-missing answer; ties go to the answer seen first."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def maj_at_k(answers: Sequence[Hashable | None], correct: Sequence[bool], k: int) -> bool:
    """Is the majority answer of the first k samples a correct one? (``correct[i]`` judges ``answers[i]``.)"""
    if not 1 <= k <= len(answers) or len(answers) != len(correct):
        raise ValueError(f"k={k} with {len(answers)} answers and {len(correct)} verdicts")
    winner = majority(answers[:k])
    return winner is not None and any(a == winner and ok for a, ok in zip(answers[:k], correct[:k]))


def sampling_table(scored: dict[tuple[str, str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """maj@k and pass@k at k = 1 and k = n for every scored file with n > 1 samples per question.

    Votes go to the scorer's ``pred`` (its normalized reading of the answer); a question with no
    readable answer in any sample counts as wrong.
    """
    out = []
    for (bench, model, mode), rows in sorted(scored.items()):
        by_id: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_id.setdefault(str(row["id"]), []).append(row)
        n = min(len(v) for v in by_id.values()) if by_id else 0
        if n < 2:
            continue
        samples = [sorted(v, key=lambda r: r.get("sample", 0))[:n] for v in by_id.values()]
        row = {"benchmark": bench, "model": model, "mode": mode, "questions": len(samples), "samples": n}
        for k in sorted({1, n}):
            row[f"maj@{k}"] = sum(maj_at_k([r.get("pred") or None for r in s], [bool(r["correct"]) for r in s], k)
                                  for s in samples) / len(samples)
            row[f"pass@{k}"] = sum(pass_at_k(n, sum(bool(r["correct"]) for r in s), k) for s in samples) / len(samples)
        out.append(row)
    return out
