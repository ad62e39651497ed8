"""strict mode: each Abel-scorer error fixed, each common scorer pitfall avoided."""

from __future__ import annotations

import pytest

from abel.scoring.runner import score_rows
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
    ("I boxed the eggs, 5 in each box. The answer is 7.", "5", "wrong number"),  # "boxed" in prose
    ("the answer is a number we find next", "A", "no option letter"),  # "answer is a" in prose
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


# One pinned case per defect class of issue #12 (each was a false accept or false reject before).
@pytest.mark.parametrize("gold,pred,correct", [
    # 1. a LaTeX answer holding one number is not that number
    ("\\sqrt{51}", "51", False), ("7\\pi", "7", False), ("y+1", "x+1", False),
    # 2. a minus sign before a LaTeX command counts
    ("\\sqrt{3}", "-\\sqrt{3}", False), ("-\\sqrt{3}", "-\\sqrt{3}", True),
    # 3. TeX shorthand: \\frac43 is 4/3, \\sqrt2 is sqrt(2)
    ("\\frac43", "43", False), ("\\frac43", "\\frac{4}{3}", True), ("\\tfrac12", "0.5", True),
    ("\\sqrt2", "\\sqrt{2}", True), ("\\dfrac{1}{2}", "\\frac12", True),
    # 4. both sides of an equation
    ("x=5", "y=5", False), ("5x-7y+11z+4=0", "x+y+z+1=0", False), ("x=5", "5", True),
    # 5. relations, intervals and \\pm keep their meaning
    ("x>5", "x<5", False), ("(2,\\infty)", "[2,\\infty)", False), ("\\pm 2021", "2021", False),
    ("x \\le 3", "x \\le 3", True),
    # sets are not tuples, and a tuple keeps its order
    ("\\{1,2\\}", "(1,2)", False), ("(1,2)", "2,1", False), ("(1,2)", "(2,1)", False), ("(1,2)", "(1, 2)", True),
    # 9. one tolerance policy: exact for integer golds, relative 1e-6 otherwise
    (".0000672", ".0000673", False), ("\\frac{1}{12}", "0.0833333333333333", True),
    ("\\frac{1}{12}", "0.083333", False), ("10", "9.9999999", False), ("10", "10.0", True),
    ("\\frac{\\sqrt{2}}{2}", "0.7071067811865476", True), ("\\frac{\\sqrt{2}}{2}", "0.7071", False),
    # 10. a gold already in $...$ is read once, not wrapped again
    ("$x=5$", "x=5", True), ("$\\frac{1}{2}$", "0.5", True),
])
def test_defect_classes_latex(gold: str, pred: str, correct: bool) -> None:
    verdict = strict(f"The final answer is $\\boxed{{{pred}}}$", gold, kind="latex")
    assert verdict["correct"] is correct, verdict


def test_defect_class_1_numeric_kind() -> None:
    # a number glued to letters or inside LaTeX is not read out of it (GSM8K-style golds too)
    for pred in ("AZYUK2A", "\\sqrt{2}", "2\\pi", "2x", "2 pi"):
        assert not strict(f"#### {pred}", "2")["correct"], pred
    assert strict("#### The total is 2", "2")["correct"]


def test_defect_class_6_several_boxes_are_one_answer_when_the_gold_has_several_parts() -> None:
    three = "So the solutions are $\\boxed{1}, \\boxed{2}, \\boxed{3}$."
    assert strict(three, "\\{1,2,3\\}", kind="latex")["correct"]
    assert strict(three, "1, 2, 3", kind="latex")["correct"]
    assert not strict(three, "\\{1,2\\}", kind="latex")["correct"]
    # a single-part gold reads the last box, as MATH's own solutions do ("the answers are A and B")
    assert extract_final("x is $\\boxed{3}$ or $\\boxed{\\frac{2}{5}}$.").text == "\\frac{2}{5}"
    assert extract_final("$\\boxed{1}$ and $\\boxed{2}$", multipart=True).text == "1, 2"
    assert extract_final("$\\boxed{1}$. Then $\\boxed{2}$", multipart=True).text == "2"


def test_defect_class_7_headings_are_not_answers_and_a_later_box_wins() -> None:
    assert extract_final("#### Final answer\n$\\boxed{7}$").text == "7"
    assert not strict("#### Step 2: add\nso $\\boxed{7}$", "2")["correct"]
    assert strict("#### Step 2: add\nso $\\boxed{7}$", "7")["correct"]
    assert extract_final("#### Answer: 42").text == "42"
    assert extract_final("The sum is 30. #### 30").text == "30"  # Abel's released style, mid-line
    assert extract_final("\\boxed{2}\n#### 3").text == "3"  # the later mark wins


def test_defect_class_8_final_answer_is_prose() -> None:
    minerva = "Final Answer: The final answer is $\\frac{14}{3}$. I hope it is correct."
    assert extract_final(minerva).text == "\\frac{14}{3}"
    assert strict(minerva, "\\frac{14}{3}", kind="latex")["correct"]
    assert strict("Adding up, the answer is 12.", "12")["correct"]
    assert not strict("Adding up, the answer is 13.", "12")["correct"]


# Found by a review of the change: each was a silent wrong verdict.
@pytest.mark.parametrize("gold,pred,correct", [
    ("2", "2ab", False), ("7ab", "7", False), ("\\frac{1}{2}", "\\frac12 ab", False),  # letters are not units
    ("5", "3+2\\mathrm{i}", False),                                                  # \mathrm{i} is not a unit
    ("12", "1 2", False), ("25", "2\\;5", False), ("-1, 512", "-1512", False),       # spaces are not separators
    ("1000", "1\\,000", True), ("10\\text{ inches}", "10", True), ("12", "12 square units", True),
    ("\\frac{\\sqrt2}{2}", "\\sqrt\\frac{1}{2}", True),
])
def test_review_findings_latex(gold: str, pred: str, correct: bool) -> None:
    assert strict(f"The final answer is $\\boxed{{{pred}}}$", gold, kind="latex")["correct"] is correct


@pytest.mark.parametrize("pred,gold,correct", [
    ("7xy", "7", False), ("5ab", "5", False), ("5 million", "5", False), ("3 thousand", "3", False),
    ("5 squared", "5", False), ("12 dozen", "12", False), ("5!", "5", False), ("5 million", "5000000", False),
    ("5kg", "5", True), ("5 percent", "5", True), ("30 dollars", "30", True),
])
def test_review_findings_numeric(pred: str, gold: str, correct: bool) -> None:
    assert strict(f"#### {pred}", gold)["correct"] is correct


def test_review_findings_extraction() -> None:
    assert extract_final("\\boxed{5} and then \\boxed {6}").text == "6"
    assert extract_final("The answer is **5**.").text == "5"
    assert extract_final("#### **Final Answer**\nThe final answer is 42").text == "42"
    assert extract_final("#### **42**").text == "42"


def test_prose_extraction_is_linear_on_long_whitespace() -> None:
    import time

    start = time.perf_counter()
    extract_final("The answer is x" + " " * 1_000_000 + "y")
    assert time.perf_counter() - start < 1.0
