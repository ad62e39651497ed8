"""Robustness split by kind of number change, on hand-made pairs with a planted effect."""

from __future__ import annotations

from abel.analysis.robustness import by_change, change_kinds, numbers_in

P = "Question:\n{}\nAnswer:\nLet's think step by step.\n"


def test_change_kinds() -> None:
    assert numbers_in("He paid $1,200 for 3.5 kg.") == ["1200", "3.5"]
    kinds = change_kinds("Tom has 3 apples and buys 4.", "Tom has 30 apples and buys 41.", "7", "71")
    assert kinds == ["all", "answer: more digits", "question: longer numbers"]
    assert "answer: becomes non-integer" in change_kinds("a 4 b 2", "a 5 b 2", "2", "2.5")
    assert "answer: same digits" in change_kinds("x 1", "x 2", "5", "6")


def test_planted_break_on_longer_numbers_is_found() -> None:
    base, other = [], []
    for i in range(200):
        longer = i % 2 == 0
        base.append({"id": i, "prompt": P.format(f"Ann has {i % 7 + 1} pens."), "gold": "5", "correct": True})
        other.append({"id": i, "prompt": P.format(f"Ann has {(i % 7 + 1) * (1000 if longer else 1)} pens."),
                      "gold": "5", "correct": not longer})  # planted: every longer-number question breaks
    rows = by_change({("gsm8k", "m", "strict"): base, ("gsm8k_robust", "m", "strict"): other},
                     [("gsm8k", "gsm8k_robust")], resamples=2000, ci=0.95, seed=0)
    by = {r["change"]: r for r in rows}
    assert by["question: longer numbers"]["delta"] == -1.0 and by["question: longer numbers"]["broken"] == 100
    assert by["question: same number lengths"]["delta"] == 0.0
    assert by["all"]["n"] == 200 and by["all"]["delta_hi"] < 0
