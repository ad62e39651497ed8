"""The abel mode: bit-compatible with the scorer behind the Abel paper's table.

Abel's scorer: cut the response at the first "Question", take the text after the last
``#### `` on the final line, chop ``</s>`` (by dropping the last four characters, as the original
does), Minerva-normalize prediction and gold, then call them equal if both parse with sympy's
ANTLR LaTeX parser and ``simplify(gold - pred) == 0``, or, if either fails to parse, if the
normalized strings are equal.

Its quirks are part of the published numbers: sympy 1.12 with antlr4 4.11 reads ``10.`` as 1 and
``528.`` as 5*2. DVC needs antlr4 4.9, so that parser stack lives in its own folder
(``abel install-paper-scorer``) and is imported only by worker processes that put it first on
``sys.path`` (see ``pool.py``). This module imports sympy lazily, inside those workers.
"""

from __future__ import annotations

import re
from typing import Any

from abel.scoring.minerva import normalize_final_answer

_PURE_INT = re.compile(r"-?\d{1,60}")


def extract(response: str) -> str:
    """Abel's extraction, in linear time.

    Equivalent to ``re.findall("#### (.*)$", response.split("Question")[0])[-1]`` (or "" if no
    match): without MULTILINE, ``$`` matches only at the very end or before a final newline, so
    the one possible match starts at the first ``#### `` of the last line. The regex itself can
    take quadratic time on adversarial text; this does not.
    """
    text = response.split("Question", 1)[0]
    if text.endswith("\n"):
        text = text[:-1]
    last_line = text[text.rfind("\n") + 1 :]
    at = last_line.find("#### ")
    pred = "" if at < 0 else last_line[at + 5 :]
    if "</s>" in pred:
        pred = pred[:-4]
    return pred


def fast_verdict(pred: str, gold: str) -> bool | None:
    """Decide without sympy when both sides are plain integers, else None.

    For such strings Minerva normalization only deletes spaces, and sympy parses them to the
    same integers, so the verdict is integer equality.
    """
    p, g = pred.replace(" ", ""), gold.replace(" ", "")
    if _PURE_INT.fullmatch(p) and _PURE_INT.fullmatch(g):
        return int(p) == int(g)
    return None


def sympy_equivalent(gold: str, pred: str) -> bool:
    """Abel's equivalence on normalized strings (runs in a paper-scorer worker)."""
    import sympy
    from sympy.parsing.latex import parse_latex

    parse_failed = False
    exprs: list[Any] = []
    for text in (gold, pred):
        try:
            exprs.append(parse_latex(text))
        except Exception:
            parse_failed = True
    if parse_failed:
        return gold == pred
    try:
        return bool(sympy.simplify(exprs[0] - exprs[1]) == 0)
    except Exception:
        return False


def judge(response: str, gold: str) -> tuple[bool, str, str]:
    """Full abel-mode verdict: (correct, normalized pred, normalized gold). Worker-side."""
    pred = normalize_final_answer(extract(response))
    gold_n = normalize_final_answer(gold)
    return sympy_equivalent(gold_n, pred), pred, gold_n
