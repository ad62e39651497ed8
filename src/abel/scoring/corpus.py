"""A labelled corpus of (gold, response) pairs for testing a LaTeX math-answer grader.

What it is
    A deterministic generator: from the MATH test set (``math/test.jsonl``, 5000 problems) it takes
    each gold answer (the content of the last ``\\boxed{...}`` of the reference solution) and
    rewrites it into an answer ``R`` that is either the *same* mathematical answer written
    differently (``equivalent=True``) or a *near miss* that is a different answer
    (``equivalent=False``). ``R`` is then embedded in a model-style response (mostly
    "...\\nThe final answer is $\\boxed{R}$", some Minerva-style "Final Answer: The final answer is
    $R$. I hope it is correct." and some "So the answer is \\boxed{R}."). The corpus measures a
    grader's recall (equivalent rows accepted) and false-accept rate (wrong rows accepted), and
    lets two graders be compared on identical inputs.

    The corpus is never committed: it is generated from the shared MATH data at test time
    (``build_corpus``), or written to a file for a benchmark with
    ``python -m abel.scoring.corpus --data-dir DIR --out FILE.jsonl [--seed 0] [--size 2400]``.

How labels are constructed
    Each rewrite kind is a small, purely syntactic transformation that applies only to golds whose
    shape makes the outcome certain; anything outside that shape is skipped, never guessed.

    Equivalent kinds: ``identity`` (R = gold, ~10% of the equivalent rows), ``frac_style``
    (``\\frac`` <-> ``\\dfrac``/``\\tfrac``, ``\\frac{4}{3}`` <-> ``\\frac43``, ``\\sqrt{2}`` ->
    ``\\sqrt2``), ``slash_fraction`` (``\\frac{3}{4}`` -> ``3/4``), ``decimal`` (terminating
    fraction -> exact decimal, ``n`` -> ``n.0``), ``thousands`` (``12345`` <-> ``12,345`` /
    ``12{,}345``), ``spacing`` (spaces, ``\\,``, ``\\!``, ``\\left( ... \\right)``),
    ``reorder_sum`` (terms of a top-level sum permuted, signs carried), ``reorder_set`` (elements
    of ``\\{...\\}`` or of a comma list that the problem says is unordered, e.g. "Enter all the
    solutions, separated by commas", permuted) and ``value`` (``n`` -> ``\\frac{kn}{k}``,
    ``\\frac{a}{b}`` -> ``\\frac{ka}{kb}``).

    Wrong kinds: ``sign_flip``, ``digit_change``, ``interval_end`` (one finite endpoint of an
    interval opened/closed), ``bare_number`` (one number literal of a non-numeric gold such as
    ``7\\pi``), ``tuple_reversed``, ``relation_flip``, ``pm_dropped``, ``variable_renamed`` and
    ``part_dropped`` (one part of a comma list removed).

How labels are validated
    Every selected candidate is checked with sympy, through ``latex2sympy2_extended`` (not
    math-verify, and no grader of this package): gold and R are split into their structure
    (comma lists, tuples/intervals with their brackets, ``\\cup`` unions, sets), each element is
    parsed and evaluated numerically at two fixed points for all free symbols (exact rationals,
    50 digits), and the two structures are compared.

    * An equivalent row is dropped when the evaluation shows a difference (a construction bug;
      the CLI reports the count, expected 0). When nothing can be evaluated it is kept: its
      construction is the guarantee.
    * A wrong row is kept only when the evaluation shows a difference, or when the evaluation
      is impossible and the construction itself guarantees a different object (``interval_end``,
      ``relation_flip``, ``tuple_reversed`` with differing elements, ``variable_renamed`` of a
      variable the gold contains, ``part_dropped`` with distinct parts). A wrong row that
      evaluates equal to the gold is always dropped.

    Parsing is guarded: golds longer than 60 characters or with huge exponents are not
    evaluated, and each parse/evaluation runs under a 1.5 s alarm (main thread only).

Determinism
    Rows depend only on the data file and ``seed``: the data is read in file order, all random
    choices come from ``random.Random`` seeded by strings derived from ``seed`` (stable across
    processes, unlike ``hash``), and no set or dict iteration order is relied upon.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from abel.scoring.extract import last_boxed

EQUIVALENT_KINDS = (
    "identity",
    "frac_style",
    "slash_fraction",
    "decimal",
    "thousands",
    "spacing",
    "reorder_sum",
    "reorder_set",
    "value",
)
WRONG_KINDS = (
    "sign_flip",
    "digit_change",
    "interval_end",
    "bare_number",
    "tuple_reversed",
    "relation_flip",
    "pm_dropped",
    "variable_renamed",
    "part_dropped",
)
KINDS = EQUIVALENT_KINDS + WRONG_KINDS
# Wrong kinds whose construction alone guarantees a different answer, kept when sympy cannot
# evaluate them (but still dropped if sympy finds them equal).
_GUARANTEED_WRONG = frozenset({"interval_end", "relation_flip", "tuple_reversed", "variable_renamed", "part_dropped"})
IDENTITY_SHARE = 0.10  # of the equivalent rows

# --------------------------------------------------------------------------------------------
# Small LaTeX scanning helpers (linear, no backtracking)
# --------------------------------------------------------------------------------------------

_TEXT_CMDS = ("\\text", "\\mbox", "\\textbf", "\\textit", "\\mathrm", "\\operatorname", "\\textnormal")
_INT = re.compile(r"-?(?:0|[1-9]\d*)")
_DECIMAL = re.compile(r"-?\d*\.\d+")
# \frac{a}{b}, \dfrac{a}{b}, \tfrac{a}{b}, \frac43, \frac{4}3, \frac4{3}, with an optional leading -
_NUM_FRAC = re.compile(r"(-?)\\[dt]?frac\s*(?:\{\s*(-?\d+)\s*\}|(\d))\s*(?:\{\s*(\d+)\s*\}|(\d))")
_THOUSANDS = re.compile(r"(\\\$)?(-?)(\d{1,3}(?:(?:,|\{,\})(?:\\!)?\s*\d{3})+)(\.\d+)?")
# a comma list that could be a thousands-separated number ("1,000", "1, 000", "111, \! 111")
_THOUSANDS_LOOSE = re.compile(r"-?\d{1,3}(?:\s*(?:,|\{,\})\s*(?:\\!)?\s*\d{3})+(?:\.\d+)?")
_RELATION = re.compile(r"<|>|\\(?:leq|geq|le|ge|lt|gt|leqslant|geqslant)(?![a-zA-Z])")
_FLIP_REL = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le", "\\leq": "\\geq", "\\geq": "\\leq",
             "\\lt": "\\gt", "\\gt": "\\lt", "\\leqslant": "\\geqslant", "\\geqslant": "\\leqslant"}
_PM = re.compile(r"\\(?:pm|mp)(?![a-zA-Z])")


def _has_text(s: str) -> bool:
    return any(cmd in s for cmd in _TEXT_CMDS)


def _match_brace(s: str, open_at: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_at`` (escaped braces skipped), or -1."""
    depth = 0
    i = open_at
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _text_mask(s: str) -> list[bool]:
    """True for characters inside a ``\\text{...}``-like group (command name included)."""
    mask = [False] * len(s)
    i = 0
    while i < len(s):
        if s[i] == "\\":
            m = re.match(r"\\[a-zA-Z]+", s[i:])
            if m and m.group(0) in _TEXT_CMDS:
                j = i + len(m.group(0))
                while j < len(s) and s[j] == " ":
                    j += 1
                if j < len(s) and s[j] == "{":
                    end = _match_brace(s, j)
                    end = len(s) - 1 if end < 0 else end
                    for k in range(i, end + 1):
                        mask[k] = True
                    i = end + 1
                    continue
            i += len(m.group(0)) if m else 2
            continue
        i += 1
    return mask


