"""Numeric answers (GSM8K family): exact rational parsing, no sympy, no eval.

``parse_number`` reads what a grader would accept as one number: ``1,234``, ``$1,234.50``,
``-$38,000``, ``55.50``, ``3/4``, ``\\frac{3}{4}``, ``7\\frac{1}{2}``, ``40\\%``, ``0.5 hours``,
``twelve``. It refuses what is not one number (``5 or 6``, ``12:00``, ``2^3``), and the answer is
then wrong rather than guessed. Equality is exact (``fractions.Fraction``); only a gold written
with more than six decimals (a float, as in GSM-Hard) is compared with a 1e-6 relative tolerance.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_ANSWER_CHARS = 200  # longer "numbers" are not answers; keeps every step here cheap

_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}

_NUM = r"\d+(?:\.\d+)?|\.\d+"
_SEP_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # thousands separators
_NUMBER = re.compile(rf"(-)?\s*({_SEP_NUM}|{_NUM})")
_LATEX_FRAC = re.compile(r"(-)?\s*(\d+)?\s*\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox|boxed)\s*\{([^{}]*)\}")
_UNIT_TAIL = re.compile(r"(?<=[\d.])\s*[A-Za-z][A-Za-z .'/]*$")
_WORD_TOKENS = re.compile(r"[a-z]+")


def _clean(text: str) -> str:
    text = text.strip()
    if "=" in text:  # "5 + 3 = 8": the value is the last side
        text = text.rsplit("=", 1)[1]
    for _ in range(3):  # \boxed{\text{...}} nests at most a few levels in practice
        text = _TEXT_WRAP.sub(r"\1", text)
    for old, new in (("\\$", ""), ("$", ""), ("\\%", ""), ("%", ""), ("\\!", ""), ("{,}", ","),
                     ("\\,", ""), ("\u2212", "-"), ("\\left", ""), ("\\right", "")):
        text = text.replace(old, new)
    text = text.strip().rstrip(".").strip()
    # a trailing unit or word ("30 dollars", "5 hours per day"): cut it; prose before the number stays
    text = _UNIT_TAIL.sub("", text).strip()
    while len(text) >= 2 and (text[0], text[-1]) in (("{", "}"), ("(", ")")) and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch in "({") - (ch in ")}")
        if depth < 0:
            return False
    return depth == 0


def _parse_words(text: str) -> Fraction | None:
    tokens = _WORD_TOKENS.findall(text.lower().replace("-", " "))
    if not tokens or any(t not in _WORDS and t not in _SCALES and t != "and" for t in tokens):
        return None
    total = current = 0
    seen = False
    for token in tokens:
        if token in _WORDS:
            current += _WORDS[token]
            seen = True
        elif token in _SCALES:
            current = max(current, 1) * _SCALES[token]
            if _SCALES[token] >= 1000:
                total, current = total + current, 0
            seen = True
    return Fraction(total + current) if seen else None


def parse_number(text: str) -> Fraction | None:
    """One number from a final answer, or None if it is not exactly one number."""
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = _clean(text)
    if not cleaned:
        return None
    frac = _LATEX_FRAC.fullmatch(cleaned)
    if frac:
        sign, whole, num, den = frac.groups()
        if int(den) == 0:
            return None
        value = Fraction(int(whole or 0)) + Fraction(int(num), int(den))
        return -value if sign else value
    if "/" in cleaned:
        parts = cleaned.split("/")
        if len(parts) == 2:
            a, b = parse_number(parts[0]), parse_number(parts[1])
            if a is not None and b is not None and b != 0 and a.denominator == 1 == b.denominator:
                return a / b
        return None
    match = _NUMBER.fullmatch(cleaned)
    if match is None:
        # lead-in prose around exactly one number ("The total is 30"): that number is the answer;
        # two or more numbers ("5 or 6", "12:00") stay ambiguous and are refused
        found = list(_NUMBER.finditer(cleaned))
        if len(found) == 1 and sum(ch.isdigit() for ch in cleaned) == len(re.sub(r"\D", "", found[0].group(0))):
            match = found[0]
    if match:
        sign, digits = match.groups()
        value = Fraction(digits.replace(",", ""))
        return -value if sign else value
    return _parse_words(cleaned)


def plain_number(value: float | int) -> str:
    """A number as positional digits (never ``2e-06``): the shortest repr, expanded."""
    from decimal import Decimal

    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def numbers_equal(pred: Fraction, gold: Fraction, gold_text: str = "") -> bool:
    if pred == gold:
        return True
    decimals = gold_text.split(".", 1)[1] if "." in gold_text else ""
    if len(decimals.rstrip("0")) > 6:  # a float written out in full: allow float noise only
        return abs(pred - gold) <= Fraction(1, 10**6) * max(abs(gold), 1)
    return False
