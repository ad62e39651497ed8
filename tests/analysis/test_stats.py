from __future__ import annotations

import numpy as np
import pytest

from abel.analysis.stats import accuracy_by_tags, bootstrap_accuracy, mcnemar_exact, paired_bootstrap_delta


def test_bootstrap_interval_contains_truth_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(200) < 0.6
    large = rng.random(5000) < 0.6
    e_small, e_large = bootstrap_accuracy(small), bootstrap_accuracy(large)
    assert e_small.lo < 0.6 < e_small.hi and e_large.lo < 0.6 < e_large.hi
    assert (e_large.hi - e_large.lo) < (e_small.hi - e_small.lo)
    # normal approximation check: half-width ~ 1.96 * sqrt(p(1-p)/n)
    half = (e_large.hi - e_large.lo) / 2
    assert abs(half - 1.96 * np.sqrt(0.24 / 5000)) < 0.003


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    x = [True, False, True, True] * 50
    assert bootstrap_accuracy(x, seed=3) == bootstrap_accuracy(x, seed=3)


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
    rows = accuracy_by_tags(correct, tags, ["level", "subject"], resamples=200)
    assert [(r["level"], r["subject"], r["value"], r["n"]) for r in rows] == [
        (1, "Algebra", 0.75, 4), (5, "Geometry", 0.25, 4)]
