"""The strict mode: our scorer, which fixes the abel scorer's known misreads.

Answer kinds:
- ``numeric``: exact rational comparison in the calling process (``numeric.py``), no sympy.
- ``choice``: one option letter; a hedge (``A,B``, ``A or B``) is wrong.
- ``latex``: a plain number on both sides (``numeric.parse_plain``) is decided by the tolerance
  policy; identical strings after removing spacing commands are equal; everything else goes to
  math-verify (sympy), which only ever runs inside a time-limited worker process
  (``latex_equivalent``), with signs, ``\\pm``, relation direction, interval brackets, sets vs
  tuples and both sides of equations respected, and with numbers compared by the same policy.

``judge_fast`` decides everything it can without sympy and returns None for the rest.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from abel.scoring.extract import extract_final, shape, strip_dollars
from abel.scoring.numeric import GROUP_SPACE, REL_TOL, expand_shorthand, numbers_equal, parse_number, parse_plain

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


_DIGIT_GAP = re.compile(r"(?<=\d)(?:\s|\\[,;:! ])+(?=\d)")


def _normalize_latex(text: str) -> str:
    """Spacing and sizing commands removed: equal results mean the same answer, written alike."""
    text = expand_shorthand(strip_dollars(text))
    # spacing between two digits separates numbers ("1 2" is not 12), except a thin space before a
    # group of three (1\,000): keep such a gap visible before spaces are dropped
    text = _DIGIT_GAP.sub("\u2423", GROUP_SPACE.sub("", text))
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""),
                     ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac")):
        text = text.replace(old, new)
    # spaces go, except the one that ends a command name before a letter (\\pi r is not \\pir)
    text = re.sub(r"(\\[A-Za-z]+) +(?=[A-Za-z])", r"\1{}", text)
    return text.replace(" ", "").rstrip(".")


def judge_fast(response: str, gold: str, kind: Kind | None = None) -> Verdict | None:
    """Verdict without sympy, or None when only the LaTeX equivalence check can decide."""
    kind = kind or infer_kind(gold)
    extraction = extract_final(response, multipart=kind == "latex" and shape(gold) in ("list", "set"))
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
        ok = numbers_equal(value, gold_value)
        return Verdict(ok, pred, "" if ok else "wrong number")
    # latex: the number fast path only when both sides are plain numbers and nothing else
    value, gold_value = parse_plain(pred), parse_plain(gold)
    if value is not None and gold_value is not None:
        ok = numbers_equal(value, gold_value)
        return Verdict(ok, pred, "" if ok else "wrong number")
    if _normalize_latex(pred) == _normalize_latex(gold):
        return Verdict(True, pred, "")
    return None


def _policy_numeric_eq(original):  # type: ignore[no-untyped-def]
    """math-verify's numeric comparison, with our tolerance policy wherever a float meets a number
    (math-verify would round both to 6 decimals). The gold comes first, as math-verify passes it."""
    from sympy import Abs, Float, Number, Rational
    from math_verify.grader import get_pct_val, is_atomic_or_pct_atomic, safe_sympy_doit

    tol = Rational(REL_TOL.numerator, REL_TOL.denominator)

    def numeric_eq(a, b, float_rounding, numeric_precision):  # type: ignore[no-untyped-def]
        if is_atomic_or_pct_atomic(a, Float) or is_atomic_or_pct_atomic(b, Float):
            gold, pred = safe_sympy_doit(get_pct_val(a, a)), safe_sympy_doit(get_pct_val(b, b))
            try:
                if gold.is_number and pred.is_number:
                    g, p = gold.evalf(40), pred.evalf(40)
                    if g.is_real and p.is_real and g.is_finite and p.is_finite:
                        if isinstance(gold, Number) and Rational(gold).q == 1:  # an integer gold: exact
                            return bool(abs(p - g) <= Float("1e-30"))
                        return bool(Abs(p - g) <= tol * Abs(g))
            except (TypeError, ValueError, ArithmeticError, AttributeError):
                pass
        return original(a, b, float_rounding, numeric_precision)

    return numeric_eq


def install_tolerance_policy() -> None:
    """Make math-verify compare numbers by ``numeric.numbers_equal``'s policy (worker-side, once)."""
    from math_verify import grader

    if not getattr(grader.sympy_numeric_eq, "_abel_policy", False):
        patched = _policy_numeric_eq(grader.sympy_numeric_eq)
        patched._abel_policy = True  # type: ignore[attr-defined]
        grader.sympy_numeric_eq = patched


# A unit after a value: a \text{...} word of two or more letters (``10\text{ inches}``, ``5\text{ cm}^2``),
# or, after a space, a plain unit word from math-verify's list of three or more letters or a common
# two-letter unit (``10 inches``, ``5 cm``). math-verify's own unit removal is off: it strips single
# letters and pairs that are mathematics (``4t`` -> 4, ``6+9c`` -> 6+9, ``2ab`` -> 2), accepting wrong
# answers; \text{i} and \mathrm{e} stay numbers.
_TEXT_UNIT = re.compile(r"(?<=[\d}\s])\s*\\(?:text|textnormal|mbox|mathrm)\s*\{\s*[A-Za-z]{2}[A-Za-z .]*\}(?:\^\{?[23]\}?)?\s*$")
_SHORT_UNITS = ("cm", "mm", "km", "kg", "ft", "lb", "oz", "ml", "mi", "gm", "hr")


@functools.lru_cache(maxsize=1)
def _word_unit() -> re.Pattern[str]:
    from latex2sympy2_extended.math_normalization import units

    words = sorted({u for u in units if re.fullmatch(r"[a-z]{3,}", u)} | set(_SHORT_UNITS), key=len, reverse=True)
    return re.compile(rf"(?<=[\d}}])\s+(?:(?:square|cubic|sq)\s+)?(?:{'|'.join(words)})(?:s|es)?\s*$")


def strip_units(text: str) -> str:
    """The value without a trailing unit, when something is left (``10\\text{ inches}`` -> ``10``).
    Worker-side (reads math-verify's unit list)."""
    for pattern in (_TEXT_UNIT, _word_unit()):
        stripped = pattern.sub("", text).strip()
        if stripped:
            text = stripped
    return text


def latex_equivalent(pred: str, gold: str) -> bool:
    """math-verify equivalence of two LaTeX answers. Worker-side only (imports sympy)."""
    from latex2sympy2_extended.math_normalization import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    install_tolerance_policy()
    gold, pred = (strip_units(expand_shorthand(strip_dollars(t))) for t in (gold, pred))
    gold_shape, pred_shape = shape(gold), shape(pred)
    if {gold_shape, pred_shape} == {"set", "tuple"}:
        return False  # a set is not an ordered tuple (math-verify lets them match)
    if gold_shape == "tuple" and pred_shape == "list":
        pred = f"({pred})"  # a bare list against an ordered gold is read in order, not as a set
    normalization = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True,
                                        boxed="all", equations=False)
    config = [LatexExtractionConfig(boxed_match_priority=0, normalization_config=normalization), ExprExtractionConfig()]
    # math-verify's own signal-based timeouts are off: the worker pool enforces the limit.
    gold_parsed = parse(f"${gold}$", extraction_config=config, parsing_timeout=None)
    pred_parsed = parse(f"${pred}$", extraction_config=config, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def judge_slow(response: str, gold: str) -> tuple[bool, str | None, str]:
    """The LaTeX path for what ``judge_fast`` left undecided. Worker-side."""
    pred = extract_final(response, multipart=shape(gold) in ("list", "set")).text or ""
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
