"""Numeric answers (GSM8K family): exact rational parsing, no sympy, no eval.

``parse_number`` reads what a grader would accept as one number: ``1,234``, ``$1,234.50``,
``-$38,000``, ``55.50``, ``3/4``, ``\\frac{3}{4}``, ``7\\frac{1}{2}``, ``40\\%``, ``0.5 hours``,
``twelve``. It refuses what is not one number (``5 or 6``, ``12:00``, ``2^3``, ``\\sqrt{51}``,
``7\\pi``, ``AZYUK2A``), and the answer is then wrong rather than guessed.

``parse_plain`` is the narrow reader for LaTeX answers: it accepts only a plain number (integer,
decimal, simple fraction ``\\frac{a}{b}`` / ``\\frac43`` / ``a/b``, percentage, degrees, thousands
separators, currency) and nothing around it; everything else is math-verify's to decide.

One tolerance policy (``numbers_equal``), used here and inside math-verify's numeric comparison
(``strict.py``): an integer gold needs the exact value; any other gold accepts a relative error of
at most 1e-6 (``|pred - gold| <= 1e-6 * |gold|``), so ``0.0833333333333333`` is ``\\frac{1}{12}``
but ``0.083333`` is not, and ``.0000673`` is not ``.0000672``.
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
# TeX reads one token per argument (a character or a control word): \frac43 is 4/3, \frac \pi4 is
# pi/4 and \sqrt2 is sqrt(2), never 43 or 2. (\fracab is not shorthand: it is a command named fracab.)
_ARG = (r"(\\(?!(?:[dt]?frac|sqrt|[dt]?binom|text\w*|math\w*|operatorname|left|right|boxed|overline|underline|"
        r"hat|bar|vec|tilde|dot|ddot)(?![A-Za-z]))[A-Za-z]+|[A-Za-z0-9]|\{[^{}]*\})")
_FRAC_SHORTHAND = re.compile(rf"\\([dt]?frac)(?![A-Za-z])\s*{_ARG}\s*{_ARG}")
_SQRT_OF_FRAC = re.compile(r"\\sqrt\s*(\\[dt]?frac\s*\{[^{}]*\}\s*\{[^{}]*\})")
_SQRT_SHORTHAND = re.compile(rf"\\sqrt(?![A-Za-z])\s*{_ARG}")
# the words a unit tail may not start with: they are mathematics, not units ("7 pi" is not 7)
_MATH_WORDS = frozenset({"pi", "sqrt", "ln", "log", "sin", "cos", "tan", "cot", "sec", "csc", "exp", "arcsin",
                         "arccos", "arctan", "infty", "cdot", "times", "frac", "dfrac", "tfrac", "mod", "pmod"})
REL_TOL = Fraction(1, 10**6)
_NOT_UNITS = frozenset({"hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions",
                        "trillion", "dozen", "dozens", "score", "squared", "cubed", "halves", "half", "thirds", "third",
                        "quarters", "quarter", "fourths", "fifths", "tenths", "hundredths", "factorial"})
_GLUED_UNITS = frozenset({"kg", "cm", "mm", "km", "ml", "lb", "lbs", "oz", "ft", "mph", "hr", "hrs", "min", "mins",
                          "sec", "secs", "pm", "am"})
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox|boxed)\s*\{([^{}]*)\}")
_UNIT_TAIL = re.compile(r"(?<=[\d.])\s*([A-Za-z]+)[A-Za-z .'/]*$")
# prose allowed around a lone number: words, spaces and light punctuation (no LaTeX, no operators)
_PROSE = re.compile(r"[A-Za-z\s:;,']*")
_WORD_TOKENS = re.compile(r"[a-z]+")
_WORD_TOKENS_ANY = re.compile(r"[A-Za-z]+")


def expand_shorthand(text: str) -> str:
    """``\\frac43`` -> ``\\frac{4}{3}``, ``\\frac \\pi4`` -> ``\\frac{\\pi}{4}``, ``\\sqrt2`` -> ``\\sqrt{2}``:
    every unbraced TeX argument braced."""
    if "\\" not in text:
        return text
    text = _SQRT_OF_FRAC.sub(r"\\sqrt{\1}", text)  # \sqrt\frac{1}{2}: the fraction is the argument
    text = _FRAC_SHORTHAND.sub(lambda m: f"\\{m.group(1)}{_braced(m.group(2))}{_braced(m.group(3))}", text)
    return _SQRT_SHORTHAND.sub(lambda m: f"\\sqrt{_braced(m.group(1))}", text)


def _braced(arg: str) -> str:
    return arg if arg.startswith("{") else "{" + arg + "}"


def _cut_unit(match: re.Match[str]) -> str:
    word, glued = match.group(1), not match.group(0)[:1].isspace()
    # a unit is a word of two or more letters, after a space unless it is a common short unit ("5kg"),
    # that is neither mathematics ("7 pi", "7xy") nor a scale or power ("5 million", "5 squared")
    if len(word) < 2 or word.lower() in _MATH_WORDS or word.lower() in _NOT_UNITS or (glued and word.lower() not in _GLUED_UNITS):
        return match.group(0)
    return ""


def _clean(text: str) -> str:
    text = expand_shorthand(text.strip())
    if "=" in text:  # "5 + 3 = 8": the value is the last side
        text = text.rsplit("=", 1)[1]
    for _ in range(3):  # \boxed{\text{...}} nests at most a few levels in practice
        text = _TEXT_WRAP.sub(r"\1", text)
    for old, new in (("\\$", ""), ("$", ""), ("\\%", ""), ("%", ""), ("\\!", ""), ("{,}", ","),
                     ("\\,", ""), ("\u2212", "-"), ("\\left", ""), ("\\right", "")):
        text = text.replace(old, new)
    text = text.strip().rstrip(".").strip()
    # a trailing unit or word ("30 dollars", "5 hours per day"): cut it; prose before the number stays
    text = _UNIT_TAIL.sub(_cut_unit, text).strip()
    while len(text) >= 2 and (text[0], text[-1]) in (("{", "}"), ("(", ")")) and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _is_prose(text: str) -> bool:
    """Words around a lone number: no LaTeX, no operators, no variable or mathematical word."""
    if not _PROSE.fullmatch(text):
        return False
    return not any((len(w) == 1 and w not in "aAI") or w.lower() in _MATH_WORDS or w.lower() in _NOT_UNITS
                   for w in _WORD_TOKENS_ANY.findall(text))


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch in "({") - (ch in ")}")
        if depth < 0:
            return False
    return depth == 0


def _parse_words(text: str) -> Fraction | None:
    if any(ch.isdigit() for ch in text):  # "5 million" is not "million": words only
        return None
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
        # two or more numbers ("5 or 6", "12:00") stay ambiguous and are refused, and so is a number
        # inside mathematics or glued to letters ("\\sqrt{51}", "7\\pi", "AZYUK2A", "-\\sqrt{3}")
        found = list(_NUMBER.finditer(cleaned))
        if len(found) == 1:
            at = found[0].start(1) if found[0].group(1) else found[0].start(2)
            before, after = cleaned[:at], cleaned[found[0].end():]
            glued = before[-1:].isalnum() or after[:1].isalnum()
            if not glued and _is_prose(before) and _is_prose(after.rstrip(".")):
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


def numbers_equal(pred: Fraction, gold: Fraction) -> bool:
    """The tolerance policy: exact for an integer gold, else relative error at most ``REL_TOL``."""
    if pred == gold:
        return True
    if gold.denominator == 1:
        return False
    return abs(pred - gold) <= REL_TOL * abs(gold)


_PLAIN_DECIMAL = re.compile(r"([-+])?(?:\\?\$)?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(%|\^\{?\\circ\}?)?")
_PLAIN_FRAC = re.compile(r"(-)?\\[dt]?frac\{(-?\d+)\}\{(\d+)\}")
_PLAIN_SLASH = re.compile(r"(-)?(\d+)/(\d+)")
GROUP_SPACE = re.compile(r"(?<=\d)\\[,!](?=\d{3}(?!\d))")
# spacing allowed only next to a sign, a currency sign, % or degrees: "- 5", "\$ 12", "40 \%"
_EDGE_SPACE = re.compile(r"(?<=^[-+])\s+|(?<=\$)\s+|\s+(?=%$|\^)")


def parse_plain(text: str) -> Fraction | None:
    """A LaTeX answer's value when it is a plain number and nothing else, or None.

    Plain: ``42``, ``-3.5``, ``.5``, ``1,000`` / ``1{,}000`` / ``1,\\!000``, ``\\$12.50``,
    ``40\\%``, ``90^\\circ``, ``\\frac{3}{4}`` / ``\\dfrac34`` / ``-\\frac{1}{2}``, ``3/4``;
    wrapped in ``$...$`` or ``\\left(``...\\right)`` spacing at most. Not plain (None): anything
    with a symbol, operator, root, constant, unit or second number (``7\\pi``, ``\\sqrt{2}``,
    ``x=5``, ``7\\frac{1}{2}``, ``(1,2)``): those are math-verify's.
    """
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    t = expand_shorthand(text.strip().strip("$").strip())
    for old, new in (("{,}", ","), (",\\!", ","), ("\\%", "%"), ("\u2212", "-")):
        t = t.replace(old, new)
    # a thin space may separate digit groups (1\,000); any other space, or a space-like command, between
    # digits makes it not one plain number ("1 2", "2\;5", the list "-1, 512")
    t = GROUP_SPACE.sub("", t)
    t = _EDGE_SPACE.sub("", t.strip()).rstrip(".")  # any space left fails the patterns below
    if (m := _PLAIN_DECIMAL.fullmatch(t)) is not None:
        value = Fraction(m.group(2).replace(",", ""))
        return -value if m.group(1) == "-" else value
    if (m := _PLAIN_FRAC.fullmatch(t) or _PLAIN_SLASH.fullmatch(t)) is not None:
        num, den = int(m.group(2)), int(m.group(3))
        if den == 0:
            return None
        value = Fraction(num, den)
        return -value if m.group(1) else value
    return None
