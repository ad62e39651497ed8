"""Strict final-answer extraction: linear-time string scanning only (no backtracking regexes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A model that keeps going writes the next few-shot question; everything after it is not the answer.
_NEXT_QUESTION = re.compile(r"\n[ \t]*Question:")
_END_TOKENS = ("</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>")
_BOX_COMMANDS = ("\\boxed", "\\fbox")


@dataclass(frozen=True)
class Extraction:
    text: str | None  # the final answer as written, or None
    source: str  # "####", "boxed", "answer-is" or "none"
    note: str = ""  # why nothing was found, when text is None


def clean_response(response: str) -> str:
    match = _NEXT_QUESTION.search(response)
    if match:
        response = response[: match.start()]
    for token in _END_TOKENS:
        response = response.replace(token, "")
    return response


def last_boxed(text: str) -> tuple[str | None, str]:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces.

    Returns (content, note); content is None when there is no box or it is never closed.
    """
    start = max(text.rfind(cmd + "{") for cmd in _BOX_COMMANDS)
    if start < 0:
        # ``\boxed 5`` (no braces) is valid TeX for a single token.
        at = text.rfind("\\boxed ")
        if at >= 0:
            token = text[at + 7 :].strip().split(None, 1)
            if token:
                return token[0].rstrip(".$"), ""
        return None, "no \\boxed{}"
    open_at = text.index("{", start)
    depth = 0
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i], ""
    return None, "unclosed \\boxed{"


def after_last_marker(text: str, marker: str = "####") -> str | None:
    """Rest of the line after the last ``####`` (any spacing), or None if there is no marker."""
    at = text.rfind(marker)
    if at < 0:
        return None
    # "#####" or "####" inside a longer run: step back to the start of the run.
    while at > 0 and text[at - 1] == "#":
        at -= 1
    rest = text[at:].lstrip("#")
    end = rest.find("\n")
    return (rest if end < 0 else rest[:end]).strip()


def extract_final(response: str) -> Extraction:
    """The final answer: after the last ``####``; else (or if that is empty) the last box."""
    text = clean_response(response)
    marked = after_last_marker(text)
    if marked:
        return Extraction(marked, "####")
    boxed, note = last_boxed(text)
    if boxed is not None and boxed.strip():
        return Extraction(boxed.strip(), "boxed")
    if marked is not None:
        return Extraction(None, "none", "empty answer after ####" + (f"; {note}" if note else ""))
    return Extraction(None, "none", f"no #### marker; {note}")
