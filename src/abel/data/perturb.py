"""Controlled perturbations of GSM8K-style questions with known answers (GSM-Symbolic templates).

reasoning-gym's ``gsm_symbolic`` builds each question from a template and records its variables:
person names, other words (objects, currency) and numbers. For each base question, the same
template is drawn again with a fresh random state. From the two draws come four paired versions,
all sharing the same id:

- ``base``: the question as drawn;
- ``names``: the base with only the person names changed. The answer is the base answer.
- ``numbers``: the second draw with the base's names and words put back. Only the numbers changed,
  and the answer is the second draw's answer, computed by the template.
- ``both``: the second draw with the base's words put back. Names and numbers changed; the answer is
  the second draw's.

Names and words are swapped as whole words, all at once. A version is kept only if no old value is
left in it and its numbers really differ (or, for ``names``, really stay the same).
The templates come from GSM8K *test* questions: these sets are for evaluation, never for training.
"""

from __future__ import annotations

import re
from functools import cache
from random import Random
from typing import Any

VARIANTS = ("base", "names", "numbers", "both")
_TAIL = re.compile(r"\s*Give the result as your final answer\..*$", re.DOTALL)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and value[:1].isupper() and value.replace(" ", "").isalpha()


def _words(variables: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in variables.items() if isinstance(v, str) and not _is_name(v)}


def _names(variables: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in variables.items() if _is_name(v)}


def _word_pattern(value: str) -> str:
    """``value`` as a whole word (plural -s/-es allowed); a symbol such as ``$`` needs no boundary."""
    head = r"(?<!\w)" if value[:1].isalnum() else ""
    tail = r"(?:e?s)?(?!\w)" if value[-1:].isalnum() else ""
    return head + re.escape(value) + tail


def swap(text: str, mapping: dict[str, str]) -> str:
    """Replace whole-word occurrences of each key by its value, simultaneously (no chains); a
    plural suffix stays ("chess puzzles" -> "jigsaw puzzles")."""
    mapping = {k: v for k, v in mapping.items() if k != v and k}
    if not mapping:
        return text
    keys = sorted(mapping, key=len, reverse=True)
    pattern = re.compile("|".join(f"(?P<k{i}>{_word_pattern(k)})" for i, k in enumerate(keys)))

    def replace(m: re.Match[str]) -> str:
        key = keys[int(m.lastgroup[1:])]  # type: ignore[index]
        return mapping[key] + m.group(0)[len(key):]

    return pattern.sub(replace, text)


def _contains(text: str, values: list[str]) -> bool:
    return any(re.search(_word_pattern(v), text) for v in values if v)


def _numbers(text: str) -> list[str]:
    return _NUMBER.findall(text)


def _versions(base: dict[str, Any], other: dict[str, Any]) -> dict[str, tuple[str, str]] | None:
    """The four (question, answer) versions, or None when this pair of draws cannot give clean ones."""
    bv, ov = base["metadata"]["variables"], other["metadata"]["variables"]
    bn, on = _names(bv), _names(ov)
    bw, ow = _words(bv), _words(ov)
    if not bn or set(bn) != set(on) or set(bw) != set(ow) or any(bn[k] == on[k] for k in bn):
        return None
    if len(set(bn.values())) != len(bn) or len(set(on.values())) != len(on):
        return None  # two variables with one value: a swap could not tell them apart
    base_q, other_q = _TAIL.sub("", base["question"]), _TAIL.sub("", other["question"])
    names_back = {on[k]: bn[k] for k in bn}
    words_back = {ow[k]: bw[k] for k in bw}
    out = {
        "base": (base_q, base["answer"]),
        "names": (swap(base_q, {bn[k]: on[k] for k in bn}), base["answer"]),
        "numbers": (swap(other_q, {**words_back, **names_back}), other["answer"]),
        "both": (swap(other_q, words_back), other["answer"]),
    }
    old_names, new_names = list(bn.values()), list(on.values())
    moved_words = [v for k, v in ow.items() if v != bw[k]]
    if (_contains(out["names"][0], old_names) or _contains(out["numbers"][0], new_names)
            or _contains(out["both"][0], old_names) or _contains(out["numbers"][0], moved_words)
            or _contains(out["both"][0], moved_words)):
        return None
    if _numbers(out["names"][0]) != _numbers(base_q) or _numbers(out["numbers"][0]) == _numbers(base_q):
        return None
    # with the numbers masked, `numbers` must read exactly like `base` and `both` like `names`
    # (a template that also draws words outside its variables, e.g. a list of items, fails here)
    if (_NUMBER.sub("0", out["numbers"][0]) != _NUMBER.sub("0", base_q)
            or _NUMBER.sub("0", out["both"][0]) != _NUMBER.sub("0", out["names"][0])):
        return None
    return out


@cache
def perturbation_sets(seed: int, size: int, attempts: int = 20) -> dict[str, tuple[dict[str, Any], ...]]:
    """{variant: rows}. Row ``i`` of every variant comes from the same base question (id ``i``)."""
    import reasoning_gym

    data = reasoning_gym.create_dataset("gsm_symbolic", seed=seed, size=size)
    sets: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for idx in range(size):
        base = data[idx]
        template = data.task_indices[idx]
        generator = data.generators[template]
        for attempt in range(attempts):
            other = generator(Random(f"abel-perturb:{seed}:{idx}:{attempt}"), 1.0)
            versions = _versions(base, other)
            if versions is not None:
                break
        else:
            continue  # no clean pair for this question (e.g. its template has no person name)
        for variant, (question, answer) in versions.items():
            sets[variant].append({"id": idx, "question": question, "answer": str(answer), "template": template})
    return {v: tuple(rows) for v, rows in sets.items()}


def gsm_perturb_rows(seed: int, size: int, variant: str) -> list[dict[str, Any]]:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (expected one of {', '.join(VARIANTS)})")
    return list(perturbation_sets(seed, size)[variant])
