"""maj@k / pass@k over sampled answers, on hand-made samples."""

from __future__ import annotations

from fractions import Fraction

import pytest

from abel.analysis import sampling as metrics
from abel.analysis.sampling import sampling_table
from abel.scoring.strict import canonical_answer


def test_pass_at_k() -> None:
    assert metrics.pass_at_k(10, 0, 5) == 0.0
    assert metrics.pass_at_k(10, 10, 1) == 1.0
    assert metrics.pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert metrics.pass_at_k(4, 1, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        metrics.pass_at_k(3, 4, 1)


def test_maj_at_k_with_canonical_answers() -> None:
    responses = ["#### 5", "#### 5.0", "#### 6", "#### $6", "#### 6"]
    keys = [canonical_answer(r, "numeric") for r in responses]
    assert keys[:2] == [Fraction(5), Fraction(5)]
    correct = [k == 5 for k in keys]
    assert metrics.maj_at_k(keys, correct, 2) is True
    assert metrics.maj_at_k(keys, correct, 5) is False  # 6 wins three votes to two
    assert metrics.majority([None, "B", "A", "B"]) == "B"
    assert metrics.majority(["A", "B"]) == "A"  # tie: the first seen
    assert metrics.maj_at_k([None, None], [False, False], 2) is False


def test_sampling_table_on_hand_made_scored_rows() -> None:
    def rows(*per_question):
        return [{"id": str(q), "sample": s, "pred": pred, "correct": ok}
                for q, samples in enumerate(per_question) for s, (pred, ok) in enumerate(samples)]
    scored = {("gsm8k", "sft", "strict"): rows(
        [("5", True), ("6", False), ("5", True)],    # majority right, 2 of 3 right
        [("7", False), ("7", False), ("3", True)],   # majority wrong, 1 of 3 right
        [("", False), ("", False), ("", False)],     # nothing readable
    ), ("gsm8k", "greedy", "strict"): rows([("5", True)])}
    (row,) = sampling_table(scored)  # the 1-sample file has no sampling metrics
    assert (row["questions"], row["samples"]) == (3, 3)
    assert row["maj@3"] == pytest.approx(1 / 3) and row["maj@1"] == pytest.approx(1 / 3)
    assert row["pass@3"] == pytest.approx(2 / 3)
    assert row["pass@1"] == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
