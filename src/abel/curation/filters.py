"""Curation filters. Each returns the records it keeps and, for each drop, a reason."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from abel.data.sources import Record
from abel.scoring.numeric import numbers_equal, parse_number

_NUMBER_TOKEN = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Drop:
    record_id: str
    reason: str
    detail: str = ""


def verify_answer(record: Record) -> str:
    """'' if the rationale's own final result agrees with the gold answer, else why not.

    GSM8K-style: the answer must be one of the numbers on the rationale's final line (the line
    that computes it; "It takes 120/24 = 5 hours to read 120 pages" passes, "... is $0.25 more"
    with answer 25 does not). MATH: the answer is the last ``\\boxed{}``, so it agrees by
    construction. Choice: the rationale must not end by naming a different option.
    """
    if record.kind == "numeric":
        lines = [line for line in record.rationale.splitlines() if line.strip()]
        final = lines[-1].replace("<<", " ").replace(">>", " ") if lines else ""
        gold = parse_number(record.answer)
        values = [parse_number(tok) for tok in _NUMBER_TOKEN.findall(final)]
        if gold is not None and any(v is not None and numbers_equal(v, gold) for v in values):
            return ""
        return f"final line states {', '.join(_NUMBER_TOKEN.findall(final)) or 'no number'}; answer is {record.answer}"
    if record.kind == "choice":
        named = re.findall(r"\(([A-J])\)|\b(?:answer is|choose|option)\s*\(?([A-J])\b", record.rationale[-300:])
        letters = {a or b for a, b in named}
        if letters and record.answer not in letters:
            return f"rationale ends on option {sorted(letters)}, answer is {record.answer}"
    return ""


def _exact_key(text: str) -> str:
    """Case- and whitespace-insensitive question text (operators and punctuation kept)."""
    return " ".join(text.lower().split())


def near_duplicates(records: list[Record], threshold: float, num_perm: int = 64, seed: int = 1) -> list[Drop]:
    """Exact duplicates (case- and whitespace-insensitive question; operators count, so ``2 + 3`` and
    ``2 - 3`` differ) and MinHash-LSH near duplicates over word 3-grams; the first one stays."""
    from datasketch import MinHash, MinHashLSH

    drops: list[Drop] = []
    seen_exact: dict[str, str] = {}
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    shingle_sets = []
    kept: list[Record] = []
    for record in records:
        words = [w.lower() for w in _WORD.findall(record.question)]
        key = hashlib.sha1(_exact_key(record.question).encode()).hexdigest()
        if key in seen_exact:
            drops.append(Drop(record.id, "duplicate", f"same question as {seen_exact[key]}"))
            continue
        seen_exact[key] = record.id
        shingles = {" ".join(words[i:i + 3]).encode() for i in range(max(len(words) - 2, 1))}
        shingle_sets.append(shingles)
        kept.append(record)
    hashes = MinHash.bulk(shingle_sets, num_perm=num_perm, seed=seed)
    for record, mh in zip(kept, hashes):
        match = lsh.query(mh)
        if match:
            drops.append(Drop(record.id, "near_duplicate", f"near-duplicate of {sorted(match)[0]}"))
        else:
            lsh.insert(record.id, mh)
    return drops


def ngram_tokens(text: str, normalize: bool = False) -> list[str]:
    """Lower-cased words for contamination n-grams. With ``normalize``, numbers become 0 and
    capitalized words after the first become N (names), so template twins with changed numbers or
    names match too (this also flags many MATH problems that share a template with a test item)."""
    if not normalize:
        return [w.lower() for w in _WORD.findall(text)]
    words = _WORD.findall(re.sub(r"\d+(?:[.,]\d+)*", "0", text))
    return ["N" if i > 0 and w[0].isupper() and not w.isupper() else w.lower() for i, w in enumerate(words)]


def _ngrams(tokens: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class Hit:
    train_id: str
    test_set: str
    test_id: str
    overlap: float  # fraction of the train question's n-grams found in that test item (1.0 for exact)
    method: str  # "exact", "ngram" or "provenance"


def contamination(records: list[Record], eval_questions: dict[str, list[tuple[str, str]]], n: int,
                  min_overlap: float, provenance: Callable[[Record], tuple[str, ...]],
                  normalize: bool = False) -> list[Hit]:
    """Hits of train records against eval items: the same question text (exact, which also catches
    questions shorter than ``n`` words), n-gram overlap, or declared template provenance."""
    index: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    exact: dict[str, list[tuple[str, str]]] = {}
    for set_name, items in eval_questions.items():
        for item_id, text in items:
            exact.setdefault(_exact_key(text), []).append((set_name, item_id))
            for gram in set(_ngrams(ngram_tokens(text, normalize), n)):
                index.setdefault(gram, []).append((set_name, item_id))
    hits: list[Hit] = []
    for record in records:
        same = exact.get(_exact_key(record.question), [])
        if same:  # the first test item per set is enough to name the hit
            for set_name, item_id in sorted(dict(reversed(same)).items()):
                hits.append(Hit(record.id, set_name, item_id, 1.0, "exact"))
            continue
        grams = set(_ngrams(ngram_tokens(record.question, normalize), n))
        counts: dict[tuple[str, str], int] = {}
        for gram in grams:
            for ref in index.get(gram, ()):
                counts[ref] = counts.get(ref, 0) + 1
        for (set_name, item_id), count in sorted(counts.items()):
            overlap = count / len(grams)
            if overlap >= min_overlap:
                hits.append(Hit(record.id, set_name, item_id, round(overlap, 3), "ngram"))
        for set_name in provenance(record):
            if set_name in eval_questions and not any(h.train_id == record.id and h.test_set == set_name for h in hits):
                hits.append(Hit(record.id, set_name, "*", 1.0, "provenance"))
    return hits