def _scan(s: str) -> Iterator[tuple[int, str, int]]:
    """Yield (index, token, depth) for the significant characters of ``s``.

    Tokens: single characters, ``\\cmd`` command names and escaped characters (``\\{``, ``\\,``).
    ``depth`` counts every open bracket (``{ ( [ \\{``) before the token; an opening token is
    reported at its outer depth, a closing one at the depth outside it.
    """
    depth = 0
    i = 0
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "\\":
            m = re.match(r"\\[a-zA-Z]+", s[i:])
            tok = m.group(0) if m else s[i : i + 2]
            if tok == "\\{":
                yield i, tok, depth
                depth += 1
            elif tok == "\\}":
                depth -= 1
                yield i, tok, depth
            else:
                yield i, tok, depth
            i += len(tok)
            continue
        if ch in "{([":
            yield i, ch, depth
            depth += 1
        elif ch in "})]":
            depth -= 1
            yield i, ch, depth
        else:
            yield i, ch, depth
        i += 1


def _balanced(s: str) -> bool:
    depth = 0
    for _, tok, d in _scan(s):
        if tok in ("}", ")", "]", "\\}"):
            if d < 0:
                return False
            depth = d
        elif tok in ("{", "(", "[", "\\{"):
            depth = d + 1
    return depth == 0


def split_top(s: str, sep: str = ",") -> list[str]:
    """Split ``s`` at ``sep`` characters outside every bracket and brace."""
    parts, start = [], 0
    for i, tok, d in _scan(s):
        if tok == sep and d == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def _outer_group(s: str) -> tuple[str, str, str] | None:
    """``(inner, open, close)`` when all of ``s`` is one bracket group ``(..)``/``[..)``/``\\left(..\\right]``."""
    t = s.strip()
    prefix_l = "\\left" if t.startswith("\\left") else ""
    body = t[len(prefix_l) :]
    if not body or body[0] not in "([":
        return None
    toks = list(_scan(body))
    first_close = next((k for k, (_, tok, d) in enumerate(toks) if d == 0 and tok in ")]"), None)
    if first_close is None or first_close != len(toks) - 1:
        return None
    close_at = toks[-1][0]
    inner = body[1:close_at]
    if prefix_l:
        if not inner.rstrip().endswith("\\right"):
            return None
        inner = inner.rstrip()[: -len("\\right")]
    elif "\\right" in inner[-7:]:
        return None
    return inner, body[0], body[close_at]


def _is_thousands_like(s: str) -> bool:
    t = s.strip().replace("\\$", "").strip()
    return bool(_THOUSANDS_LOOSE.fullmatch(t))


def _numeric_fraction(s: str) -> tuple[int, int, int] | None:
    """(sign, a, b) when ``s`` is exactly a numeric fraction ``[-]\\frac{a}{b}`` (a may be signed)."""
    m = _NUM_FRAC.fullmatch(s.strip())
    if not m:
        return None
    a = int(m.group(2) if m.group(2) is not None else m.group(3))
    b = int(m.group(4) if m.group(4) is not None else m.group(5))
    if b == 0:
        return None
    sign = -1 if m.group(1) else 1
    if a < 0:
        sign, a = -sign, -a
    return sign, a, b


def _plain_number(s: str) -> bool:
    t = s.strip()
    return bool(_INT.fullmatch(t) or _DECIMAL.fullmatch(t) or _numeric_fraction(t))


_BASE_PROBLEM = re.compile(r"\bbase\b|\bbinary\b|\boctal\b|hexadecimal", re.I)


def _is_number_representation_problem(problem: str) -> bool:
    """Problems whose integer answer is a numeral in another base: no value rewrites there."""
    return bool(_BASE_PROBLEM.search(problem))


_UNORDERED_HINT = re.compile(
    r"separated by commas|comma-separated list|in either order|in any order|"
    r"\b(?:find|enter|list|give|compute) all\b|all (?:the )?(?:possible |real |integer |rational |complex )*"
    r"(?:values|solutions|roots|numbers|integers)",
    re.I,
)
_ORDERED_HINT = re.compile(
    r"\border(?:ed)?\b|increasing|decreasing|least to greatest|greatest to least|smallest to largest|"
    r"largest to smallest|respectively|\btriple\b|\bpair\b",
    re.I,
)


def _unordered_list_problem(problem: str) -> bool:
    p = re.sub(r"in (?:either|any) order", "", problem, flags=re.I)
    return bool(_UNORDERED_HINT.search(problem)) and not _ORDERED_HINT.search(p)


# --------------------------------------------------------------------------------------------
# Rewrites. Each takes the gold, a Random and the problem text, and returns a list of rewrites
# (usually zero or one; a few kinds offer more than one variant). [] means "does not apply".
# --------------------------------------------------------------------------------------------

Rewriter = Callable[[str, random.Random, str], list[str]]


def _rng(rng: random.Random | None) -> random.Random:
    return rng if rng is not None else random.Random(0)


