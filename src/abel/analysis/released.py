"""Analysis of scored released generations: accuracies with CIs, robustness pairs, step tags."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from abel.artifacts import model_order
from abel.data.sources import count_steps
from abel.analysis.stats import accuracy_by_tags, mcnemar_exact, paired_bootstrap_delta, proportion
from abel.modelio import question_from_abel_prompt
from abel.io import read_jsonl

Key = tuple[str, str, str]  # (benchmark, model, mode)
_WORD = re.compile(r"[a-z]+")


def load_scored(scored_dir: Path, required: bool = True) -> dict[Key, list[dict[str, Any]]]:
    """All ``<benchmark>/<model>.<mode>.jsonl`` files the score stage wrote (``required``: at least one)."""
    scored: dict[Key, list[dict[str, Any]]] = {}
    for path in sorted(scored_dir.glob("*/*.*.jsonl")):
        model, mode = path.stem.rsplit(".", 1)
        scored[(path.parent.name, model, mode)] = read_jsonl(path, required=("correct",))
    if not scored and required:
        raise FileNotFoundError(f"no scored files under {scored_dir}: run the score stage first (dvc repro score)")
    return scored


def accuracy_table(scored: dict[Key, list[dict[str, Any]]], *, ci: float) -> list[dict[str, Any]]:
    rows = []
    for (benchmark, model, mode), items in sorted(scored.items(), key=lambda kv: (kv[0][0], model_order(kv[0][1]), kv[0])):
        est = proportion([r["correct"] for r in items], ci=ci)
        timeouts = sum(str(r.get("reason", "")).startswith("timeout") for r in items)
        rows.append({"benchmark": benchmark, "model": model, "mode": mode, "accuracy": est.value,
                     "ci_lo": est.lo, "ci_hi": est.hi, "ci": ci, "n": est.n, "timeouts": timeouts})
    return rows


def _question_words(prompt: str) -> set[str]:
    return set(_WORD.findall(prompt.lower()))


def robustness_table(scored: dict[Key, list[dict[str, Any]]], pairs: list[tuple[str, str]], *,
                     resamples: int, ci: float, seed: int, min_overlap: float = 0.5) -> list[dict[str, Any]]:
    """Per model and mode: base vs perturbed accuracy, paired bootstrap CI of the delta, McNemar.

    Questions are paired by id; a pair counts only if the two prompts share at least
    ``min_overlap`` of their words (numbers ignored), which guards against misaligned files.
    """
    rows = []
    for base_name, other_name in pairs:
        for (bench, model, mode), base in sorted(scored.items(), key=lambda kv: (model_order(kv[0][1]), kv[0])):
            if bench != base_name or (other_name, model, mode) not in scored:
                continue
            other_by_id = {r["id"]: r for r in scored[(other_name, model, mode)]}
            a, b, overlaps = [], [], []
            for row in base:
                twin = other_by_id.get(row["id"])
                if twin is None:
                    continue
                wa, wb = _question_words(row.get("prompt", "")), _question_words(twin.get("prompt", ""))
                overlap = len(wa & wb) / max(len(wa | wb), 1)
                if overlap < min_overlap:
                    continue
                overlaps.append(overlap)
                a.append(bool(row["correct"]))
                b.append(bool(twin["correct"]))
            if not a:
                continue
            delta = paired_bootstrap_delta(a, b, resamples=resamples, ci=ci, seed=seed)
            test = mcnemar_exact(a, b)
            rows.append({
                "base": base_name, "perturbed": other_name, "model": model, "mode": mode,
                "n_paired": len(a), "n_base": len(base), "n_perturbed": len(other_by_id),
                "min_prompt_overlap": round(min(overlaps), 3),
                "acc_base": float(np.mean(a)), "acc_perturbed": float(np.mean(b)),
                "delta": delta.value, "delta_lo": delta.lo, "delta_hi": delta.hi, "ci": ci,
                "mcnemar": test.to_dict(),
            })
    return rows


def gsm8k_step_tags(test_file: Path) -> dict[str, int]:
    """Question text -> number of reasoning steps (solution lines before ``####``) in GSM8K test."""
    tags = {}
    for row in read_jsonl(test_file, required=("question", "answer")):
        tags[row["question"].strip()] = count_steps(row["answer"].split("####")[0])
    return tags


def steps_table(scored: dict[Key, list[dict[str, Any]]], step_tags: dict[str, int], *, benchmark: str = "gsm8k",
                max_bucket: int = 8, ci: float) -> list[dict[str, Any]]:
    """Accuracy by number of gold reasoning steps (``>= max_bucket`` pooled), per model and mode."""
    out = []
    for (bench, model, mode), items in sorted(scored.items()):
        if bench != benchmark:
            continue
        kept = [(r, step_tags[q]) for r in items if (q := question_from_abel_prompt(r.get("prompt", ""))) in step_tags]
        if not kept:
            continue
        tags = [{"steps": min(s, max_bucket)} for _, s in kept]
        for row in accuracy_by_tags([r["correct"] for r, _ in kept], tags, ["steps"], ci=ci):
            out.append({"benchmark": bench, "model": model, "mode": mode, **row})
    return out


def load_published(path: Path) -> dict[str, Any]:
    import yaml

    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def write_accuracy_metrics(rows: list[dict[str, Any]], metrics_dir: Path) -> list[Path]:
    """One ``<benchmark>__<model>.json`` per model x benchmark, holding every scorer's accuracy + CI."""
    from abel.io import write_json

    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        entry = grouped.setdefault((r["benchmark"], r["model"]), {"benchmark": r["benchmark"], "model": r["model"]})
        entry[r["mode"]] = {k: r[k] for k in ("accuracy", "ci_lo", "ci_hi", "ci", "n", "timeouts")}
    paths = []
    for (benchmark, model), entry in sorted(grouped.items()):
        path = metrics_dir / f"{benchmark}__{model}.json"
        write_json(path, entry)
        paths.append(path)
    return paths


def tag_table(scored: dict[Key, list[dict[str, Any]]], *, ci: float) -> list[dict[str, Any]]:
    """Accuracy per combination of a benchmark's registry tags (MATH level x subject, GSM-Plus perturbation)."""
    from abel.data.registry import benchmarks

    known = benchmarks()
    out = []
    for (bench, model, mode), items in sorted(scored.items()):
        keys = list(known[bench].tags) if bench in known else []
        if not keys or not items or "tags" not in items[0]:
            continue
        for row in accuracy_by_tags([r["correct"] for r in items], [r.get("tags") or {} for r in items], keys, ci=ci):
            out.append({"benchmark": bench, "model": model, "mode": mode, "tags": keys, **row})
    return out
