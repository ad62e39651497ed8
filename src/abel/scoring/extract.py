"""Strict final-answer extraction: linear-time string scanning only (no backtracking regexes).

The order, applied to the response after ``clean_response`` (a hallucinated next ``Question:`` and
end-of-text tokens cut off):

1. Final-answer marks: the last GSM8K marker ``#### x`` (the rest of that line) and the last
   ``\\boxed{...}`` / ``\\fbox{...}``. Whichever starts later in the response wins, so
   ``\\boxed{2}\\n#### 3`` is 3 and ``#### Step 2: ... \\boxed{7}`` is 7. A ``####`` that opens a line
   and reads as a Markdown heading (``#### Final answer``, ``#### Step 2: ...``, any line ending in
   ``:``) is not a marker. ``#### Answer: 42`` is 42.
2. When the gold has several parts (a bare comma list or a set ``\\{...\\}``), several boxes in a
   row (``\\boxed{1}, \\boxed{2} and \\boxed{3}``: only commas, ``and``/``or``, spacing and ``$``
   between them) are one multi-part answer, ``1, 2, 3``. Otherwise the last box is the answer, as
   MATH's own solutions use it ("the vertices are \\boxed{A} and \\boxed{B}", either accepted,
   the dataset's gold is B).
3. No mark (or an empty one): the last prose statement ``The final answer is X`` /
   ``Final Answer: X`` / ``the answer is X`` (to the end of its line; ``$...$`` and a final ``.``
   removed; ``I hope it is correct.`` ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A model that keeps going writes the next few-shot question; everything after it is not the answer.
_NEXT_QUESTION = re.compile(r"\n[ \t]*Question:")
_END_TOKENS = ("</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>")
# Markdown headings that are not answers, after a line-opening ####
_HEADING = re.compile(
    r"(?:step\s*\d+\b.*|(?:the\s+)?(?:final\s+)?(?:answer|solution|result)s?|conclusion|summary|"
    r"solution\s+steps?|explanation|verification|check(?:ing)?)\s*:?", re.IGNORECASE)
_LABEL = re.compile(r"(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:\uff1a]\s*|(?:the\s+)?(?:final\s+)?answer\s+is\s+",
                    re.IGNORECASE)
# separators that keep consecutive boxes one answer
_BOX_JOINER = re.compile(r"[\s$,;]*(?:(?:and|or|\\text\{\s*(?:and|or)\s*\}|\\quad|\\qquad)[\s$,;]*)?", re.IGNORECASE)
_PROSE_MARK = re.compile(r"(?:final\s+answer\s*(?:is\s*)?[:\uff1a]?|the\s+answer\s+is\s*:?)[ \t]*", re.IGNORECASE)


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


def _closing_braces(text: str) -> dict[int, int]:
    """Index of each ``{`` -> index of its matching ``}`` (unclosed ones absent), in one pass."""
    match, stack = {}, []
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            match[stack.pop()] = i
    return match


_BOX_START = re.compile(r"\\(?:boxed|fbox)[ \t]*\{")


def _box_starts(text: str) -> list[int]:
    """Where each ``\\boxed{`` / ``\\fbox{`` starts (spaces before the brace allowed)."""
    return [m.start() for m in _BOX_START.finditer(text)]


def last_boxed(text: str) -> tuple[str | None, str]:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces.

    Returns (content, note); content is None when there is no box or it is never closed.
    """
    _, content, note = _final_boxes(text, join=False)
    return content, note


def _final_boxes(text: str, join: bool) -> tuple[int, str | None, str]:
    """(start of the answer's boxes or -1, the answer, note): the last box; with ``join``, joined
    with the boxes right before it when only separators lie between them."""
    starts = _box_starts(text)
    if not starts:
        at = text.rfind("\\boxed ")  # ``\boxed 5`` (no braces) is valid TeX for a single token
        token = text[at + 7 :].strip().split(None, 1) if at >= 0 else []
        return (at, token[0].rstrip(".$"), "") if token else (-1, None, "no \\boxed{}")
    closing = _closing_braces(text)  # one pass: n nested or unclosed boxes cost O(n), not O(n^2)
    spans = []  # (start, end, content_start, content_end); content_end -1 when unclosed
    for start in starts:
        open_at = text.index("{", start)
        close = closing.get(open_at, -1)
        spans.append((start, close + 1 if close >= 0 else len(text), open_at + 1, close))
    if spans[-1][3] < 0:
        return spans[-1][0], None, "unclosed \\boxed{"
    parts = [text[spans[-1][2] : spans[-1][3]].strip()]
    first = spans[-1][0]
    for (start, end, c_start, c_end), (next_start, *_) in zip(reversed(spans[:-1]), reversed(spans[1:])):
        if not join or c_end < 0 or end > next_start or not _BOX_JOINER.fullmatch(text[end:next_start]):
            break
        parts.insert(0, text[c_start:c_end].strip())
        first = start
    return first, ", ".join(p for p in parts if p), ""


def _last_marker(text: str) -> tuple[int, str | None]:
    """(position, rest of the line) of the last ``####`` that is not a Markdown heading; (-1, None)."""
    end = len(text)
    while (at := text.rfind("####", 0, end)) >= 0:
        while at > 0 and text[at - 1] == "#":  # "#####...": step back to the start of the run
            at -= 1
        after = at
        while after < len(text) and text[after] == "#":
            after += 1
        line_end = text.find("\n", after)
        content = _unbold(text[after : line_end if line_end >= 0 else len(text)])
        opens_line = not text[text.rfind("\n", 0, at) + 1 : at].strip()
        label = _LABEL.match(content)
        if label and content[label.end():].strip():
            return at, content[label.end():].strip()
        if opens_line and (content.endswith(":") or _HEADING.fullmatch(content)):
            end = at  # a heading, not an answer: look further back
            continue
        return at, content
    return -1, None


def _prose_answer(text: str) -> str | None:
    last = None
    for last in _PROSE_MARK.finditer(text):
        pass
    if last is None:
        return None
    rest = text[last.end():]
    line = rest.split("\n", 1)[0].strip()
    hope = "i hope it is correct"
    folded = line.lower().rstrip(".").rstrip()
    if folded.endswith(hope):
        line = line[: len(folded) - len(hope)].strip()
    if line.startswith("$") and line.count("$") >= 2:
        line = line[1 : line.index("$", 1)] if not line.startswith("$$") else line.strip("$").split("$$")[0]
    line = line.strip().rstrip(".").strip()
    return line or None


def _unbold(text: str) -> str:
    """``**42**`` / ``__42__`` (Markdown bold) -> ``42``."""
    text = text.strip()
    for mark in ("**", "__"):
        if len(text) > 2 * len(mark) and text.startswith(mark) and text.endswith(mark):
            return text[len(mark):-len(mark)].strip()
    return text


def extract_final(response: str, multipart: bool = False) -> Extraction:
    """The final answer, in the order the module docstring gives; ``multipart``: the gold has
    several parts (``shape(gold) in ("list", "set")``), so consecutive boxes form one answer."""
    text = clean_response(response)
    marker_at, marked = _last_marker(text)
    box_at, boxed, note = _final_boxes(text, multipart)
    if boxed is not None and boxed.strip() and (box_at > marker_at or not marked):
        return Extraction(boxed.strip(), "boxed")
    if marked:
        return Extraction(_unbold(marked), "####")
    prose = _prose_answer(text)
    if prose and _unbold(prose):
        return Extraction(_unbold(prose), "answer-is")
    if marked is not None:
        return Extraction(None, "none", "empty answer after ####" + (f"; {note}" if note else ""))
    return Extraction(None, "none", f"no #### marker; {note}")


def strip_dollars(text: str) -> str:
    """``$x$`` / ``$$x$$`` -> ``x``: one pair of math delimiters around the whole answer, at most."""
    text = text.strip()
    for delim in ("$$", "$"):
        if len(text) > 2 * len(delim) and text.startswith(delim) and text.endswith(delim) \
                and delim not in text[len(delim):-len(delim)].replace("\\$", ""):
            return text[len(delim):-len(delim)].strip()
    return text


def _top_level_comma(text: str) -> bool:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0 and text[i - 1 : i] != "\\":
            return True
    return False


_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)\b")


def shape(text: str) -> str:
    """``set`` (``\\{a, b\\}``), ``tuple`` (``(a, b)`` / ``[a, b)`` ...: brackets around a comma
    list), ``list`` (a bare comma list) or ``single``."""
    t = _SIZING.sub("", strip_dollars(text)).replace(" ", "")
    if t.startswith("\\{") and t.endswith("\\}"):
        return "set"
    if t[:1] in "([" and t[-1:] in ")]" and _top_level_comma(t[1:-1]):
        return "tuple"
    return "list" if _top_level_comma(t) else "single"
