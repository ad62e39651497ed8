"""The curate stage: sources -> filters -> mixing/curriculum -> train/val, with a counted funnel."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from abel import artifacts as A
from abel.config import CurateParams
from abel.curation import filters, formats
from abel.curation.tokens import token_counter
from abel.data.sources import (
    PROCEDURAL_SOURCES,
    TRAIN_SOURCES,
    BadRecord,
    Record,
    SourceError,
    load_eval_questions,
    procedural_records,
    read_source,
    resolve,
)
from abel.io import relative_to, write_json, write_jsonl
from abel.report.tables import markdown_table

STEPS = ("read", "malformed", "unverified", "too_long", "duplicate", "near_duplicate", "contaminated", "kept", "selected")


class CurationError(RuntimeError):
    pass


def difficulty(record: Record) -> float:
    """For curriculum order: MATH level, GSM8K-style step count, else 0."""
    if record.tags.get("level") is not None:
        return float(record.tags["level"])
    return float(record.tags.get("steps") or 0)


def curate(cfg: CurateParams, data_dir: Path, root: Path, progress: bool = True, out: Path | None = None) -> dict[str, Any]:
    """Run every filter, write ``data/curated/{train,val}.jsonl`` and the curation report files under ``out``
    (default ``root``: the curate stage; a comparison run keeps its own under its folder)."""
    out = root if out is None else out
    active = {name: w for name, w in cfg.sources.items() if w > 0}
    funnel: dict[str, Counter[str]] = {name: Counter() for name in active}
    drops: list[filters.Drop] = []
    bad_records: list[dict[str, Any]] = []
    records: list[Record] = []

    for name in tqdm(active, desc="read sources", disable=not progress):
        if name in PROCEDURAL_SOURCES:
            where, rows = PROCEDURAL_SOURCES[name].remote, procedural_records(cfg.procedural_size, cfg.seed, name)
        else:
            spec = TRAIN_SOURCES[name]
            path = resolve(spec, data_dir, root / "data" / "raw" if cfg.download else None)
            where, rows = str(path), read_source(spec, path)
        # the report (a tracked file) names files relative to data.dir, so it is the same on every machine
        shown = where if name in PROCEDURAL_SOURCES else _relative(Path(where), data_dir, root)
        for lineno, item in rows:
            funnel[name]["read"] += 1
            if isinstance(item, BadRecord):
                if cfg.on_bad_record == "error":
                    raise CurationError(f"{where}:{lineno}: {item} (set curate.on_bad_record: skip to drop such records)")
                funnel[name]["malformed"] += 1
                bad_records.append({"source": name, "file": shown, "line": lineno, "field": item.field, "error": str(item)})
                continue
            records.append(item)

    by_id = {r.id: r for r in records}

    def drop(found: list[filters.Drop]) -> None:
        nonlocal records
        gone = {d.record_id for d in found}
        for d in found:
            funnel[by_id[d.record_id].source][d.reason] += 1
        drops.extend(found)
        records = [r for r in records if r.id not in gone]

    if cfg.verify_answer:
        drop([filters.Drop(r.id, "unverified", why) for r in records if (why := filters.verify_answer(r))])

    targets = {r.id: formats.render(r, cfg.format, cfg.keep_calculator_annotations) for r in records}
    if cfg.max_tokens:
        count = token_counter(cfg.tokenizer)
        texts = [formats.prompt(r) + targets[r.id] for r in records]
        lengths = []
        for start in tqdm(range(0, len(texts), 1024), desc="count tokens", disable=not progress):
            lengths += count(texts[start:start + 1024])
        drop([filters.Drop(r.id, "too_long", f"{n} tokens > {cfg.max_tokens}")
              for r, n in zip(records, lengths) if n > cfg.max_tokens])

    if cfg.dedupe:
        drop(filters.near_duplicates(records, cfg.near_dup_threshold))

    hits: list[filters.Hit] = []
    if cfg.decontaminate:
        evals = load_eval_questions(data_dir, list(cfg.decontaminate_against))
        provenance = (lambda r: PROCEDURAL_SOURCES[r.source].derived_from if r.source in PROCEDURAL_SOURCES else ())
        hits = filters.contamination(records, evals, cfg.ngram, cfg.ngram_min_overlap, provenance, cfg.ngram_normalize)
        first_hit: dict[str, filters.Hit] = {}
        for h in hits:
            first_hit.setdefault(h.train_id, h)
        drop([filters.Drop(rid, "contaminated", f"{h.test_set}#{h.test_id} ({h.method}, overlap {h.overlap})")
              for rid, h in first_hit.items()])

    for r in records:
        funnel[r.source]["kept"] += 1

    # mixing: each source gets its weight's share of max_records (all kept records if 0)
    rng = random.Random(cfg.seed)
    total_weight = sum(active.values())
    selected: list[Record] = []
    for name, weight in active.items():
        pool = [r for r in records if r.source == name]
        quota = len(pool) if cfg.max_records == 0 else min(len(pool), round(cfg.max_records * weight / total_weight))
        chosen = rng.sample(pool, quota)
        funnel[name]["selected"] = len(chosen)
        selected += chosen
    rng.shuffle(selected)
    n_val = round(len(selected) * cfg.val_fraction)
    val, train = selected[:n_val], selected[n_val:]
    if cfg.curriculum == "easy_to_hard":
        train.sort(key=difficulty)  # stable: ties keep the seeded shuffle order
    if not train:
        raise CurationError("no training records left after filtering: loosen curate filters or add sources")

    def rows(items: list[Record]) -> list[dict[str, Any]]:
        return [{**r.to_dict(), "prompt": formats.prompt(r), "target": targets[r.id]} for r in items]

    write_jsonl(out / A.CURATED_TRAIN, rows(train))
    write_jsonl(out / A.CURATED_VAL, rows(val))

    report = {
        "funnel": {name: {step: funnel[name][step] for step in STEPS} for name in active},
        "train": len(train), "val": len(val),
        "format": cfg.format, "curriculum": cfg.curriculum,
        "drop_examples": _examples(drops, by_id),
        "malformed": bad_records,
        "contamination": {"hits": len(hits), "records": len({h.train_id for h in hits}),
                          "by_test_set": dict(Counter(h.test_set for h in hits)),
                          "by_method": dict(Counter(h.method for h in hits))},
    }
    reports = out / A.CURATION_REPORTS
    write_json(out / A.CURATION_REPORT, report)
    write_jsonl(reports / "contamination.jsonl", (asdict(h) for h in hits))
    write_jsonl(reports / "dropped.jsonl", (asdict(d) for d in drops))
    return report


def _relative(path: Path, data_dir: Path, root: Path) -> str:
    for base, label in ((data_dir, "<data.dir>"), (root, ".")):
        if (rel := relative_to(path, base)) is not None:
            return f"{label}/{rel}"
    return str(path)


def _examples(drops: list[filters.Drop], by_id: dict[str, Record], per_reason: int = 3) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for d in drops:
        bucket = out.setdefault(d.reason, [])
        if len(bucket) < per_reason:
            bucket.append({"id": d.record_id, "detail": d.detail, "question": by_id[d.record_id].question[:300]})
    return out


def funnel_markdown(report: dict[str, Any]) -> str:
    body = markdown_table(["source", *STEPS], [[name, *(c[s] for s in STEPS)] for name, c in report["funnel"].items()])
    body += f"\ntrain: {report['train']}, val: {report['val']} (format: {report['format']}, curriculum: {report['curriculum']})\n"
    body += (f"\ncontamination: {report['contamination']['hits']} hits on {report['contamination']['records']} "
             f"training records, by test set: {report['contamination']['by_test_set']}\n")
    for reason, examples in report["drop_examples"].items():
        body += f"\n### dropped: {reason}\n" + "".join(f"- `{e['id']}`: {e['detail']}\n" for e in examples)
    return body


__all__ = ["CurationError", "SourceError", "curate", "funnel_markdown"]
