"""Training sources and evaluation sets: where each file lives, how to read it, one schema.

Every real source has a canonical remote (its pin in ``abel.data.fetch``) and a path under the data
directory (``params.yaml: data.dir``, which the fetch stage fills). A local copy always wins; without
one, the stage downloads the pinned file (sha256 checked) into ``data/raw/`` when ``curate.download``
is on, and otherwise (or offline) stops with one message naming the missing file and how to point the
stage at it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abel.data.fetch import PINNED, FetchError, fetch_one
from abel.io import InputError
from abel.scoring.extract import last_boxed
from abel.scoring.numeric import parse_number


class SourceError(RuntimeError):
    """A source file is missing or cannot be fetched; the message says which and how to fix it."""


class BadRecord(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"field '{field_name}': {message}")
        self.field = field_name


@dataclass(frozen=True)
class Record:
    id: str
    source: str
    question: str
    rationale: str
    answer: str
    kind: str  # numeric | latex | choice (how the scorer reads the answer)
    tags: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "question": self.question, "rationale": self.rationale,
                "answer": self.answer, "kind": self.kind, "tags": self.tags}


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(key, "missing or empty")
    return value.strip()


def count_steps(rationale: str) -> int:
    """Reasoning steps of a worked solution (the text before its ``####`` answer line): non-empty lines."""
    return sum(1 for line in rationale.splitlines() if line.strip())


def _gsm8k(raw: dict[str, Any], rid: str, source: str) -> Record:
    question, solution = _text(raw, "question"), _text(raw, "answer")
    if "####" not in solution:
        raise BadRecord("answer", "no '#### <answer>' line")
    rationale, _, answer = solution.rpartition("####")
    answer = answer.strip().replace(",", "")
    if parse_number(answer) is None:
        raise BadRecord("answer", f"final answer {answer!r} is not a number")
    rationale = rationale.strip()
    if not rationale:
        raise BadRecord("answer", "empty rationale before '####'")
    steps = count_steps(rationale)
    return Record(rid, source, question, rationale, answer, "numeric", {"steps": steps})


def _math(raw: dict[str, Any], rid: str, source: str) -> Record:
    problem, solution = _text(raw, "problem"), _text(raw, "solution")
    answer, note = last_boxed(solution)
    if not answer or not answer.strip():
        raise BadRecord("solution", "no final answer (" + (note or "empty \\boxed{}") + ")")
    level = re.fullmatch(r"Level (\d)", str(raw.get("level", "")))
    return Record(rid, source, problem, solution, answer.strip(), "latex",
                  {"level": int(level.group(1)) if level else None, "subject": raw.get("type")})


def _tal(raw: dict[str, Any], rid: str, source: str) -> Record:
    problem = _text(raw, "problem")
    letter = _text(raw, "answer_value").upper()
    options = raw.get("answer_option_list")
    if not isinstance(options, list) or not options:
        raise BadRecord("answer_option_list", "missing or empty")
    labels = []
    for opt in options:
        item = opt[0] if isinstance(opt, list) and opt else opt
        if not isinstance(item, dict) or "aoVal" not in item:
            raise BadRecord("answer_option_list", "an option lacks 'aoVal'")
        labels.append(f"({item['aoVal']}) {str(item.get('content', '')).strip()}")
    if letter not in {lab[1] for lab in labels}:
        raise BadRecord("answer_value", f"{letter!r} is not one of the options")
    analysis = raw.get("answer_analysis") or []
    rationale = "\n".join(str(a).strip() for a in analysis if str(a).strip())
    if not rationale:
        raise BadRecord("answer_analysis", "missing or empty")
    question = problem + "\nOptions: " + " ".join(labels)
    return Record(rid, source, question, rationale, letter, "choice", {"difficulty": raw.get("difficulty")})


_INSTRUCTION_TAIL = re.compile(r"\s*Give the result as your final answer\..*$", re.DOTALL)


def _gsm_symbolic(raw: dict[str, Any], rid: str, source: str) -> Record:
    question = _INSTRUCTION_TAIL.sub("", _text(raw, "question"))
    cot = (raw.get("metadata") or {}).get("answer_cot") or ""
    answer = _text(raw, "answer").replace(",", "")
    if parse_number(answer) is None:
        raise BadRecord("answer", f"final answer {answer!r} is not a number")
    rationale = cot.rpartition("####")[0].strip() if "####" in cot else cot.strip()
    if not rationale:
        raise BadRecord("metadata.answer_cot", "missing or empty")
    steps = count_steps(rationale)
    return Record(rid, source, question, rationale, answer, "numeric", {"steps": steps})


@dataclass(frozen=True)
class SourceSpec:
    name: str
    local: str  # path under the data directory
    remote: str  # canonical file URL (same format as the local copy)
    reader: Callable[[dict[str, Any], str, str], Record]
    derived_from: tuple[str, ...] = ()  # eval sets whose items this source is built from


def _pinned(name: str, local: str, reader: Callable[[dict[str, Any], str, str], Record]) -> SourceSpec:
    """A real source: its canonical URL is its pin's (``abel.data.fetch.PINS``; MATH train's is the
    archive its 7,500 problem files are assembled from)."""
    return SourceSpec(name, local, PINNED[local].url, reader)


TRAIN_SOURCES: dict[str, SourceSpec] = {
    "gsm8k": _pinned("gsm8k", "gsm8k/train.jsonl", _gsm8k),
    "math": _pinned("math", "math/train.jsonl", _math),
    "tal_scq5k": _pinned("tal_scq5k", "tal_scq5k_en/en_single_choice_train_3K.jsonl", _tal),
}
# reasoning-gym's gsm_symbolic templates are GSM-Symbolic's, built from GSM8K *test* questions.
PROCEDURAL = SourceSpec("gsm_symbolic", "", "reasoning-gym (procedural, offline)", _gsm_symbolic,
                        derived_from=("gsm8k",))


def _chain_sum(raw: dict[str, Any], rid: str, source: str) -> Record:
    return Record(rid, source, raw["question"], raw["rationale"], raw["answer"], "numeric",
                  {"steps": raw["terms"] - 1})


# Short multi-step arithmetic with computed derivations; the chain_sum benchmark is the same
# generator under another seed, and exact-match decontamination removes the questions they share.
CHAIN_SUM = SourceSpec("chain_sum", "", "reasoning-gym chain_sum (procedural, offline)", _chain_sum)
PROCEDURAL_SOURCES = {PROCEDURAL.name: PROCEDURAL, CHAIN_SUM.name: CHAIN_SUM}


def resolve(spec: SourceSpec, data_dir: Path, download_dir: Path | None) -> Path:
    """The local file for ``spec``: under ``data_dir``, else downloaded into ``download_dir`` from its
    pinned source (``abel.data.fetch``: sha256 checked, MATH train assembled as the fetch stage does)."""
    local = data_dir / spec.local
    if local.is_file():
        return local
    if download_dir is not None:
        cached = download_dir / spec.local
        if cached.is_file():
            return cached
        try:
            fetch_one(PINNED[spec.local], cached)
            return cached
        except FetchError as exc:
            raise SourceError(
                f"source '{spec.name}': no local copy at {local}, and {exc}. Put the file at {local} "
                f"(or {cached}), or set data.dir in params.yaml to a folder holding it, e.g. "
                "`dvc exp run -S data.dir=/path/to/data`; `abel fetch` fills data/sources from a mirror."
            ) from None
    raise SourceError(
        f"source '{spec.name}': no local copy at {local} and curate.download is off. Put the file there "
        f"(canonical copy: {spec.remote}), or set data.dir in params.yaml to a folder holding it."
    )


def read_source(spec: SourceSpec, path: Path) -> Iterator[tuple[int, Record | BadRecord]]:
    """(line number, record or the reason it is bad) for each line; invalid JSON raises InputError."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
            try:
                if not isinstance(raw, dict):
                    raise BadRecord("<line>", "not a JSON object")
                yield lineno, spec.reader(raw, f"{spec.name}/{lineno}", spec.name)
            except BadRecord as bad:
                yield lineno, bad


def procedural_records(size: int, seed: int, name: str = "gsm_symbolic") -> Iterator[tuple[int, Record | BadRecord]]:
    """Records of a procedural source. chain_sum uses the generator settings of its benchmark entry."""
    spec = PROCEDURAL_SOURCES[name]
    if name == CHAIN_SUM.name:
        from abel.data import registry
        from abel.data.procedural import chain_sum_rows

        gen = registry.get("chain_sum").generator
        assert gen is not None
        raws: Iterator[dict[str, Any]] = chain_sum_rows(seed, size, **gen.args)
    else:
        import reasoning_gym

        raws = iter(reasoning_gym.create_dataset(name, seed=seed, size=size))
    for i, raw in enumerate(raws, start=1):
        try:
            yield i, spec.reader(raw, f"{name}/{seed}/{i}", name)
        except BadRecord as bad:
            yield i, bad


def load_eval_questions(data_dir: Path, names: list[str]) -> dict[str, list[tuple[str, str]]]:
    """{benchmark: [(item id, question text)]} from the benchmark registry, for decontamination."""
    from abel.data import registry

    try:
        return {name: [(item.id, item.question) for item in registry.load(name, data_dir)] for name in names}
    except registry.RegistryError as exc:
        raise SourceError(f"decontamination: {exc} (or drop it from curate.decontaminate_against)") from None
