"""The strict mode: our scorer, which fixes the abel scorer's known misreads.

Answer kinds:
- ``numeric``: exact rational comparison in the calling process (``numeric.py``), no sympy.
- ``choice``: one option letter; a hedge (``A,B``, ``A or B``) is wrong.
- ``latex``: string-normalized equality first, then numbers, then math-verify (sympy), which only
  ever runs inside a time-limited worker process (``latex_equivalent``).

``judge_fast`` decides everything it can without sympy and returns None for the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from abel.scoring.extract import extract_final
from abel.scoring.numeric import numbers_equal, parse_number

Kind = Literal["numeric", "latex", "choice"]

_LETTERS = "ABCDEFGHIJ"
_CHOICE = re.compile(r"\(?\s*([A-J])\s*\)?")
_CHOICE_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|boxed)\s*\{([^{}]*)\}")
# "The answer is (B)" / "answer is B." -- case-sensitive letter, so "the answer is a number" is prose.
_ANSWER_IS = re.compile(r"answer is:?\s*\(?([A-J])\)?\s*(?:[.:;,]|$)", re.MULTILINE)
_GOLD_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    pred: str | None
    reason: str  # "" when correct; otherwise why it was judged wrong


def infer_kind(gold: str) -> Kind:
    gold = gold.strip()
    if len(gold) == 1 and gold.upper() in _LETTERS:
        return "choice"
    if _GOLD_NUMBER.fullmatch(gold):
        return "numeric"
    return "latex"


def choice_letter(answer: str) -> tuple[str | None, str]:
    text = answer.strip()
    for _ in range(3):
        text = _CHOICE_WRAP.sub(r"\1", text)
    text = text.replace("$", "").strip().rstrip(".").strip()
    match = _CHOICE.fullmatch(text)
    if match:
        return match.group(1), ""
    # "B) 24" / "(B) 24": a letter label followed by the option's text
    lead = re.match(r"\(?([A-J])\)[\s.:]", text + " ")
    if lead and not re.search(r"\b[A-J]\b", text[lead.end():]):
        return lead.group(1), ""
    letters = set(re.findall(r"\b([A-J])\b", text))
    if len(letters) > 1:
        return None, f"hedged between options {','.join(sorted(letters))}"
    return None, "no option letter"


def _normalize_latex(text: str) -> str:
    text = text.strip().strip("$").strip()
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""),
                     ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("^\\circ", ""), ("^{\\circ}", ""),
                     ("\\%", ""), ("\\$", ""), (" ", "")):
        text = text.replace(old, new)
    text = re.sub(r"\\text\{\s*\}", "", text)
    return text.rstrip(".")


def judge_fast(response: str, gold: str, kind: Kind | None = None) -> Verdict | None:
    """Verdict without sympy, or None when only the LaTeX equivalence check can decide."""
    kind = kind or infer_kind(gold)
    extraction = extract_final(response)
    pred = extraction.text
    if kind == "choice":
        letter, why = choice_letter(pred) if pred is not None else (None, extraction.note)
        if letter is None and not why.startswith("hedged"):
            # no letter where the final answer goes: an explicit "answer is (X)" near the end counts
            match = _ANSWER_IS.search(response[-2000:])
            letter = match.group(1) if match else None
        if letter is None:
            return Verdict(False, pred, why)
        ok = letter == gold.strip().upper()
        return Verdict(ok, letter, "" if ok else "wrong option")
    if pred is None:
        return Verdict(False, None, extraction.note)
    if kind == "numeric":
        value, gold_value = parse_number(pred), parse_number(gold)
        if gold_value is None:
            raise ValueError(f"gold {gold!r} is not a number (answer kind 'numeric')")
        if value is None:
            return Verdict(False, pred, "not a single number")
        ok = numbers_equal(value, gold_value, gold.replace(",", ""))
        return Verdict(ok, pred, "" if ok else "wrong number")
    # latex
    if _normalize_latex(pred) == _normalize_latex(gold):
        return Verdict(True, pred, "")
    value, gold_value = parse_number(pred), parse_number(gold)
    if value is not None and gold_value is not None:
        ok = numbers_equal(value, gold_value, gold)
        return Verdict(ok, pred, "" if ok else "wrong number")
    return None


def latex_equivalent(pred: str, gold: str) -> bool:
    """math-verify equivalence of two LaTeX answers. Worker-side only (imports sympy)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    # math-verify's own signal-based timeouts are off: the worker pool enforces the limit.
    gold_parsed = parse(f"${gold}$", extraction_config=config, parsing_timeout=None)
    pred_parsed = parse(f"${pred}$", extraction_config=config, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def judge_slow(response: str, gold: str) -> tuple[bool, str | None, str]:
    """The LaTeX path for what ``judge_fast`` left undecided. Worker-side."""
    pred = extract_final(response).text or ""
    ok = latex_equivalent(pred, gold)
    return ok, pred, "" if ok else "not equivalent"


def canonical_answer(response: str, kind: Kind) -> object | None:
    """A hashable key for the response's final answer, equal for answers strict mode calls equal
    without sympy (for majority voting): a Fraction, an option letter or normalized LaTeX."""
    pred = extract_final(response).text
    if pred is None:
        return None
    if kind == "choice":
        return choice_letter(pred)[0]
    value = parse_number(pred)
    if value is not None:
        return value
    return None if kind == "numeric" else _normalize_latex(pred)
