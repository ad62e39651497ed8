"""Uncertainty for accuracies.

- one proportion (an accuracy, a rate): the Wilson score interval (``scipy.stats.binomtest``), which
  stays honest at 0/n and n/n, where a bootstrap collapses to a zero-width interval;
- a paired difference (same questions, two conditions): paired bootstrap of the mean difference,
  with McNemar's exact test beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float
    n: int
    ci: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_bool(x: Sequence[bool] | np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=bool)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty 1-D sequence of per-question verdicts")
    return arr


def _resample_means(arr: np.ndarray, resamples: int, rng: np.random.Generator, chunk: int = 1000) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples of ``arr`` (rows of arr are questions)."""
    out = []
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, len(arr), size=(min(chunk, resamples - start), len(arr)))
        out.append(arr[idx].mean(axis=1))
    return np.concatenate(out)


def proportion(correct: Sequence[bool], *, ci: float = 0.95) -> Estimate:
    """A proportion (accuracy) of per-question verdicts with its Wilson score interval."""
    arr = _as_bool(correct)
    return wilson(int(arr.sum()), int(arr.size), ci=ci)


def wilson(k: int, n: int, *, ci: float = 0.95) -> Estimate:
    """``k`` of ``n`` with the Wilson score interval (0/24 gives about [0%, 13.8%], not [0%, 0%])."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    interval = binomtest(k, n).proportion_ci(confidence_level=ci, method="wilson")
    return Estimate(k / n, float(interval.low), float(interval.high), n, ci)


def paired_bootstrap_delta(base: Sequence[bool], other: Sequence[bool], *, resamples: int = 10_000,
                           ci: float = 0.95, seed: int = 0) -> Estimate:
    """``mean(other) - mean(base)`` over the same questions, resampling questions jointly."""
    a, b = _as_bool(base), _as_bool(other)
    if a.shape != b.shape:
        raise ValueError(f"paired verdicts differ in length: {a.size} vs {b.size}")
    diff = b.astype(np.float64) - a.astype(np.float64)
    means = _resample_means(diff, resamples, np.random.default_rng(seed))
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return Estimate(float(diff.mean()), float(lo), float(hi), len(diff), ci)


@dataclass(frozen=True)
class McNemar:
    only_base: int  # right on base, wrong on other
    only_other: int  # wrong on base, right on other
    both: int
    neither: int
    p_value: float  # exact (binomial) two-sided

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(base: Sequence[bool], other: Sequence[bool]) -> McNemar:
    a, b = _as_bool(base), _as_bool(other)
    if a.shape != b.shape:
        raise ValueError(f"paired verdicts differ in length: {a.size} vs {b.size}")
    only_base, only_other = int((a & ~b).sum()), int((~a & b).sum())
    discordant = only_base + only_other
    p = 1.0 if discordant == 0 else float(binomtest(only_base, discordant, 0.5).pvalue)
    return McNemar(only_base, only_other, int((a & b).sum()), int((~a & ~b).sum()), p)


def accuracy_by_tags(correct: Sequence[bool], tags: Sequence[dict[str, Any]], keys: Sequence[str], *,
                     ci: float = 0.95) -> list[dict[str, Any]]:
    """Accuracy (with Wilson interval) per combination of tag values, e.g. MATH level x subject."""
    arr = _as_bool(correct)
    if len(tags) != arr.size:
        raise ValueError(f"{len(tags)} tag rows for {arr.size} verdicts")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, tag in enumerate(tags):
        groups.setdefault(tuple(tag.get(k) for k in keys), []).append(i)
    rows = []
    for values, idx in sorted(groups.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
        est = proportion(arr[idx], ci=ci)
        rows.append({**dict(zip(keys, values)), **est.to_dict()})
    return rows


def accuracy_rows(verdicts: dict[int, dict[str, list[bool]]], *, ci: float) -> list[dict[str, Any]]:
    """One row per (step, split) of checkpoint verdicts: accuracy with a Wilson interval."""
    rows = []
    for step in sorted(verdicts):
        for split, correct in verdicts[step].items():
            est = proportion(correct, ci=ci)
            rows.append({"step": step, "split": split, "n": est.n, "accuracy": est.value, "ci_lo": est.lo,
                         "ci_hi": est.hi, "ci": ci})
    return rows
