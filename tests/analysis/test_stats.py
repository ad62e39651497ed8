from __future__ import annotations

import numpy as np
import pytest

from abel.analysis.stats import accuracy_by_tags, accuracy_rows, mcnemar_exact, paired_bootstrap_delta, proportion, wilson


def test_interval_contains_truth_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(200) < 0.6
    large = rng.random(5000) < 0.6
    e_small, e_large = proportion(small), proportion(large)
    assert e_small.lo < 0.6 < e_small.hi and e_large.lo < 0.6 < e_large.hi
    assert (e_large.hi - e_large.lo) < (e_small.hi - e_small.lo)
    # normal approximation check: half-width ~ 1.96 * sqrt(p(1-p)/n)
    half = (e_large.hi - e_large.lo) / 2
    assert abs(half - 1.96 * np.sqrt(0.24 / 5000)) < 0.003


def test_wilson_at_none_and_all_correct_is_not_a_point() -> None:
    """0/24 and 24/24: the interval keeps its width (a bootstrap would give [0, 0] and [1, 1])."""
    none, every = proportion([False] * 24), proportion([True] * 24)
    assert (none.value, none.lo) == (0.0, 0.0) and none.hi == pytest.approx(0.1380, abs=1e-4)
    assert (every.value, every.hi) == (1.0, 1.0) and every.lo == pytest.approx(0.8620, abs=1e-4)
    # Wilson's closed form at k = 0: hi = z^2 / (n + z^2)
    z = 1.959963984540054
    assert none.hi == pytest.approx(z * z / (24 + z * z), rel=1e-9)
    half = wilson(12, 24)
    assert half.lo == pytest.approx(1 - half.hi, rel=1e-9) and half.lo == pytest.approx(0.3143, abs=1e-4)


def test_wilson_rejects_impossible_counts() -> None:
    for k, n in [(1, 0), (-1, 5), (6, 5)]:
        with pytest.raises(ValueError, match="0 <= k <= n"):
            wilson(k, n)


def test_accuracy_rows_per_step_and_split() -> None:
    rows = accuracy_rows({10: {"train": [True] * 3 + [False], "test": [False] * 4}}, ci=0.9)
    assert [(r["step"], r["split"], r["n"], r["accuracy"], r["ci"]) for r in rows] == [
        (10, "train", 4, 0.75, 0.9), (10, "test", 4, 0.0, 0.9)]
    assert rows[1]["ci_hi"] > 0


def test_paired_bootstrap_detects_a_planted_delta() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(1000) < 0.6
    other = base.copy()
    flip = np.flatnonzero(base)[:80]  # 80 questions break: delta = -0.08
    other[flip] = False
    est = paired_bootstrap_delta(base, other)
    assert est.value == pytest.approx(-0.08)
    assert est.hi < 0  # the interval excludes zero


def test_paired_bootstrap_on_identical_verdicts_is_zero() -> None:
    x = [True, False] * 100
    est = paired_bootstrap_delta(x, x)
    assert est.value == est.lo == est.hi == 0.0


def test_mcnemar_known_values() -> None:
    base = [True] * 10 + [False] * 0 + [True] * 5
    other = [False] * 10 + [True] * 5
    m = mcnemar_exact(base, other)
    assert (m.only_base, m.only_other, m.both, m.neither) == (10, 0, 5, 0)
    assert m.p_value == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar_exact([True], [True, False])


def test_accuracy_by_tags_level_x_subject() -> None:
    tags = [{"level": 1, "subject": "Algebra"}] * 4 + [{"level": 5, "subject": "Geometry"}] * 4
    correct = [True, True, True, False, False, False, True, False]
    rows = accuracy_by_tags(correct, tags, ["level", "subject"])
    assert [(r["level"], r["subject"], r["value"], r["n"]) for r in rows] == [
        (1, "Algebra", 0.75, 4), (5, "Geometry", 0.25, 4)]
