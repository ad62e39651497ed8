"""Pairing the comparison runs question by question, and the paired statistics, against the stats module's own."""

from __future__ import annotations

import pytest

from abel.analysis import comparison
from abel.analysis.stats import mcnemar_exact, paired_bootstrap_delta

WHERE = {"answer_only": "a/test.jsonl", "stepwise": "s/test.jsonl", "original": "o/test.jsonl"}


def rows(verdicts: dict[str, bool]) -> list[dict]:
    return [{"id": i, "correct": v} for i, v in verdicts.items()]


def test_verdicts_are_paired_by_id_not_by_position() -> None:
    runs = {"answer_only": rows({"1": True, "2": False, "3": False}),
            "stepwise": rows({"3": True, "1": False, "2": True})}  # another order
    assert comparison.paired_verdicts(runs, WHERE) == {"answer_only": [True, False, False], "stepwise": [False, True, True]}


@pytest.mark.parametrize("other,phrase", [
    (rows({"1": True, "2": True}), "answered different questions"),               # a question missing
    (rows({"1": True, "2": True, "3": True, "4": True}), "answered different questions"),  # one more
    (rows({"1": True, "2": True, "9": True}), r"only in a/test.jsonl: \['3'\]; only in s/test.jsonl: \['9'\]"),
    ([{"id": "1", "correct": True}, {"id": "1", "correct": True}, {"id": "2", "correct": True}, {"id": "3", "correct": True}],
     "s/test.jsonl: question ids repeat"),                                           # an id twice
    (rows({"1": True, "2": 1, "3": True}), "'correct' field is not true or false"),
])
def test_unpaired_runs_are_an_error_naming_the_files(other: list[dict], phrase: str) -> None:
    runs = {"answer_only": rows({"1": True, "2": False, "3": False}), "stepwise": other}
    with pytest.raises(comparison.ComparisonError, match=phrase):
        comparison.paired_verdicts(runs, WHERE)


def test_repeated_ids_in_the_first_run_are_an_error() -> None:
    with pytest.raises(comparison.ComparisonError, match="a/test.jsonl: question ids repeat"):
        comparison.paired_verdicts({"answer_only": [{"id": 1, "correct": True}, {"id": 1, "correct": False}]}, WHERE)


def test_pairs_are_every_pair_in_order_with_the_stats_modules_numbers() -> None:
    v = {"answer_only": [True, False, False, False, True, False],
         "original": [True, True, False, True, True, False],
         "stepwise": [True, True, True, True, False, True]}
    out = comparison.pairs(v, resamples=2000, ci=0.9, seed=3)
    assert [(p["base"], p["other"]) for p in out] == [("answer_only", "original"), ("answer_only", "stepwise"),
                                                     ("original", "stepwise")]
    for p in out:
        delta = paired_bootstrap_delta(v[p["base"]], v[p["other"]], resamples=2000, ci=0.9, seed=3)
        test = mcnemar_exact(v[p["base"]], v[p["other"]])
        assert (p["delta"], p["ci_lo"], p["ci_hi"], p["n"]) == (delta.value, delta.lo, delta.hi, 6)
        assert (p["only_base"], p["only_other"], p["both"], p["neither"], p["p_value"]) == \
            (test.only_base, test.only_other, test.both, test.neither, test.p_value)
    # stepwise - answer_only: 4 more right, 1 fewer: +3/6 points
    assert out[1]["delta"] == pytest.approx(0.5) and (out[1]["only_base"], out[1]["only_other"]) == (1, 4)


def test_markdown_tables() -> None:
    summary = {"profile": "arith", "benchmark": "chain_sum", "mode": "strict", "compare_seed": 4, "ci": 0.95,
               "runs": [{"format": f, "accuracy": a, "ci_lo": a - 0.1, "ci_hi": a + 0.1, "correct": int(10 * a), "n": 10,
                         "steps": s, "train_tokens_seen": 100 * s, "train_records": 50, "parameters": 900 + s,
                         "curate_seed": 1, "sft_seed": 2} for f, a, s in
                        (("answer_only", 0.3, 5), ("stepwise", 0.9, 9))],
               "pairs": [{"base": "answer_only", "other": "stepwise", "delta": 0.6, "ci_lo": 0.3, "ci_hi": 0.9, "only_base": 0,
                          "only_other": 6, "p_value": 0.03125, "resamples": 1000}]}
    md = comparison.markdown(summary)
    assert "| answer_only | 30.0 | [20.0, 40.0] | 3 | 10 | 5 | 500 | 50 | 905 | 1 / 2 |" in md
    assert "(1000 resamples, seed 4)" in md
    assert "| stepwise - answer_only | +60.0 | [+30.0, +90.0] | 0 | 6 | 0.0312 |" in md
    assert "![accuracy](../../figures/comparison/accuracy.png)" in md
