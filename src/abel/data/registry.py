"""Benchmarks as data: one YAML per benchmark in ``benchmarks/`` (lm-evaluation-harness style).

Each entry says where its file lives (under ``data.dir``, with the canonical remote), how to build
the question (a ``str.format`` template over the row, plus options for multiple choice), how to
read the gold answer, which answer kind the scorer uses, and which fields are tags. Entries are
validated on load; an error names the YAML file and the key.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from abel.io import InputError, read_jsonl
from abel.modelio import ABEL_PROMPT, question_from_abel_prompt
from abel.scoring.extract import last_boxed
from abel.scoring.numeric import plain_number

REGISTRY_DIR = Path(__file__).parent / "benchmarks"


class RegistryError(ValueError):
    pass


class GoldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    extract: Literal["field", "after_hash", "last_boxed", "number", "strip_unit", "letter"]


class GeneratorSpec(BaseModel):
    """A procedural benchmark (abel.data.procedural): no file, a fixed seed, a fixed size."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["chain_sum", "gsm_perturb"]
    seed: int
    size: int = Field(gt=0)
    args: dict[str, int | str] = {}


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    file: str = ""  # under data.dir (a file benchmark)
    remote: str = ""
    generator: GeneratorSpec | None = None  # or a procedural one
    format: Literal["jsonl", "json"] = "jsonl"
    id_field: str | None = None  # default: the row number, counted from id_base
    id_base: Literal[0, 1] = 1
    question: str  # str.format template over the row's fields
    question_extract: Literal["none", "abel_prompt"] = "none"
    options: Literal["none", "tal", "mathqa"] = "none"
    gold: GoldSpec
    kind: Literal["numeric", "latex", "choice", "auto"]  # auto: inferred per gold by the scorer
    tags: list[str] = []
    prompt: str = ABEL_PROMPT

    @model_validator(mode="after")
    def _one_source(self) -> "Benchmark":
        if bool(self.file) == (self.generator is not None):
            raise ValueError("give either 'file' (+ 'remote') or 'generator', not both or neither")
        if self.file and not self.remote:
            raise ValueError("a file benchmark needs 'remote' (its canonical URL)")
        return self


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    gold: str
    kind: str | None  # None: let the scorer infer it from the gold
    prompt: str
    tags: dict[str, Any] = field(default_factory=dict)


@cache
def benchmarks() -> dict[str, Benchmark]:
    out = {}
    for path in sorted(REGISTRY_DIR.glob("*.yaml")):
        try:
            bench = Benchmark.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except ValidationError as exc:
            keys = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise RegistryError(f"{path}: {keys}") from None
        if bench.name != path.stem:
            raise RegistryError(f"{path}: name '{bench.name}' must equal the file name '{path.stem}'")
        out[bench.name] = bench
    return out


def get(name: str) -> Benchmark:
    try:
        return benchmarks()[name]
    except KeyError:
        raise RegistryError(f"unknown benchmark '{name}' (known: {', '.join(benchmarks())})") from None


def _gold(spec: GoldSpec, row: dict[str, Any]) -> str:
    value = row[spec.field]
    text = str(value).strip()
    if spec.extract == "after_hash":
        return text.rpartition("####")[2].strip().replace(",", "")
    if spec.extract == "last_boxed":
        boxed, note = last_boxed(text)
        if boxed is None:
            raise ValueError(note)
        return re.sub(r"\s*\n\s*", " ", boxed.strip())
    if spec.extract == "number":
        return plain_number(float(value))
    if spec.extract == "strip_unit":  # ASDiv: "9 (apples)" -> "9"; "Yes" stays
        return re.sub(r"\s*\([^()]*\)\s*$", "", text)
    if spec.extract == "letter":
        return text.upper()
    return text


def _options(kind: str, row: dict[str, Any]) -> str:
    if kind == "tal":
        opts = [o[0] if isinstance(o, list) else o for o in row["answer_option_list"]]
        return "\n".join(f"({o['aoVal']}) {str(o.get('content', '')).strip()}" for o in opts)
    # mathqa: "a ) 12 , b ) 16 , ..." -> "(A) 12\n(B) 16 ..."
    parts = re.split(r"(?:^|\s,\s)([a-e])\s\)\s", row["options"])
    return "\n".join(f"({parts[i].upper()}) {parts[i + 1].strip()}" for i in range(1, len(parts) - 1, 2))


def _rows(bench: Benchmark, path: Path) -> list[dict[str, Any]]:
    if bench.generator is not None:
        from abel.data.procedural import GENERATORS

        gen = bench.generator
        return list(GENERATORS[gen.name](gen.seed, gen.size, **gen.args))
    if bench.format == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    try:
        return read_jsonl(path)
    except InputError as exc:
        raise RegistryError(str(exc)) from None


def question_of(bench: Benchmark, row: dict[str, Any]) -> str:
    question = bench.question.format(**row).strip()
    if bench.question_extract == "abel_prompt":
        question = question_from_abel_prompt(question)
    if bench.options != "none":
        question += "\n" + _options(bench.options, row)
    return question


def load(name: str, data_dir: Path, limit: int | None = None, seed: int = 0) -> list[Item]:
    """The benchmark's items; ``limit`` takes a fixed, seeded subset (kept in file order)."""
    bench = get(name)
    path = data_dir / bench.file
    if bench.generator is None and not path.is_file():
        raise RegistryError(f"benchmark '{name}': missing {path} (canonical copy: {bench.remote}); "
                            "set data.dir in params.yaml to the folder holding it")
    rows = _rows(bench, path)
    indices = range(len(rows))
    if limit is not None and limit < len(rows):
        indices = sorted(random.Random(seed).sample(range(len(rows)), limit))
    items = []
    for i in indices:
        row = rows[i]
        try:
            question = question_of(bench, row)
            gold = _gold(bench.gold, row)
        except (KeyError, ValueError, IndexError) as exc:
            where = f"generator {bench.generator.name}" if bench.generator else str(path)
            raise RegistryError(f"{where}: row {i + 1}: {type(exc).__name__}: {exc}") from None
        rid = str(row[bench.id_field]) if bench.id_field else str(i + bench.id_base)
        items.append(Item(rid, question, gold, None if bench.kind == "auto" else bench.kind,
                          bench.prompt.format(question=question), {t: row.get(t) for t in bench.tags}))
    return items
