"""Presentation formats ("education methods"): how a record becomes an SFT target.

Every target ends in a form the scorer reads: ``#### <answer>``. A test checks the strict scorer
recovers the gold answer from every curated target.
"""

from __future__ import annotations

import re
from typing import Literal

from abel.data.sources import Record
from abel.modelio import abel_prompt

Format = Literal["answer_only", "original", "stepwise"]

_CALC = re.compile(r"<<[^<>]*>>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\$(])")


def prompt(record: Record) -> str:
    return abel_prompt(record.question)


def strip_calculator(text: str) -> str:
    """Remove GSM8K calculator annotations ``<<48/2=24>>``."""
    return _CALC.sub("", text)


def _steps(record: Record, keep_calculator: bool) -> list[str]:
    text = record.rationale if keep_calculator else strip_calculator(record.rationale)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if record.kind == "latex" and len(lines) <= 2:
        # MATH solutions are paragraphs: split sentences, but never inside $...$ math
        pieces: list[str] = []
        for line in lines:
            if line.count("$") % 2 == 0 and "\\[" not in line:
                pieces += [p.strip() for p in _SENTENCE_END.split(line) if p.strip()]
            else:
                pieces.append(line)
        lines = pieces
    return lines


def render(record: Record, fmt: Format, keep_calculator: bool = False) -> str:
    """The target text (the model learns this after the prompt)."""
    # "####" answers are read to the end of the line; a newline inside a LaTeX answer is whitespace
    answer = re.sub(r"\s*\n\s*", " ", record.answer)
    if fmt == "answer_only":
        return f"#### {answer}"
    if fmt == "original":
        body = record.rationale if keep_calculator else strip_calculator(record.rationale)
        return f"{body.strip()}\n#### {answer}"
    if fmt == "stepwise":
        steps = _steps(record, keep_calculator)
        numbered = [f"{i}. {step}" for i, step in enumerate(steps, start=1)]
        numbered.append(f"{len(steps) + 1}. [Final solution] The answer is {answer}.")
        return "\n".join(numbered) + f"\n#### {answer}"
    raise ValueError(f"unknown format {fmt!r} (expected answer_only, original or stepwise)")
