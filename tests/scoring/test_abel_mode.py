"""abel mode: the Abel paper's scorer, quirks included, on every released row."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abel.io import read_jsonl
from abel.scoring.runner import score_rows
from abel.scoring.legacy import extract
from abel.scoring.minerva import normalize_final_answer

# The paper's published accuracies (Abel README), per released file.
PUBLISHED = {
    ("gsm8k", "7b"): 59.74, ("gsm8k", "13b"): 66.41,
    ("gsm8k_robust", "7b"): 58.23, ("gsm8k_robust", "13b"): 66.57,
}


def _regex_extract(response: str) -> str:
    """Abel's original extraction, verbatim in behaviour (quadratic on adversarial text)."""
    text = response.split("Question")[0] if "Question" in response else response
    preds = re.findall("#### (.*)$", text)
    pred = preds[-1] if preds else ""
    return pred[:-4] if "</s>" in pred else pred


@given(st.text(alphabet="#\n ab5Q</s>uestion", max_size=60))
@settings(max_examples=400, deadline=None)
def test_linear_extract_equals_abel_regex(text: str) -> None:
    assert extract(text) == _regex_extract(text)


@pytest.mark.parametrize("response", [
    "a\n#### 5", "#### 5\n", "#### 5\n\n", "#### 1\n#### 2", "x #### 3 #### 4", "#### 7</s>",
    "#### 9\nQuestion: next", "no marker", "#### ", "####5", "#### 10.\n",
])
def test_extract_examples(response: str) -> None:
    assert extract(response) == _regex_extract(response)


@pytest.mark.parametrize("pred,gold,correct", [
    ("10.", "10", False),      # sympy 1.12 + antlr4 4.11 parse "10." as 1
    ("10.", "1", True),
    ("528.", "528", False),    # ... and "528." as 5*2
    ("528.", "10", True),
    ("45.", "4", True),
    ("30", "30", True),
    ("\\frac{1}{2}", "0.5", True),
    ("1,000", "1000", True),
    ("-$38,000", "-38000", True),
])
def test_abel_quirks(pred: str, gold: str, correct: bool) -> None:
    rows = [{"response": f"Step.\n#### {pred}", "gold": gold}]
    verdicts, _ = score_rows(rows, "abel", progress=False)
    assert verdicts[0]["correct"] is correct


def test_minerva_normalization_examples() -> None:
    assert normalize_final_answer("\\$1,000") == "1000"
    assert normalize_final_answer("x = \\boxed{5}") == "5"
    assert normalize_final_answer("40\\%") == "40%"
    assert normalize_final_answer("5 dollars") == "5"
    # the greedy \boxed{(.*)} of the original spec, as seen in the released 7B file (row 953)
    assert normalize_final_answer("\\boxed{7 \\frac{32}{60}} on her bed.  #### 7 \\frac{32}{60}") == (
        "7\\frac{32}{60}}onherbed.####7\\frac{32}{60"
    )


def test_abel_mode_agrees_with_every_stored_result(released_files) -> None:
    assert released_files
    for path in released_files:
        rows = read_jsonl(path)
        # the scorer must not see the stored verdicts
        blind = [{"response": r["response"], "gold": r["gold"]} for r in rows]
        verdicts, summary = score_rows(blind, "abel", progress=False)
        mismatched = [r["id"] for r, v in zip(rows, verdicts) if v["correct"] != r["result"]]
        assert mismatched == [], f"{path}: abel mode disagrees with the stored result on ids {mismatched[:20]}"
        pred_mismatch = [r["id"] for r, v in zip(rows, verdicts) if v["pred"] != r["pred"]]
        assert pred_mismatch == [], f"{path}: normalized pred differs on ids {pred_mismatch[:20]}"
        assert summary.timeouts == 0
        key = (path.parent.name, path.stem)
        if key in PUBLISHED:
            assert round(100 * summary.accuracy, 2) == PUBLISHED[key]
