"""Self-consistency (maj@k) and pass@k over sampled answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from math import comb


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
