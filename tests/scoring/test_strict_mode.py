"""strict mode: each Abel-scorer error fixed, each common scorer pitfall avoided."""

from __future__ import annotations

import pytest

from abel.scoring import score_rows
from abel.scoring.extract import extract_final, last_boxed
from abel.scoring.numeric import parse_number
from abel.scoring.strict import choice_letter, infer_kind, judge_fast


def strict(response: str, gold: str, kind=None) -> dict:
    verdicts, _ = score_rows([{"response": response, "gold": gold}], "strict", kind=kind, progress=False)
    return verdicts[0]


@pytest.mark.parametrize("response,gold", [
    ("So she has $10 left. #### 10.", "10"),                         # abel: "10." -> 1
    ("Total 528 apples.\n#### 528.", "528"),                         # abel: "528." -> 5*2
    ("It takes 5 days.\n####5 ", "5"),                               # abel: needs "#### "
    ("#### 55.50", "55.5"),                                          # trailing zero
    ("#### $76,000 + $53,200 = $129,200", "129200"),                 # $ as currency, not math
    ("#### 114,200", "114200"),                                      # thousands separators
    ("#### 1,234,567.5", "1234567.5"),
    ("#### twelve", "12"),                                           # number words
    ("#### forty-two", "42"),
    ("#### two thousand five hundred", "2500"),
    ("#### -$38,000", "-38000"),
    ("#### 30 dollars per day", "30"),
    ("The area is \\boxed{\\frac{3}{4}}", "0.75"),
    ("#### 7\\frac{1}{2}", "7.5"),
    ("#### 40\\%", "40"),
    ("#### 3/4", "0.75"),
    ("#### 1.6666666666666667", "1.6666666666666667"),
    ("it is $\\boxed{\\textbf{(B)}}$\n#### ", "B"),                   # boxed letter, empty ####
    ("#### (C)", "C"),
    ("#### D) 24", "D"),
    ("Thus \\boxed{A}.", "A"),
    ("#### 12\nQuestion: Tom has 3 apples...\n#### 3", "12"),        # hallucinated next question
    ("#### The total is 30", "30"),                                  # lead-in prose, one number
    ("Checking each option, the answer is (B).", "B"),               # no marker, explicit choice
])
def test_correct(response: str, gold: str) -> None:
    verdict = strict(response, gold)
    assert verdict["correct"], verdict


@pytest.mark.parametrize("response,gold,reason", [
    ("#### A,B", "A", "hedged"),                                     # abel accepted this hedge
    ("#### A or B", "A", "hedged"),
    ("#### 3.9", "390", "wrong number"),                             # no reference/100 tolerance
    ("#### 39000", "390", "wrong number"),
    ("#### 5, 6", "5", "not a single number"),
    ("#### 12:00", "2", "not a single number"),
    ("#### She has 5 apples and 6 pears", "5", "not a single number"),
    ("#### 2^3", "8", "not a single number"),                        # expressions are not evaluated
    ("I boxed the eggs, 5 in each box. The answer is 7.", "5", "no #### marker"),  # "boxed" in prose
    ("the answer is a number we find next", "A", "no #### marker"),  # "answer is a" in prose
    ("#### 55.51", "55.5", "wrong number"),
    ("\\boxed{5", "5", "unclosed"),
    ("", "5", "no #### marker"),
])
def test_wrong(response: str, gold: str, reason: str) -> None:
    verdict = strict(response, gold)
    assert not verdict["correct"], verdict
    assert reason in verdict["reason"], verdict


def test_last_boxed_wins_and_braces_balance() -> None:
    assert last_boxed("\\boxed{1} then \\boxed{\\frac{a}{b}}")[0] == "\\frac{a}{b}"
    assert last_boxed("\\fbox{x^{2}}")[0] == "x^{2}"
    assert last_boxed("no box")[0] is None
    assert extract_final("\\boxed{2}\n#### 3").text == "3"


def test_infer_kind() -> None:
    assert infer_kind("42") == "numeric"
    assert infer_kind("1,200") == "numeric"
    assert infer_kind("B") == "choice"
    assert infer_kind("\\frac{1}{2}") == "latex"


def test_choice_letter() -> None:
    assert choice_letter("\\textbf{(E)}") == ("E", "")
    assert choice_letter("A, B")[0] is None


def test_parse_number_table() -> None:
    assert parse_number("1,000") == 1000
    assert parse_number("1,00") is None
    assert parse_number("2^3") is None
    assert parse_number("5 or 6") is None
    assert parse_number("x" * 500) is None


def test_numeric_answers_never_reach_sympy() -> None:
    rows = [{"response": f"#### {i}", "gold": str(i)} for i in range(200)]
    verdicts, summary = score_rows(rows, "strict", progress=False)
    assert summary.slow_path == 0 and summary.correct == 200


@pytest.mark.parametrize("pred,gold,correct", [
    ("\\frac{1}{2}", "0.5", True),
    ("\\dfrac{\\sqrt{2}}{2}", "\\frac{\\sqrt2}{2}", True),
    ("x^2+1", "1+x^2", True),
    ("(1, 2)", "(1,2)", True),
    ("x^2-1", "x^2+1", False),
])
def test_latex_equivalence(pred: str, gold: str, correct: bool) -> None:
    assert strict(f"So \\boxed{{{pred}}}.", gold, kind="latex")["correct"] is correct


def test_judge_fast_leaves_hard_latex_to_workers() -> None:
    assert judge_fast("\\boxed{x^2+1}", "1+x^2", "latex") is None


def test_float_golds_are_written_positionally() -> None:
    from abel.scoring.numeric import plain_number

    assert plain_number(2.0107e-06) == "0.0000020107"
    assert plain_number(-9867630.0) == "-9867630"
    verdicts, _ = score_rows([{"response": "#### 0.0000020107", "gold": 2.0107e-06}], "strict", progress=False)
    assert verdicts[0]["correct"]