def identity(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    g = gold.strip()
    return [g] if g else []


def frac_style(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """One of: ``\\dfrac``/``\\tfrac`` <-> ``\\frac``; ``\\frac{4}{3}`` -> ``\\frac43``;
    ``\\sqrt{2}`` -> ``\\sqrt2``; ``\\frac43`` -> ``\\frac{4}{3}``."""
    rng = _rng(rng)
    g = gold.strip()
    if _has_text(g):
        return []
    options: list[str] = []
    if re.search(r"\\[dt]frac(?![a-zA-Z])", g):
        options.append(re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", g))
    if re.search(r"\\frac(?![a-zA-Z])", g):
        style = rng.choice(("\\dfrac", "\\tfrac"))
        options.append(re.sub(r"\\frac(?![a-zA-Z])", lambda _m: style, g))
    # \frac{a}{b} with single digits -> \fracab (not followed by a digit, which would join it)
    short = re.sub(r"\\([dt]?frac)\{(\d)\}\{(\d)\}(?!\d)", r"\\\1\2\3", g)
    if short != g:
        options.append(short)
    # \sqrt{d} -> \sqrtd (not followed by a digit)
    short = re.sub(r"\\sqrt\{(\d)\}(?!\d)", r"\\sqrt\1", g)
    if short != g:
        options.append(short)
    # shorthand -> braces: \frac43 -> \frac{4}{3}, \frac 12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2}
    longer = re.sub(r"\\([dt]?frac)\s*(\d)\s*(\d)", r"\\\1{\2}{\3}", g)
    longer = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", longer)
    if longer != g:
        options.append(longer)
    return [rng.choice(options)] if options else []


def slash_fraction(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """``\\frac{a}{b}`` -> ``a/b``; ``-\\frac{a}{b}`` -> ``-a/b`` (integers only)."""
    f = _numeric_fraction(gold)
    if not f:
        return []
    sign, a, b = f
    return [f"{'-' if sign < 0 else ''}{a}/{b}"]


def _exact_decimal(q: Fraction) -> str | None:
    den = q.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    places = max(twos, fives, 1)
    scaled = abs(q) * 10**places
    assert scaled.denominator == 1
    digits = str(scaled.numerator).rjust(places + 1, "0")
    return f"{'-' if q < 0 else ''}{digits[:-places]}.{digits[-places:]}"


def decimal(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Terminating numeric fraction -> exact decimal; integer ``n`` -> ``n.0``; ``.5`` -> ``0.5``;
    ``2.5`` -> ``2.50``."""
    g = gold.strip()
    if _is_number_representation_problem(problem):
        return []
    if _INT.fullmatch(g):
        return [g + ".0"]
    f = _numeric_fraction(g)
    if f:
        sign, a, b = f
        d = _exact_decimal(Fraction(sign * a, b))
        return [d] if d else []
    if _DECIMAL.fullmatch(g):
        if re.fullmatch(r"-?\.\d+", g):
            return [g.replace(".", "0.", 1)]
        return [g + "0"]
    return []


def thousands(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Integer >= 1000 -> ``1,000`` or ``1{,}000``; a separated number -> plain digits / ``{,}``."""
    rng = _rng(rng)
    g = gold.strip()
    if _is_number_representation_problem(problem):
        return []
    if _INT.fullmatch(g) and len(g.lstrip("-")) >= 4:
        sign = "-" if g.startswith("-") else ""
        digits = g.lstrip("-")
        head = len(digits) % 3 or 3
        groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
        sep = rng.choice((",", "{,}"))
        return [sign + sep.join(groups)]
    m = _THOUSANDS.fullmatch(g)
    if m:
        dollar, sign, body, frac = m.group(1) or "", m.group(2), m.group(3), m.group(4) or ""
        digits = re.sub(r"[^\d]", "", body)
        if rng.random() < 0.5 or "{,}" in body:
            return [f"{dollar}{sign}{digits}{frac}"]
        head = len(digits) % 3 or 3
        groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
        return [f"{dollar}{sign}{'{,}'.join(groups)}{frac}"]
    return []


_BINARY_OPS = ("+", "-", "=")


def spacing(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """One of: spaces around ``+ - =`` and after commas; ``\\,`` or ``\\!`` between a number and
    a following letter/command; every bracket pair as ``\\left( ... \\right)``."""
    rng = _rng(rng)
    g = gold.strip()
    if _has_text(g) or _is_thousands_like(g) or "\\!" in g or not _balanced(g):
        return []
    options: list[str] = []
    # 1. spaces around + - = and after top-level-or-not commas
    out = []
    for i, tok, _d in _scan(g):
        if tok in _BINARY_OPS:
            out.append(f" {tok} ")
        elif tok == ",":
            out.append(", ")
        else:
            out.append(tok)
    spaced = re.sub(r" {2,}", " ", "".join(out)).strip()
    if spaced != g and "\\\\" not in g:
        options.append(spaced)
    # 2./3. thin or negative thin space between a digit and a following letter or command
    # (not before \frac: "2\frac12" is a mixed number, "2\,\frac12" would not read as one)
    pat = re.compile(r"(\d)(?=[a-zA-Z]|\\(?!frac|dfrac|tfrac|[^a-zA-Z])[a-zA-Z])")
    if pat.search(g) and "\\begin" not in g:
        options.append(pat.sub(lambda m: m.group(1) + rng.choice(("\\,", "\\!")), g))
    # 4. \left( ... \right) for every bracket pair
    if "\\left" not in g and "\\right" not in g and "\\{" not in g and re.search(r"[(\[]", g):
        toks = list(_scan(g))
        pairs: dict[int, int] = {}
        stack: list[int] = []
        ok = True
        for i, tok, _d in toks:
            if tok in "([":
                stack.append(i)
            elif tok in ")]":
                if not stack:
                    ok = False
                    break
                pairs[stack.pop()] = i
        if ok and not stack and pairs:
            opens = set(pairs)
            closes = set(pairs.values())
            chars = []
            for i, ch in enumerate(g):
                if i in opens:
                    chars.append("\\left" + ch)
                elif i in closes:
                    chars.append("\\right" + ch)
                else:
                    chars.append(ch)
            options.append("".join(chars))
    return [rng.choice(options)] if options else []


# commands allowed inside a sum we reorder (anything else: skip the gold)
_SAFE_CMDS = frozenset({"\\frac", "\\dfrac", "\\tfrac", "\\sqrt", "\\pi", "\\cdot", "\\times", "\\left", "\\right",
                        "\\,", "\\!", "\\ ", "\\;", "\\theta", "\\alpha", "\\beta"})
_OPERATOR_TOKENS = frozenset({"+", "-", "*", "/", "^", "_", "=", "(", "[", "{", ",", "\\cdot", "\\times"})


def _signed_terms(g: str) -> list[tuple[str, str]] | None:
    """[(sign, term), ...] for a top-level sum, or None when the split is not unambiguous."""
    terms: list[tuple[str, str]] = []
    sign = "+"
    start = 0
    prev: str | None = None  # last significant token at depth 0 (or inside brackets: the bracket)
    for i, tok, d in _scan(g):
        if tok.startswith("\\") and len(tok) > 1 and tok not in _SAFE_CMDS and tok[1:2].isalpha():
            return None
        if tok in ("|", "\\|", ":", ";", "<", ">", "!", "'") or tok == "\\pm":
            return None
        if tok == " ":
            continue
        if d == 0 and tok in ("+", "-"):
            if prev is None:  # leading sign
                if start != i or g[:i].strip():
                    return None
                sign = tok
                start = i + 1
            elif prev in _OPERATOR_TOKENS:
                return None  # "2\cdot -3", "x^-1": a sign that is not a binary operator
            else:
                terms.append((sign, g[start:i].strip()))
                sign = tok
                start = i + 1
            prev = tok
            continue
        if d == 0 or tok in "})]":
            prev = tok
    terms.append((sign, g[start:].strip()))
    if any(not t for _, t in terms):
        return None
    return terms


def reorder_sum(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Permute the terms of a top-level sum, carrying each term's sign: ``a+b`` -> ``b+a``,
    ``-a+b`` -> ``b-a``, ``a-b`` -> ``-b+a``."""
    rng = _rng(rng)
    g = gold.strip()
    if (_has_text(g) or "," in g or "=" in g or "\\{" in g or "\\$" in g or "\\%" in g or "\\circ" in g
            or "\\infty" in g or "\\begin" in g or "|" in g or g.endswith(".") or not _balanced(g)):
        return []
    terms = _signed_terms(g)
    if not terms or len(terms) < 2 or len(terms) > 6:
        return []
    order = list(range(len(terms)))
    if len(terms) == 2:
        order = [1, 0]
    else:
        while order == list(range(len(terms))):
            rng.shuffle(order)
    spaced = bool(re.search(r" [+-] ", g))
    out = []
    for k, idx in enumerate(order):
        sign, term = terms[idx]
        if k == 0:
            out.append(("-" if sign == "-" else "") + term)
        else:
            out.append((f" {sign} " if spaced else sign) + term)
    r = "".join(out)
    return [r] if r != g else []


def _list_parts(g: str) -> list[str] | None:
    if _has_text(g) or _is_thousands_like(g) or "\\cup" in g or g.endswith("."):
        return None
    parts = [re.sub(r"^(?:\\ |\\,|\\;|\\!|\\quad)+|(?:\\ |\\,|\\;|\\!|\\quad)+$", "", p.strip()).strip()
             for p in split_top(g)]
    if len(parts) < 2 or any(not p for p in parts):
        return None
    return parts


def _join_like(g: str, parts: list[str]) -> str:
    return (", " if re.search(r",\s", g) else ",").join(parts)


def reorder_set(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Permute the elements of ``\\{a,b,c\\}``, or of a comma list when the problem says the
    answers are unordered ("Enter all the solutions, separated by commas", no "in order")."""
    rng = _rng(rng)
    g = gold.strip()
    braces = g.startswith("\\{") and g.endswith("\\}") and _balanced(g[2:-2])
    if braces:
        inner = g[2:-2]
        parts = _list_parts(inner)
    else:
        if not _unordered_list_problem(problem):
            return []
        inner = g
        parts = _list_parts(g)
    if not parts or len({p.replace(" ", "") for p in parts}) < 2:
        return []
    results: list[str] = []
    seen = {tuple(parts)}
    for _ in range(2 if len(parts) >= 3 else 1):
        for _try in range(20):
            perm = parts[:]
            rng.shuffle(perm)
            if tuple(perm) not in seen:
                seen.add(tuple(perm))
                body = _join_like(inner, perm)
                results.append("\\{" + body + "\\}" if braces else body)
                break
    return results


def value(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Integer ``n`` -> ``\\frac{kn}{k}``; ``\\frac{a}{b}`` -> ``\\frac{ka}{kb}`` (k in 2..9)."""
    rng = _rng(rng)
    g = gold.strip()
    if _is_number_representation_problem(problem):
        return []
    k = rng.randint(2, 9)
    if _INT.fullmatch(g):
        n = int(g)
        return [f"{'-' if n < 0 else ''}\\frac{{{k * abs(n)}}}{{{k}}}"]
    f = _numeric_fraction(g)
    if f:
        sign, a, b = f
        return [f"{'-' if sign < 0 else ''}\\frac{{{k * a}}}{{{k * b}}}"]
    return []


# ----- wrong kinds -----


def _scalar_looking(g: str) -> bool:
    if not g or _has_text(g) or "\\$" in g or "\\begin" in g or "\\{" in g or "\\cup" in g or "\\infty" in g:
        return False
    if _PM.search(g) or _RELATION.search(g) or "=" in g or ":" in g or "\\in " in g or "\\ne" in g:
        return False
    if len(split_top(g)) > 1 or _outer_group(g) and "," in g:
        return False
    return True


def sign_flip(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Prepend ``-`` to a scalar-looking gold, or remove its leading ``-``."""
    g = gold.strip()
    # angles are skipped: -180 degrees and 180 degrees can be the same rotation
    if not _scalar_looking(g) or "\\circ" in g or _INT.fullmatch(g) and int(g) == 0:
        return []
    if g.startswith("-"):
        rest = g[1:].lstrip()
        return [rest] if rest and rest[0] not in "+-" else []
    return ["-" + g]


def digit_change(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Change one digit (outside ``\\text{}``, subscripts and ``\\begin{..}`` names)."""
    rng = _rng(rng)
    g = gold.strip()
    mask = _text_mask(g)
    candidates = []
    # subscripts (bases: 1011_2, 10_{3}) are left alone: a base change need not change the value
    for m in re.finditer(r"_\s*(\{[^{}]*\}|\d+|.)", g):
        for k in range(m.start(), m.end()):
            mask[k] = True
    for i, ch in enumerate(g):
        if ch.isdigit() and not mask[i]:
            candidates.append(i)
    if not candidates:
        return []
    i = rng.choice(candidates)
    first_of_number = i == 0 or not g[i - 1].isdigit()
    multi = i + 1 < len(g) and g[i + 1].isdigit()
    choices = [c for c in "0123456789" if c != g[i] and not (c == "0" and first_of_number and multi)]
    return [g[:i] + rng.choice(choices) + g[i + 1 :]]


def _intervals(g: str) -> list[tuple[int, int, int]] | None:
    """(open_index, comma_index, close_index) of every top-level bracket pair with one comma."""
    out = []
    stack: list[tuple[int, list[int]]] = []
    for i, tok, d in _scan(g):
        if tok in "([":
            stack.append((i, []))
        elif tok in ")]":
            if not stack:
                return None
            start, commas = stack.pop()
            if not stack:
                if len(commas) != 1:
                    return None
                out.append((start, commas[0], i))
        elif tok == "," and len(stack) == 1 and d == 1:
            stack[0][1].append(i)
    return out if not stack else None


def _norm_endpoint(s: str) -> str:
    s = re.sub(r"\\left|\\right|\\[dt]frac", lambda m: "\\frac" if "frac" in m.group(0) else "", s)
    return re.sub(r"\s+|\\,|\\!", "", s)


def interval_end(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Open/close one finite endpoint of an interval (``(2,\\infty)`` -> ``[2,\\infty)``).

    Golds count as intervals when they contain ``\\infty`` or ``\\cup``, mixed brackets, or
    square brackets; an endpoint shared with another interval of a union is never flipped
    (``(-\\infty,2]\\cup[2,5]`` would not change)."""
    rng = _rng(rng)
    g = gold.strip()
    if _has_text(g) or "\\{" in g or _PM.search(g):
        return []
    ivs = _intervals(g)
    if not ivs:
        return []
    brackets = [(g[a], g[c]) for a, _b, c in ivs]
    is_interval = "\\infty" in g or "\\cup" in g or any(o == "[" or c == "]" for o, c in brackets)
    if not is_interval:
        return []
    # every top-level piece outside the bracket pairs must be a \cup, spacing, \left/\right or a "x \in" prefix
    rest = g
    for a, _b, c in reversed(ivs):
        rest = rest[:a] + " " + rest[c + 1 :]
    rest = re.sub(r"\\cup|\\left|\\right|\\,|\\!|\s", "", rest)
    if rest and not re.fullmatch(r"[a-z]\\in", rest):
        return []
    # (bracket index, piece number, endpoint text, closed?)
    endpoints: list[tuple[int, int, str, bool]] = []
    for k, (a, b, c) in enumerate(ivs):
        left = g[a + 1 : b]
        right = g[b + 1 : c]
        if right.rstrip().endswith("\\right"):
            right = right.rstrip()[: -len("\\right")]
        endpoints.append((a, k, _norm_endpoint(left), g[a] == "["))
        endpoints.append((c, k, _norm_endpoint(right), g[c] == "]"))
    flips = []
    for pos, k, text, _closed in endpoints:
        if not text or "\\infty" in text:
            continue
        # the point stays in the union if another piece holds it as a closed endpoint
        if any(t == text and closed for _p, kk, t, closed in endpoints if kk != k):
            continue
        flips.append(pos)
    if not flips:
        return []
    rng.shuffle(flips)
    swap = {"(": "[", "[": "(", ")": "]", "]": ")"}
    return [g[:pos] + swap[g[pos]] + g[pos + 1 :] for pos in sorted(flips[:2])]


_NUMBER_LITERAL = re.compile(r"\d+(?:\.\d+)?")


def bare_number(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """From a gold that is not a plain number (``7\\pi``, ``\\sqrt{51}``, ``x+1``), keep one number
    literal of it. Golds with units, percent, degrees, money, equations, bases or several parts
    are skipped (there the bare number may well be the intended answer)."""
    rng = _rng(rng)
    g = gold.strip()
    if _plain_number(g) or not _scalar_looking(g):
        return []
    if "_" in g or "\\%" in g or "%" in g or "\\circ" in g or "\\mbox" in g or "," in g:
        return []
    if re.fullmatch(r"-?\d+\s*\\[dt]?frac.*", g):  # a mixed number (6\frac34) is a plain number too
        return []
    mask = _text_mask(g)
    lits = [m.group(0) for m in _NUMBER_LITERAL.finditer(g) if not mask[m.start()]]
    lits = list(dict.fromkeys(lits))  # unique, first-seen order
    if not lits:
        return []
    return [rng.choice(lits)]


def tuple_reversed(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """``(a,b)`` -> ``(b,a)`` (an ordered tuple without ``\\infty``; elements checked to differ by
    the validation)."""
    g = gold.strip()
    if "\\infty" in g or "\\cup" in g or _has_text(g) or g.endswith("."):
        return []
    if re.search(r"in (?:either|any) order", problem, re.I):
        return []
    grp = _outer_group(g)
    if not grp:
        return []
    inner, o, c = grp
    if o != "(" or c != ")":
        return []
    parts = [p.strip() for p in split_top(inner)]
    if len(parts) < 2 or any(not p for p in parts):
        return []
    rev = parts[::-1]
    if [p.replace(" ", "") for p in rev] == [p.replace(" ", "") for p in parts]:
        return []
    sep = ", " if re.search(r",\s", inner) else ","
    if g.startswith("\\left"):
        return ["\\left(" + sep.join(rev) + "\\right)"]
    return ["(" + sep.join(rev) + ")"]


def relation_flip(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """``<`` <-> ``>``, ``\\le`` <-> ``\\ge``: each relation alone, and all of them together."""
    g = gold.strip()
    if _has_text(g) or "\\ne" in g:
        return []
    rels = list(_RELATION.finditer(g))
    if not rels:
        return []

    def flip(which: list[re.Match[str]]) -> str:
        out, last = [], 0
        for m in which:
            out.append(g[last : m.start()])
            out.append(_FLIP_REL[m.group(0)])
            last = m.end()
        out.append(g[last:])
        return "".join(out)

    variants = [flip([m]) for m in rels]
    if len(rels) > 1:
        variants.append(flip(rels))
    return variants


def pm_dropped(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """``\\pm a`` -> ``a``; ``b \\pm a`` -> ``b + a`` and ``b - a`` (one of the two values only)."""
    g = gold.strip()
    ms = list(_PM.finditer(g))
    if len(ms) != 1 or _has_text(g):
        return []
    m = ms[0]
    before, after = g[: m.start()], g[m.end() :]
    if not after.strip():
        return []
    head = before.rstrip()
    if not head or head[-1] in "{(,[=":
        return [before + after.lstrip()]
    return [before + "+" + after, before + "-" + after]


_VAR_TOKEN = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z](?![a-zA-Z])")
_VAR_OK_CMDS = frozenset({"\\frac", "\\dfrac", "\\tfrac", "\\sqrt", "\\cdot", "\\times", "\\left", "\\right",
                          "\\pi", "\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\exp"})
_RENAME_TO = "yxtzuvwnmkabcpqrs"


def variable_renamed(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """An expression or equation in exactly one lowercase single-letter variable, with that
    variable renamed to a letter absent from the gold (``y+1`` -> ``x+1``, ``x=5`` -> ``y=5``)."""
    g = gold.strip()
    if _has_text(g) or "\\begin" in g or "_" in g or "'" in g or _RELATION.search(g):
        return []
    if re.search(r"(?<![\\a-zA-Z])[a-zA-Z]\s*\(\s*-?\w+\s*\)", g):  # f(2), f(x): a function, not a variable
        return []
    cmds = re.findall(r"\\[a-zA-Z]+", g)
    if any(c not in _VAR_OK_CMDS for c in cmds):
        return []
    stripped = re.sub(r"\\[a-zA-Z]+", " ", g)
    letters = sorted({m.group(0) for m in _VAR_TOKEN.finditer(stripped)})
    if re.search(r"[a-zA-Z]{2,}", stripped):
        return []
    if len(letters) != 1:
        return []
    var = letters[0]
    if not var.islower() or var in "ei" or len(g.replace(" ", "")) < 2:
        return []
    new = next((c for c in _RENAME_TO if c != var and c not in g), None)
    if new is None:
        return []
    # replace the variable token only (never letters of command names)
    out, i = [], 0
    while i < len(g):
        if g[i] == "\\":
            m = re.match(r"\\[a-zA-Z]+|\\.", g[i:])
            tok = m.group(0) if m else "\\"
            out.append(tok)
            i += len(tok)
            continue
        out.append(new if g[i] == var else g[i])
        i += 1
    r = "".join(out)
    return [r] if r != g else []


def part_dropped(gold: str, rng: random.Random | None = None, problem: str = "") -> list[str]:
    """Remove one part of a comma-separated multi-part answer (parts must be distinct)."""
    rng = _rng(rng)
    g = gold.strip()
    parts = _list_parts(g)
    if not parts:
        return []
    if len({p.replace(" ", "") for p in parts}) != len(parts):
        return []
    k = rng.randrange(len(parts))
    return [_join_like(g, parts[:k] + parts[k + 1 :])]


REWRITERS: dict[str, Rewriter] = {
    "identity": identity,
    "frac_style": frac_style,
    "slash_fraction": slash_fraction,
    "decimal": decimal,
    "thousands": thousands,
    "spacing": spacing,
    "reorder_sum": reorder_sum,
    "reorder_set": reorder_set,
    "value": value,
    "sign_flip": sign_flip,
    "digit_change": digit_change,
    "interval_end": interval_end,
    "bare_number": bare_number,
    "tuple_reversed": tuple_reversed,
    "relation_flip": relation_flip,
    "pm_dropped": pm_dropped,
    "variable_renamed": variable_renamed,
    "part_dropped": part_dropped,
}

# --------------------------------------------------------------------------------------------
# Validation with sympy (latex2sympy2_extended), time-guarded
# --------------------------------------------------------------------------------------------

MAX_EVAL_CHARS = 60
EVAL_TIMEOUT_S = 1.5


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that sympy's ``except Exception`` cannot eat it."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _expand_shorthand(s: str) -> str:
    """``\\frac43`` -> ``\\frac{4}{3}``, ``\\sqrt2`` -> ``\\sqrt{2}`` (TeX reads one token per argument)."""
    out: list[str] = []
    i = 0
    n = len(s)

    def arg(j: int) -> tuple[str, int] | None:
        while j < n and s[j] == " ":
            j += 1
        if j >= n:
            return None
        if s[j] == "{":
            end = _match_brace(s, j)
            if end < 0:
                return None
            return "{" + _expand_shorthand(s[j + 1 : end]) + "}", end + 1
        if s[j] == "\\":
            m = re.match(r"\\[a-zA-Z]+|\\.", s[j:])
            tok = m.group(0) if m else "\\"
            return "{" + tok + "}", j + len(tok)
        if s[j] in "}])":
            return None
        return "{" + s[j] + "}", j + 1

    while i < n:
        m = re.match(r"\\(?:[dt]?frac|sqrt)(?![a-zA-Z])", s[i:])
        if not m:
            if s[i] == "\\":
                m2 = re.match(r"\\[a-zA-Z]+|\\.", s[i:])
                tok = m2.group(0) if m2 else "\\"
                out.append(tok)
                i += len(tok)
            else:
                out.append(s[i])
                i += 1
            continue
        cmd = m.group(0)
        j = i + len(cmd)
        pieces = ["\\frac" if "frac" in cmd else "\\sqrt"]
        if cmd == "\\sqrt":
            k = j
            while k < n and s[k] == " ":
                k += 1
            if k < n and s[k] == "[":
                close = s.find("]", k)
                if close < 0:
                    return s
                pieces.append(s[k : close + 1])
                j = close + 1
        nargs = 2 if "frac" in cmd else 1
        ok = True
        for _ in range(nargs):
            a = arg(j)
            if a is None:
                ok = False
                break
            pieces.append(a[0])
            j = a[1]
        if not ok:
            out.append(cmd)
            i += len(cmd)
            continue
        out.append("".join(pieces))
        i = j
    return "".join(out)


def _decimal_to_fraction(m: re.Match[str]) -> str:
    whole, frac = m.group(1) or "0", m.group(2)
    num = int(whole + frac)
    text = f"\\frac{{{num}}}{{{10 ** len(frac)}}}"
    before = m.string[: m.start()].rstrip()
    return "{" + text + "}" if before.endswith(("^", "_")) else text


def _normalize_for_eval(s: str) -> str:
    t = s.strip()
    # "1,000" / "1{,}000" / "1, 000" is one number only when that is all the answer is
    one_number = _is_thousands_like(t)
    t = re.sub(r"\\left\s*\.|\\right\s*\.", "", t)
    t = re.sub(r"\\left(?![a-zA-Z])|\\right(?![a-zA-Z])", "", t)
    t = re.sub(r"\\[,!;:](?![a-zA-Z])|\\quad|\\qquad", " ", t)
    t = t.replace("\\ ", " ")
    t = t.replace("\\$", "").replace("\\%", "")
    t = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ", "", t)
    t = re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", t)
    # thousands separators: "12,\!345" always; "12,345" / "12{,}345" when the whole answer is one number
    t = re.sub(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))", "", t)
    if one_number:
        t = re.sub(r"\s*(?:,|\{,\})\s*", "", t)
    t = _expand_shorthand(t)
    t = re.sub(r"(?<![\d.])(\d*)\.(\d+)(?![\d.])", _decimal_to_fraction, t)
    return re.sub(r"\s+", " ", t).strip()


def _too_hard(s: str) -> bool:
    return bool(
        re.search(r"\^\s*\{?\s*-?\d{3,}", s)  # exponent >= 100
        or re.search(r"\^\s*\{[^{}]*\^", s)  # nested exponents
        or re.search(r"\d{3,}\s*!", s)  # large factorials
    )


@dataclass(frozen=True)
class _Val:
    """A structured value: kind in scalar/assign/eq/tuple/list/set/union/unknown."""

    kind: str
    items: tuple[Any, ...] = ()
    tag: str = ""


_UNKNOWN = _Val("unknown")
_POINTS = 2


class _Evaluator:
    """Parses LaTeX answers with latex2sympy2_extended and evaluates them numerically (cached)."""

    def __init__(self) -> None:
        import mpmath
        import sympy
        from latex2sympy2_extended import latex2sympy
        from latex2sympy2_extended.latex2sympy2 import ConversionConfig

        self.sp = sympy
        self.mpmath = mpmath
        self.latex2sympy = latex2sympy
        self.config = ConversionConfig(lowercase_symbols=False)
        self.cache: dict[str, _Val] = {}
        self.timeouts = 0

    # -- numeric values --------------------------------------------------------------------
    def _point(self, name: str, k: int) -> Any:
        h = zlib.crc32(f"{k}:{name}".encode())
        return self.sp.Rational(50_000 + h % 100_000, 40_000)

    def _numbers(self, expr: Any) -> tuple[Any, ...] | None:
        """The value of ``expr`` at each evaluation point: ('inf', sign) or an mpc; None if not a number."""
        sp = self.sp
        if isinstance(expr, (sp.Set, sp.Basic)) and not isinstance(expr, sp.Expr):
            return None
        if not isinstance(expr, sp.Expr):
            return None
        i_sym = [s for s in expr.free_symbols if s.name == "i"]
        if i_sym:
            expr = expr.subs(i_sym[0], sp.I)
        syms = sorted(expr.free_symbols, key=lambda s: s.name)
        out = []
        for k in range(_POINTS):
            v = expr.subs({s: self._point(s.name, k) for s in syms}) if syms else expr
            if v.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
                if v == sp.oo or v == -sp.oo:
                    out.append(("inf", 1 if v == sp.oo else -1))
                    continue
                return None
            v = v.evalf(50)
            if not v.is_number:
                return None
            re_, im_ = v.as_real_imag()
            try:
                c = self.mpmath.mpc(self.mpmath.mpf(str(re_.evalf(50))), self.mpmath.mpf(str(im_.evalf(50))))
            except (TypeError, ValueError):
                return None
            if not (self.mpmath.isfinite(c.real) and self.mpmath.isfinite(c.imag)):
                return None
            out.append(c)
        return tuple(out)

    def _parse_scalar(self, s: str) -> _Val:
        sp = self.sp
        m = re.fullmatch(r"([a-zA-Z])\s*\\in\s*(.+)", s)
        if m:
            inner = self._struct(m.group(2))
            return _UNKNOWN if inner.kind == "unknown" else _Val("assign", (m.group(1), inner))
        with self.mpmath.workdps(60):
            expr = self.latex2sympy(s, conversion_config=self.config)
            if isinstance(expr, sp.Equality):
                lhs, rhs = expr.lhs, expr.rhs
                if isinstance(lhs, sp.Symbol) and lhs not in getattr(rhs, "free_symbols", set()):
                    num = self._numbers(rhs)
                    return _Val("assign", (lhs.name, _Val("scalar", num))) if num else _UNKNOWN
                num = self._numbers(lhs - rhs) if isinstance(lhs, sp.Expr) and isinstance(rhs, sp.Expr) else None
                return _Val("eq", num) if num else _UNKNOWN
            if isinstance(expr, sp.FiniteSet):
                vals = []
                for e in expr.args:
                    num = self._numbers(e)
                    if num is None:
                        return _UNKNOWN
                    vals.append(_Val("scalar", num))
                return _Val("set", tuple(vals))
            if isinstance(expr, sp.MatrixBase):
                vals = []
                for e in expr:
                    num = self._numbers(e)
                    if num is None:
                        return _UNKNOWN
                    vals.append(_Val("scalar", num))
                return _Val("tuple", tuple(vals), tag=f"matrix{expr.shape}")
            num = self._numbers(expr)
            return _Val("scalar", num) if num else _UNKNOWN

    def _struct(self, s: str) -> _Val:
        s = s.strip()
        if not s:
            return _UNKNOWN
        if re.search(r"\\cup(?![a-zA-Z])", s):
            pieces = [p.strip() for p in re.split(r"\\cup(?![a-zA-Z])", s)]
            if any(not p for p in pieces):
                return _UNKNOWN
            vals = tuple(self._struct(p) for p in pieces)
            return _UNKNOWN if any(v.kind == "unknown" for v in vals) else _Val("union", vals)
        if s.startswith("\\{") and s.endswith("\\}") and _balanced(s[2:-2]):
            elems = [p.strip() for p in split_top(s[2:-2])]
            vals = tuple(self._struct(p) for p in elems)
            return _UNKNOWN if any(v.kind == "unknown" for v in vals) else _Val("set", vals)
        grp = _outer_group(s)
        if grp and len(split_top(grp[0])) >= 2:
            inner, o, c = grp
            elems = [p.strip() for p in split_top(inner)]
            vals = tuple(self._struct(p) for p in elems)
            return _UNKNOWN if any(v.kind == "unknown" for v in vals) else _Val("tuple", vals, tag=o + c)
        top = split_top(s)
        if len(top) >= 2:
            vals = tuple(self._struct(p.strip()) for p in top)
            return _UNKNOWN if any(v.kind == "unknown" for v in vals) else _Val("list", vals)
        try:
            with _time_limit(EVAL_TIMEOUT_S):
                return self._parse_scalar(s)
        except _Timeout:
            self.timeouts += 1
            return _UNKNOWN
        except Exception:  # noqa: BLE001 - any parse/eval failure means "cannot evaluate"
            return _UNKNOWN

    def value(self, latex: str, limit: int = MAX_EVAL_CHARS) -> _Val:
        raw = latex.strip()
        if len(raw) > limit or _too_hard(raw):
            return _UNKNOWN
        key = f"{limit}:{raw}"
        if key not in self.cache:
            try:
                self.cache[key] = self._struct(_normalize_for_eval(raw))
            except Exception:  # noqa: BLE001
                self.cache[key] = _UNKNOWN
        return self.cache[key]

    # -- comparison ------------------------------------------------------------------------
    def _num_eq(self, a: Any, b: Any) -> bool:
        if isinstance(a, tuple) or isinstance(b, tuple):
            return a == b
        with self.mpmath.workdps(60):
            scale = max(1, abs(a), abs(b))
            return bool(abs(a - b) <= self.mpmath.mpf(10) ** -35 * scale)

    def same(self, a: _Val, b: _Val) -> bool | None:
        """True/False when both sides are evaluated, None when either side is unknown."""
        if a.kind == "unknown" or b.kind == "unknown":
            return None
        if a.kind != b.kind:
            return False
        if a.kind == "scalar":
            return all(self._num_eq(x, y) for x, y in zip(a.items, b.items))
        if a.kind == "eq":  # lhs - rhs up to a constant factor
            xs, ys = a.items, b.items
            if any(isinstance(v, tuple) for v in xs + ys):
                return None
            zero = [self._num_eq(x, 0) for x in xs], [self._num_eq(y, 0) for y in ys]
            if any(zero[0]) or any(zero[1]):
                return False if zero[0] != zero[1] else None
            with self.mpmath.workdps(60):
                ratios = [x / y for x, y in zip(xs, ys)]
            return all(self._num_eq(r, ratios[0]) for r in ratios)
        if a.kind == "assign":
            if a.items[0] != b.items[0]:
                return False
            return self.same(a.items[1], b.items[1])
        if a.kind in ("tuple", "union"):
            if a.tag != b.tag or len(a.items) != len(b.items):
                return False
            results = [self.same(x, y) for x, y in zip(a.items, b.items)]
            if any(r is False for r in results):
                return False
            return True if all(results) else None
        if a.kind in ("list", "set"):
            return self._same_multiset(a.items, b.items, as_set=a.kind == "set")
        return None

    def _same_multiset(self, xs: tuple[Any, ...], ys: tuple[Any, ...], as_set: bool) -> bool | None:
        def covered(src: tuple[Any, ...], dst: tuple[Any, ...], exclusive: bool) -> bool | None:
            used = [False] * len(dst)
            for x in src:
                hit = None
                for j, y in enumerate(dst):
                    if exclusive and used[j]:
                        continue
                    r = self.same(x, y)
                    if r is None:
                        return None
                    if r:
                        hit = j
                        break
                if hit is None:
                    return False
                used[hit] = True
            return True

        if as_set:
            r1, r2 = covered(xs, ys, False), covered(ys, xs, False)
        else:
            if len(xs) != len(ys):
                return False
            r1, r2 = covered(xs, ys, True), covered(ys, xs, True)
        if r1 is False or r2 is False:
            return False
        return True if (r1 and r2) else None

    def compare(self, gold: str, rewrite: str) -> bool | None:
        g = self.value(gold)
        if g.kind == "unknown":
            return None
        return self.same(g, self.value(rewrite, limit=2 * MAX_EVAL_CHARS))

    def same_set(self, gold: str, rewrite: str) -> bool | None:
        """Compare two interval/union answers as sympy sets (``(-oo,2]U[2,5]`` equals ``(-oo,5]``)."""
        sp = self.sp
        sets = []
        for raw in (gold, rewrite):
            t = _normalize_for_eval(raw)
            t = re.sub(r"^[a-zA-Z]\s*\\in\s*", "", t)
            if len(t) > 2 * MAX_EVAL_CHARS or _too_hard(t):
                return None
            try:
                with _time_limit(EVAL_TIMEOUT_S):
                    obj = self.latex2sympy(t, conversion_config=self.config)
            except _Timeout:
                self.timeouts += 1
                return None
            except Exception:  # noqa: BLE001
                return None
            if not isinstance(obj, sp.Set) or obj.free_symbols:
                return None
            if isinstance(obj, sp.Union):  # latex2sympy builds it unevaluated: let sympy merge pieces
                obj = sp.Union(*obj.args)
            sets.append(obj)
        try:
            with _time_limit(EVAL_TIMEOUT_S):
                return bool(sets[0].symmetric_difference(sets[1]) == sp.EmptySet)
        except _Timeout:
            self.timeouts += 1
            return None
        except Exception:  # noqa: BLE001
            return None

    def distinct_parts(self, parts: list[str]) -> bool | None:
        """True when all parts differ in value, False when two are equal, None when unknown."""
        vals = [self.value(p) for p in parts]
        verdict: bool | None = True
        for i in range(len(vals)):
            for j in range(i + 1, len(vals)):
                r = self.same(vals[i], vals[j])
                if r:
                    return False
                if r is None:
                    verdict = None
        return verdict


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------

_DERIVATIONS = (
    "Simplifying, we get the result.",
    "Putting the pieces together gives the answer.",
    "Combining the cases above, we obtain the result.",
    "Checking the computation once more confirms this.",
    "Substituting back, everything is consistent.",
)


def render_response(rewrite: str, rng: random.Random) -> str:
    """Embed R in a model-style response: mostly the boxed "final answer" line."""
    u = rng.random()
    prose_ok = "$" not in rewrite and not _has_text(rewrite)
    if u < 0.1 and prose_ok:
        return f"Final Answer: The final answer is ${rewrite}$. I hope it is correct."
    if u < 0.2:
        return f"So the answer is \\boxed{{{rewrite}}}."
    return f"{rng.choice(_DERIVATIONS)}\nThe final answer is $\\boxed{{{rewrite}}}$"


# --------------------------------------------------------------------------------------------
# Building the corpus
# --------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    idx: int
    kind: str
    n: int
    gold: str
    rewrite: str


@dataclass
class CorpusStats:
    kept: dict[str, int] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # by validation
    duplicates: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    timeouts: int = 0


def _validate(ev: _Evaluator, c: _Candidate) -> bool:
    equivalent = c.kind in EQUIVALENT_KINDS
    if c.kind == "part_dropped":
        distinct = ev.distinct_parts(_list_parts(c.gold.strip()) or [])
        if distinct is False:
            return False
    if c.kind == "tuple_reversed":
        grp = _outer_group(c.gold.strip())
        parts = split_top(grp[0]) if grp else []
        vals = [ev.value(p) for p in parts]
        verdicts = [ev.same(vals[i], vals[-1 - i]) for i in range(len(vals) // 2)]
        if verdicts and all(v is True for v in verdicts):
            return False
    if c.kind == "interval_end":
        verdict = ev.same_set(c.gold, c.rewrite)
    else:
        verdict = ev.compare(c.gold, c.rewrite)
    if equivalent:
        return verdict is not False
    if verdict is False:
        return True
    if verdict is True:
        return False
    return c.kind in _GUARANTEED_WRONG


def _load_golds(math_test: Path) -> list[tuple[int, str, str]]:
    from abel.io import iter_jsonl

    out = []
    for row in iter_jsonl(math_test, required=("solution", "idx")):
        gold = last_boxed(row["solution"])[0]
        if gold is None or not gold.strip():
            continue
        out.append((int(row["idx"]), row.get("problem", ""), gold))
    return out


def _build(math_test: Path, seed: int, size: int) -> tuple[list[dict[str, Any]], CorpusStats]:
    t0 = time.perf_counter()
    stats = CorpusStats()
    records = _load_golds(Path(math_test))
    pools: dict[str, list[_Candidate]] = {k: [] for k in KINDS}
    for idx, problem, gold in records:
        for kind in KINDS:
            rng = random.Random(f"corpus:{seed}:{idx}:{kind}")
            try:
                rewrites = REWRITERS[kind](gold, rng, problem)
            except Exception:  # noqa: BLE001 - a rewriter bug on an odd gold skips that gold
                rewrites = []
            seen_here: list[str] = []
            for rw in rewrites:
                rw = rw.strip()
                if not rw or rw in seen_here or (kind != "identity" and rw == gold.strip()):
                    continue
                seen_here.append(rw)
                pools[kind].append(_Candidate(idx, kind, len(seen_here) - 1, gold, rw))
    master = random.Random(seed)
    for kind in KINDS:
        master.shuffle(pools[kind])
        stats.candidates[kind] = len(pools[kind])
        stats.kept[kind] = stats.dropped[kind] = stats.duplicates[kind] = 0

    ev = _Evaluator()
    pointers = {k: 0 for k in KINDS}
    used_pairs: set[tuple[str, str]] = set()
    chosen: list[_Candidate] = []

    def take(kind: str) -> bool:
        pool = pools[kind]
        while pointers[kind] < len(pool):
            c = pool[pointers[kind]]
            pointers[kind] += 1
            key = (re.sub(r"\s+", "", c.gold), c.rewrite)
            if key in used_pairs:
                stats.duplicates[kind] += 1
                continue
            if not _validate(ev, c):
                stats.dropped[kind] += 1
                continue
            used_pairs.add(key)
            chosen.append(c)
            stats.kept[kind] += 1
            return True
        return False

    def fill(kinds: tuple[str, ...], target: int) -> None:
        count = 0
        active = list(kinds)
        while count < target and active:
            for kind in list(active):
                if count >= target:
                    break
                if take(kind):
                    count += 1
                else:
                    active.remove(kind)

    eq_target = size // 2
    wrong_target = size - eq_target
    identity_target = round(eq_target * IDENTITY_SHARE)
    fill(tuple(k for k in EQUIVALENT_KINDS if k != "identity"), eq_target - identity_target)
    eq_have = sum(stats.kept[k] for k in EQUIVALENT_KINDS)
    fill(("identity",), eq_target - eq_have)
    fill(WRONG_KINDS, wrong_target)

    order = {k: i for i, k in enumerate(KINDS)}
    chosen.sort(key=lambda c: (c.idx, order[c.kind], c.n))
    rows = []
    for c in chosen:
        row_id = f"{c.idx}-{c.kind}-{c.n}"
        rows.append(
            {
                "id": row_id,
                "source_idx": c.idx,
                "gold": c.gold,
                "response": render_response(c.rewrite, random.Random(f"corpus:{seed}:{row_id}:response")),
                "equivalent": c.kind in EQUIVALENT_KINDS,
                "kind": c.kind,
                "rewrite": c.rewrite,
            }
        )
    stats.timeouts = ev.timeouts
    stats.seconds = time.perf_counter() - t0
    return rows, stats


def build_corpus(math_test: Path, seed: int = 0, size: int = 2400) -> list[dict[str, Any]]:
    """The labelled corpus built from the MATH test file (deterministic for a given seed)."""
    return _build(Path(math_test), seed, size)[0]


def format_table(stats: CorpusStats) -> str:
    lines = [f"{'kind':<18}{'label':<11}{'rows':>6}{'candidates':>12}{'dropped':>9}{'dups':>6}"]
    for kind in KINDS:
        label = "equivalent" if kind in EQUIVALENT_KINDS else "wrong"
        lines.append(
            f"{kind:<18}{label:<11}{stats.kept[kind]:>6}{stats.candidates[kind]:>12}"
            f"{stats.dropped[kind]:>9}{stats.duplicates[kind]:>6}"
        )
    eq = sum(stats.kept[k] for k in EQUIVALENT_KINDS)
    wrong = sum(stats.kept[k] for k in WRONG_KINDS)
    total = eq + wrong
    lines.append(f"total {total} rows: {eq} equivalent ({eq / max(total, 1):.1%}), {wrong} wrong; "
                 f"validation drops {sum(stats.dropped.values())} "
                 f"(equivalent: {sum(stats.dropped[k] for k in EQUIVALENT_KINDS)}), "
                 f"sympy timeouts {stats.timeouts}; built in {stats.seconds:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m abel.scoring.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="shared data folder (holds math/test.jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=2400)
    args = parser.parse_args(argv)
    from abel.io import write_jsonl

    rows, stats = _build(args.data_dir / "math" / "test.jsonl", args.seed, args.size)
    write_jsonl(args.out, rows)
    print(format_table(stats))
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
