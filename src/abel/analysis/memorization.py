"""Memorization probe: does a generation reproduce a training rationale nearly verbatim?

For each generated response:
- *overlap*: the largest share of the response's word ``n``-grams found in the target of one single
  training example. A response counts as *memorized* when the overlap is at least ``threshold``.
- *nearness*: the Jaccard similarity of the test question's word 3-grams to those of the most similar
  training question. The question is *near* when the similarity is at least ``near``.

Memorized rates are then compared for near and far questions. Copying the rationale of a
near-identical training question is the signature of memorization, not reasoning. Words are
whitespace tokens, lower-cased, so numbers and operators count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from abel.analysis.stats import proportion
from abel.report.tables import markdown_table


def words(text: str) -> list[str]:
    return text.lower().split()


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


class TrainIndex:
    """Inverted indexes over the training set: question 3-grams and target ``n``-grams -> examples."""

    def __init__(self, train: Sequence[dict[str, Any]], n: int = 8):
        self.n = n
        self.ids = [str(r["id"]) for r in train]
        self.q_sizes: list[int] = []
        self.q_index: dict[tuple[str, ...], list[int]] = {}
        self.t_index: dict[tuple[str, ...], list[int]] = {}
        for k, row in enumerate(train):
            q = ngrams(words(row["question"]), 3)
            self.q_sizes.append(len(q))
            for g in q:
                self.q_index.setdefault(g, []).append(k)
            for g in ngrams(words(row["target"]), n):
                self.t_index.setdefault(g, []).append(k)

    def nearest_question(self, question: str) -> tuple[str | None, float]:
        q = ngrams(words(question), 3)
        shared = Counter(k for g in q for k in self.q_index.get(g, ()))
        if not shared:
            return None, 0.0
        k, best = max(((k, c / (len(q) + self.q_sizes[k] - c)) for k, c in shared.items()), key=lambda x: (x[1], -x[0]))
        return self.ids[k], best

    def overlap(self, response: str) -> tuple[str | None, float | None]:
        """(training example, share of the response's n-grams in its target); None when the response is too short."""
        grams = ngrams(words(response), self.n)
        if not grams:
            return None, None
        shared = Counter(k for g in grams for k in self.t_index.get(g, ()))
        if not shared:
            return None, 0.0
        k, c = max(shared.items(), key=lambda x: (x[1], -x[0]))
        return self.ids[k], c / len(grams)


@dataclass(frozen=True)
class Probe:
    id: str
    benchmark: str
    nearest_train_id: str | None
    question_similarity: float
    source_train_id: str | None
    overlap: float | None  # None: response shorter than n words
    memorized: bool
    correct: bool


def probe(rows: Iterable[tuple[str, str, dict[str, Any]]], index: TrainIndex, threshold: float = 0.8) -> list[Probe]:
    """``rows``: (benchmark, question, scored row with ``response`` and ``correct``)."""
    out = []
    for benchmark, question, row in rows:
        near_id, sim = index.nearest_question(question)
        src_id, ov = index.overlap(str(row.get("response", "")))
        out.append(Probe(str(row["id"]), benchmark, near_id, round(sim, 4), src_id,
                         None if ov is None else round(ov, 4), ov is not None and ov >= threshold, bool(row["correct"])))
    return out


def summary(probes: Sequence[Probe], near: float = 0.5, *, ci: float = 0.95) -> list[dict[str, Any]]:
    """Memorized rate (with a Wilson interval) and accuracy for near and far questions, per benchmark."""
    out = []
    for benchmark in sorted({p.benchmark for p in probes}):
        for group in ("near", "far"):
            members = [p for p in probes if p.benchmark == benchmark and (p.question_similarity >= near) == (group == "near")]
            if not members:
                continue
            rate = proportion([p.memorized for p in members], ci=ci)
            measured = [p.overlap for p in members if p.overlap is not None]
            out.append({"benchmark": benchmark, "group": group, "n": len(members), "memorized": rate.value,
                        "ci_lo": rate.lo, "ci_hi": rate.hi, "ci": ci,
                        "mean_overlap": sum(measured) / len(measured) if measured else None,
                        "too_short": len(members) - len(measured),
                        "accuracy": sum(p.correct for p in members) / len(members)})
    return out


def markdown(rows: Sequence[dict[str, Any]], n: int, threshold: float, near: float) -> str:
    if not rows:
        return "No generations to probe.\n"
    head = (f"A response is *memorized* when at least {threshold:.0%} of its word {n}-grams occur in one training "
            f"target; a question is *near* when its word-3-gram Jaccard similarity to a training question is at "
            f"least {near}.\n\n")
    level = f"{100 * rows[0]['ci']:g}% Wilson interval"
    return head + markdown_table(
        ["benchmark", "questions", "n", "memorized", level, "mean overlap", "accuracy"],
        [[r["benchmark"], r["group"], r["n"], f"{r['memorized']:.1%}", f"[{r['ci_lo']:.1%}, {r['ci_hi']:.1%}]",
          "-" if r["mean_overlap"] is None else f"{r['mean_overlap']:.2f}", f"{r['accuracy']:.1%}"] for r in rows])


def to_dicts(probes: Sequence[Probe]) -> list[dict[str, Any]]:
    return [asdict(p) for p in probes]
