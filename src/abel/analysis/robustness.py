"""Which kinds of changed numbers break answers: GSM8K vs GSM8k_robust, split by how the numbers changed.

GSM8k_robust keeps each GSM8K question and changes its numbers. For every paired question this
module describes the change (does the gold answer gain or lose digits; do the question's numbers
get longer; does a whole-number answer become a fraction) and reports, per kind of change, the
paired accuracy delta with a bootstrap CI and the count of answers it broke and fixed.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from abel.analysis.stats import paired_bootstrap_delta
from abel.modelio import question_from_abel_prompt
from abel.scoring.numeric import parse_number

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> list[str]:
    """Number literals in a question, commas removed (``1,200`` -> ``1200``)."""
    return [m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)]


def _digits(value: Fraction | None) -> int | None:
    if value is None:
        return None
    return len(str(abs(int(value)))) if value.denominator == 1 else len(str(abs(float(value))).replace(".", ""))


def change_kinds(base_question: str, other_question: str, base_gold: str, other_gold: str) -> list[str]:
    """The kinds of change a pair shows (a pair can show several; ``all`` is always one)."""
    kinds = ["all"]
    a, b = parse_number(str(base_gold)), parse_number(str(other_gold))
    da, db = _digits(a), _digits(b)
    if da is not None and db is not None:
        kinds.append("answer: more digits" if db > da else "answer: fewer digits" if db < da else "answer: same digits")
    if a is not None and b is not None and a.denominator == 1 and b.denominator != 1:
        kinds.append("answer: becomes non-integer")
    qa, qb = numbers_in(base_question), numbers_in(other_question)
    la, lb = sum(map(len, qa)), sum(map(len, qb))
    kinds.append("question: longer numbers" if lb > la else "question: shorter numbers" if lb < la
                 else "question: same number lengths")
    return kinds


def by_change(scored: dict[tuple[str, str, str], list[dict[str, Any]]], pairs: list[tuple[str, str]], *,
              resamples: int, ci: float, seed: int) -> list[dict[str, Any]]:
    """Per model x scorer x kind of change: paired accuracies, delta with CI, answers broken / fixed."""
    out = []
    for base_name, other_name in pairs:
        for (bench, model, mode), base in sorted(scored.items()):
            if bench != base_name or (other_name, model, mode) not in scored:
                continue
            twins = {r["id"]: r for r in scored[(other_name, model, mode)]}
            groups: dict[str, tuple[list[bool], list[bool]]] = {}
            for row in base:
                twin = twins.get(row["id"])
                if twin is None:
                    continue
                kinds = change_kinds(question_from_abel_prompt(row.get("prompt", "")),
                                     question_from_abel_prompt(twin.get("prompt", "")), row["gold"], twin["gold"])
                for kind in kinds:
                    a, b = groups.setdefault(kind, ([], []))
                    a.append(bool(row["correct"]))
                    b.append(bool(twin["correct"]))
            for kind, (a, b) in sorted(groups.items()):
                est = paired_bootstrap_delta(a, b, resamples=resamples, ci=ci, seed=seed)
                out.append({"base": base_name, "perturbed": other_name, "model": model, "mode": mode, "change": kind,
                            "n": len(a), "acc_base": sum(a) / len(a), "acc_perturbed": sum(b) / len(b),
                            "delta": est.value, "delta_lo": est.lo, "delta_hi": est.hi, "ci": ci,
                            "broken": sum(x and not y for x, y in zip(a, b)),
                            "fixed": sum(y and not x for x, y in zip(a, b))})
    return out
