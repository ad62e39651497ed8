"""The ``analyze`` stage: accuracy tables with intervals, robustness (paired), by kind of number
change and by solution length, per tag, sampling, memorization; for Abel's released generations
and for ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from abel import artifacts as A
from abel.analysis import memorization as mem
from abel.analysis import released as rel
from abel.analysis import robustness
from abel.analysis.sampling import sampling_table
from abel.config import Params
from abel.io import read_jsonl, read_output, require_output, write_json, write_jsonl, write_text
from abel.modelio import question_from_abel_prompt
from abel.provenance import record_run
from abel.report import figures, tables

NO_OWN = "No generations of our own model were scored.\n"
NO_TAGS = "No tagged benchmark among our generations.\n"
NO_PAIR = "No GSM8K / GSM8k_robust pair among our generations.\n"

# the Markdown tables a notebook shows, in order (each written by ``run``)
MARKDOWN = (f"{A.RELEASED_REPORTS}/accuracy.md", f"{A.RELEASED_REPORTS}/robustness.md",
            f"{A.RELEASED_REPORTS}/robustness_by_change.md", f"{A.OURS_REPORTS}/accuracy.md",
            f"{A.OURS_REPORTS}/by_tag.md", f"{A.OURS_REPORTS}/memorization.md", f"{A.OURS_REPORTS}/robustness.md")


def run(params: Params, root: Path) -> dict[str, Any]:
    """Every table, metrics file and figure of the stage; returns what ``load`` returns."""
    a = params.analyze
    ci = a.ci  # single proportions: Wilson intervals
    boot = dict(resamples=a.bootstrap_resamples, ci=ci, seed=a.seed)  # paired differences
    pairs = [tuple(p) for p in a.robustness_pairs]
    scored = rel.load_scored(root / A.SCORED_RELEASED)
    published = rel.load_published(root / A.PUBLISHED)

    acc = rel.accuracy_table(scored, ci=ci)
    rel.write_accuracy_metrics(acc, root / A.RELEASED_METRICS)
    write_text(root / A.RELEASED_REPORTS / "accuracy.md", tables.accuracy_markdown(acc, published))
    rob = rel.robustness_table(scored, pairs, **boot)
    write_json(root / A.RELEASED_ROBUSTNESS, rob)
    write_text(root / A.RELEASED_REPORTS / "robustness.md", tables.robustness_markdown(rob, published))
    change = robustness.by_change(scored, pairs, **boot)
    write_json(root / A.RELEASED_BY_CHANGE, change)
    write_text(root / A.RELEASED_REPORTS / "robustness_by_change.md", tables.change_markdown(change))
    steps = rel.steps_table(scored, rel.gsm8k_step_tags(params.data_dir(root) / "gsm8k" / "test.jsonl"), ci=ci)
    write_json(root / A.RELEASED_BY_STEPS, steps)

    own = rel.load_scored(root / A.SCORED_OURS, required=False)
    own_acc = rel.accuracy_table(own, ci=ci)
    write_json(root / A.OURS_ACCURACY, {A.metric_key(r["benchmark"], r["model"], r["mode"]): r for r in own_acc})
    record_run(root, "analyze", params, ("analyze",), {"bootstrap": a.seed})
    write_text(root / A.OURS_REPORTS / "accuracy.md", tables.accuracy_markdown(own_acc, {}) if own_acc else NO_OWN)
    by_tag = rel.tag_table(own, ci=ci)
    write_json(root / A.OURS_BY_TAG, by_tag)
    write_text(root / A.OURS_REPORTS / "by_tag.md", tables.tags_markdown(by_tag) if by_tag else NO_TAGS)
    write_json(root / A.OURS_SAMPLING, sampling_table(own))  # only when generate.samples > 1

    index = mem.TrainIndex(read_jsonl(root / A.CURATED_TRAIN, required=("id", "question", "target")), n=a.memorization_ngram)
    strict_rows = [(bench, question_from_abel_prompt(r["prompt"]), r) for (bench, _, mode), rows in sorted(own.items())
                   if mode == "strict" for r in rows]
    probes = mem.probe(strict_rows, index, threshold=a.memorization_threshold)
    mem_rows = mem.summary(probes, near=a.near_similarity, ci=ci)
    write_json(root / A.OURS_MEMORIZATION,
               {"settings": {"ngram": a.memorization_ngram, "threshold": a.memorization_threshold, "near": a.near_similarity},
                "rows": mem_rows})
    write_jsonl(root / A.OURS_REPORTS / "memorization_probes.jsonl", mem.to_dicts(probes))
    write_text(root / A.OURS_REPORTS / "memorization.md",
               mem.markdown(mem_rows, a.memorization_ngram, a.memorization_threshold, a.near_similarity))

    own_rob = rel.robustness_table(own, pairs, **boot)
    write_json(root / A.OURS_ROBUSTNESS, own_rob)
    write_text(root / A.OURS_REPORTS / "robustness.md", tables.robustness_markdown(own_rob, {}) if own_rob else NO_PAIR)
    view = load(root)
    (root / A.OURS_FIGURES).mkdir(parents=True, exist_ok=True)
    for folder, stem, fig in plots(view):
        figures.save(fig, root / folder / stem)
    return view


def load(root: Path) -> dict[str, Any]:
    """What ``run`` wrote: the Markdown tables (by path) and the rows the figures are drawn from."""
    return {"markdown": {p: require_output(root, p, "analyze").read_text(encoding="utf-8") for p in MARKDOWN},
            "robustness": read_output(root, A.RELEASED_ROBUSTNESS, "analyze"),
            "steps": read_output(root, A.RELEASED_BY_STEPS, "analyze"),
            "own_robustness": read_output(root, A.OURS_ROBUSTNESS, "analyze"),
            "sampling": read_output(root, A.OURS_SAMPLING, "analyze")}


def plots(view: dict[str, Any]) -> list[tuple[str, str, Figure]]:
    """(folder, file stem, figure) for each figure of the stage."""
    rob, steps, own_rob = view["robustness"], view["steps"], view["own_robustness"]
    out = [(A.RELEASED_FIGURES, f"robustness_{mode}",
            figures.robustness_figure(rob, mode, f"Abel released generations: GSM8K vs GSM8k_robust ({mode} scorer)"))
           for mode in sorted({r["mode"] for r in rob})]
    out += [(A.RELEASED_FIGURES, f"accuracy_by_steps_{mode}",
             figures.steps_figure(steps, mode, f"GSM8K accuracy by gold solution length ({mode} scorer)"))
            for mode in sorted({r["mode"] for r in steps})]
    out += [(A.OURS_FIGURES, f"robustness_{mode}",
             figures.robustness_figure(own_rob, mode, f"Our model: original vs perturbed questions, paired ({mode} scorer)"))
            for mode in sorted({r["mode"] for r in own_rob})]
    return out
