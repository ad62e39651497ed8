"""The report: every table rebuilt from the metrics files, every number traced to its source.

Each number goes through ``Ledger.cite(file, path, fmt)``, which reads it from the JSON file the
pipeline wrote and records (file, path, value, text). The ledger is saved beside the report, so a
test (and a reader) can check that every number in the report is the number in the file it cites.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[Any, ...]  # keys / indices into a JSON document


@dataclass
class Ledger:
    root: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict)

    def load(self, file: str) -> Any:
        if file not in self._cache:
            path = self.root / file
            if not path.is_file():
                raise FileNotFoundError(f"{path}: the report needs it (run the stage that writes it: dvc repro)")
            text = path.read_text(encoding="utf-8")
            self._cache[file] = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        return self._cache[file]

    def value(self, file: str, path: Path_) -> Any:
        node = self.load(file)
        for key in path:
            node = node[key]
        return node

    def cite(self, file: str, path: Path_, fmt: str = "{}") -> str:
        value = self.value(file, path)
        text = fmt.format(value)
        self.entries.append({"file": file, "path": list(path), "value": value, "text": text, "format": fmt})
        return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _source(*files: str) -> str:
    return "\n*Source: " + ", ".join(f"`{f}`" for f in files) + "*\n"


PCT = "{:.2%}"


def released_section(led: Ledger) -> str:
    def order(path: Path) -> tuple[str, float]:
        bench, model = path.stem.rsplit("__", 1)
        return bench, float(model.rstrip("b")) if model.rstrip("b").isdigit() else float("inf")

    files = [p.relative_to(led.root).as_posix() for p in sorted((led.root / "metrics/released").glob("*__*.json"), key=order)]
    rows = []
    for f in files:
        entry = led.load(f)
        for mode in ("abel", "strict"):
            if mode in entry:
                rows.append([entry["benchmark"], entry["model"].upper(), mode, led.cite(f, (mode, "n")),
                             led.cite(f, (mode, "accuracy"), PCT),
                             f"[{led.cite(f, (mode, 'ci_lo'), PCT)}, {led.cite(f, (mode, 'ci_hi'), PCT)}]"])
    out = ["## Abel's released generations, rescored\n",
           _table(["benchmark", "model", "scorer", "n", "accuracy", "95% bootstrap CI"], rows), _source(*files)]
    rob = "metrics/released/robustness.json"
    rrows = []
    for i, r in enumerate(led.load(rob)):
        rrows.append([r["model"].upper(), r["mode"], led.cite(rob, (i, "n_paired")), led.cite(rob, (i, "acc_base"), PCT),
                      led.cite(rob, (i, "acc_perturbed"), PCT), led.cite(rob, (i, "delta"), "{:+.2%}"),
                      f"[{led.cite(rob, (i, 'delta_lo'), '{:+.2%}')}, {led.cite(rob, (i, 'delta_hi'), '{:+.2%}')}]",
                      led.cite(rob, (i, "mcnemar", "p_value"), "{:.3f}")])
    out += ["\n### Robustness: GSM8K vs GSM8k_robust, paired\n",
            _table(["model", "scorer", "pairs", "GSM8K", "GSM8k_robust", "delta", "95% paired CI", "McNemar p"], rrows),
            _source(rob), "\n![robustness](../figures/released/robustness_abel.png)\n"]
    return "\n".join(out)


def published_section(led: Ledger, file: str = "data/published/abel_readme.yaml") -> str:
    pub = led.load(file)
    rows = [[bench, model.upper(), led.cite(file, ("accuracy", bench, model), "{:.2f}")]
            for bench, models in pub["accuracy"].items() for model in models]
    src = pub["source"]
    out = ["## Published by the Abel authors (not measured here)\n", _table(["benchmark", "model", "accuracy (%)"], rows),
           f"\n*Source: `{file}`, citing {src['title']} ({src['url']} @ {src['commit'][:10]}).*\n"]
    gen = pub.get("generalization")
    if gen:
        grows = [[model, *(led.cite(file, ("generalization", "rows", model, i), "{}") for i in range(len(gen["columns"])))]
                 for model in gen["rows"]]
        out += ["\n### Published generalization table (Abel README; baselines as the authors reported them)\n",
                _table(["model", *gen["columns"]], grows),
                f"\n*Source: `{file}`, citing {gen['source']['title']} ({gen['source']['url']}); "
                f"{gen['source']['note']}.*\n"]
    board = pub.get("leaderboard")
    if board:
        cols = board["columns"]
        i_gsm, i_math = cols.index("gsm8k"), cols.index("math")
        brows = [[r[0], r[1], r[2], "open" if r[3] else "proprietary",
                  led.cite(file, ("leaderboard", "rows", k, i_gsm), "{}"),
                  "-" if r[i_math] is None else led.cite(file, ("leaderboard", "rows", k, i_math), "{}")]
                 for k, r in enumerate(board["rows"])]
        out += ["\n### Published leaderboard (Abel README; every row as the authors reported it, none measured here)\n",
                _table(["model", "params", "organization", "weights", "GSM8K (%)", "MATH (%)"], brows),
                f"\n*Source: `{file}`, citing {board['source']['title']} ({board['source']['url']} @ "
                f"{board['source']['commit'][:10]}); {board['source']['note']}.*\n"]
    others = pub.get("robustness_others")
    if others:
        orows = [[m, *(led.cite(file, ("robustness_others", "rows", m, i), "{}") for i in range(3))] for m in others["rows"]]
        out += ["\n### Published robustness of other models (Abel README; not measured here)\n",
                _table(["model", "GSM8K (%)", "GSM8k_robust (%)", "delta (pp)"], orows),
                f"\n*Source: `{file}`, citing {others['source']['title']} ({others['source']['url']}).*\n"]
    return "\n".join(out)


def curation_section(led: Ledger, file: str = "reports/curation/report.json") -> str:
    funnel = led.load(file)["funnel"]
    steps = list(next(iter(funnel.values())))
    rows = [[source, *(led.cite(file, ("funnel", source, s)) for s in steps)] for source in funnel]
    cont = led.value(file, ("contamination",))
    crows = [[test_set, led.cite(file, ("contamination", "by_test_set", test_set))] for test_set in cont["by_test_set"]]
    methods = ", ".join(f"{m}: {led.cite(file, ('contamination', 'by_method', m))}" for m in cont.get("by_method", {}))
    contamination = [
        "\n### Contamination found by curation\n",
        f"{led.cite(file, ('contamination', 'hits'))} hits on {led.cite(file, ('contamination', 'records'))} training "
        "records (each was dropped before selection)" + (f"; by method: {methods}" if methods else "") + ".\n",
        _table(["test set", "hits"], crows) if crows else "No training record matched a test item.\n",
        "\nEvery hit is listed in `reports/curation/contamination.jsonl` (train id, test set, test id, overlap, method).\n"]
    return "\n".join(["## Curation funnel\n", _table(["source", *steps], rows),
                      f"\ntrain / val records: {led.cite(file, ('train',))} / {led.cite(file, ('val',))}\n",
                      _source(file), "\n![funnel](../figures/curation/funnel.png)\n", *contamination])


def sft_section(led: Ledger, file: str = "metrics/sft/summary.json") -> str:
    keys = [("model", "{}"), ("parameters", "{:,}"), ("world_size", "{}"), ("engine", "{}"), ("zero_stage", "{}"),
            ("precision", "{}"), ("packing", "{}"), ("steps", "{}"), ("epochs", "{:.2f}"),
            ("train_loss_first", "{:.4f}"), ("train_loss_final", "{:.4f}"), ("val_loss_first", "{:.4f}"),
            ("val_loss_final", "{:.4f}"), ("train_tokens_seen", "{:,}"), ("tokens_per_s", "{:.1f}"),
            ("steps_with_shared_examples", "{}")]
    summary = led.load(file)
    rows = [[k, led.cite(file, (k,), fmt)] for k, fmt in keys if summary.get(k) is not None]
    return "\n".join(["## Fine-tuning run\n", _table(["", "value"], rows), _source(file),
                      "\n![loss](../figures/sft/loss.png)\n"])


def ours_section(led: Ledger, file: str = "metrics/ours/accuracy.json", gen: str = "metrics/generate/summary.json") -> str:
    acc = led.load(file)
    rows = [[r["benchmark"], r["mode"], led.cite(file, (k, "n")), led.cite(file, (k, "accuracy"), PCT),
             f"[{led.cite(file, (k, 'ci_lo'), PCT)}, {led.cite(file, (k, 'ci_hi'), PCT)}]"]
            for k, r in acc.items() if k != "provenance"]
    head = (f"Model `{led.cite(gen, ('model',))}`, {led.cite(gen, ('backend',))} backend, "
            f"up to {led.cite(gen, ('max_new_tokens',))} new tokens, {led.cite(gen, ('samples',))} sample(s) per question.\n")
    fig = "figures/ours/robustness_strict.png"
    return "\n".join(["## Our model on the benchmarks\n", head,
                      _table(["benchmark", "scorer", "n", "accuracy", "95% bootstrap CI"], rows) if rows else "No generations.\n",
                      _source(file, gen), f"\n![our robustness](../{fig})\n" if (led.root / fig).is_file() else ""])


def overfit_section(led: Ledger, file: str = "metrics/sft/overfit.json") -> str:
    if not (led.root / file).is_file():
        return ""
    data = led.load(file)
    rows = [[led.cite(file, ("rows", i, "step")), r["split"], led.cite(file, ("rows", i, "n")),
             led.cite(file, ("rows", i, "accuracy"), PCT),
             f"[{led.cite(file, ('rows', i, 'ci_lo'), PCT)}, {led.cite(file, ('rows', i, 'ci_hi'), PCT)}]"]
            for i, r in enumerate(data["rows"])]
    return "\n".join([
        "## Overfitting across checkpoints\n",
        f"Each saved checkpoint answered the same training questions and the same "
        f"{led.cite(file, ('test_benchmark',))} test questions (greedy).\n",
        _table(["step", "questions", "n", "accuracy", "95% bootstrap CI"], rows), _source(file),
        "\n![overfit](../figures/overfit/overfit.png)\n"])


def memorization_section(led: Ledger, file: str = "metrics/ours/memorization.json") -> str:
    if not (led.root / file).is_file():
        return ""
    data = led.load(file)
    st = data["settings"]
    rows = [[r["benchmark"], r["group"], led.cite(file, ("rows", i, "n")), led.cite(file, ("rows", i, "memorized"), PCT),
             f"[{led.cite(file, ('rows', i, 'ci_lo'), PCT)}, {led.cite(file, ('rows', i, 'ci_hi'), PCT)}]",
             "-" if r["mean_overlap"] is None else led.cite(file, ("rows", i, "mean_overlap"), "{:.2f}"),
             led.cite(file, ("rows", i, "accuracy"), PCT)] for i, r in enumerate(data["rows"])]
    return "\n".join([
        "## Memorization probe (our model)\n",
        f"A response counts as memorized when at least {led.cite(file, ('settings', 'threshold'), '{:.0%}')} of its word "
        f"{led.cite(file, ('settings', 'ngram'))}-grams occur in one training target; a test question is near when its "
        f"word-3-gram Jaccard similarity to a training question is at least {led.cite(file, ('settings', 'near'))}.\n",
        _table(["benchmark", "questions", "n", "memorized", "95% CI", "mean copied share", "accuracy"], rows)
        if rows else "No generations to probe.\n", _source(file)]) if st else ""


def provenance_section(led: Ledger, file: str) -> str:
    prov = led.value(file, ("provenance",))
    rows = [["git commit", led.cite(file, ("provenance", "commit"))], ["tree dirty", led.cite(file, ("provenance", "dirty"))],
            ["profile", led.cite(file, ("provenance", "profile"))]]
    rows += [[name, led.cite(file, ("provenance", "versions", name))] for name in prov["versions"]]
    rows += [["CPU", led.cite(file, ("provenance", "hardware", "cpu"))],
             ["CPU cores", led.cite(file, ("provenance", "hardware", "cpu_count"))],
             ["GPUs", led.cite(file, ("provenance", "hardware", "gpus"))]]
    return "\n".join(["## Provenance of these numbers\n", _table(["", "value"], rows), _source(file)])


def limits_section(led: Ledger, profile: str, sft_file: str = "metrics/sft/summary.json",
                   ours_file: str = "metrics/ours/accuracy.json") -> str:
    """What this profile's run can and cannot show, stated from its own numbers."""
    ours = {k: r for k, r in led.load(ours_file).items() if k != "provenance" and r["mode"] == "strict"}
    best = max(ours, key=lambda k: (ours[k]["accuracy"], ours[k]["n"]), default=None)
    measured = ("No benchmark was generated for our model." if best is None else
                f"Its best accuracy here (strict scorer) is {led.cite(ours_file, (best, 'accuracy'), PCT)} on "
                f"{ours[best]['benchmark']} (n = {led.cite(ours_file, (best, 'n'))}, 95% CI "
                f"[{led.cite(ours_file, (best, 'ci_lo'), PCT)}, {led.cite(ours_file, (best, 'ci_hi'), PCT)}]).")
    if profile == "arith":
        return "\n".join([
            "## What this run can and cannot show\n",
            f"This is the **arith** profile, the curation ablation's task: a "
            f"{led.cite(sft_file, ('parameters',), '{:,}')}-parameter model trained from scratch for "
            f"{led.cite(sft_file, ('steps',))} optimizer steps on short procedural arithmetic. " + measured +
            " It shows how the presentation of the training data changes what a small model learns on a task it "
            "can learn in minutes (compare runs with `make ablation`). It says nothing about GSM8K or MATH.\n"])
    if profile == "paper":
        return "\n".join(["## What this run shows\n", measured,
                          "Compare with the published numbers below, which are labelled as such.\n"])
    return "\n".join([
        "## What this run can and cannot show\n",
        f"This is the **{profile}** profile: a {led.cite(sft_file, ('parameters',), '{:,}')}-parameter model "
        f"fine-tuned for {led.cite(sft_file, ('steps',))} optimizer steps "
        f"({led.cite(sft_file, ('train_tokens_seen',), '{:,}')} training tokens) on a CPU. It shows that every stage of "
        "the study runs for real, end to end, and that the numbers are traced and reproducible. " + measured +
        " It cannot show what Abel showed: a model this small, trained for minutes on a few hundred examples, is "
        "not expected to solve GSM8K or MATH problems, and intervals on subsets this small are wide. "
        "The numbers that speak to the paper's claims are the rescored released generations below: "
        "they come from Abel's own 7B and 13B models, not from this run.\n"])


def build(root: Path) -> tuple[str, Ledger]:
    led = Ledger(root)
    profile = led.value("metrics/sft/summary.json", ("profile",))
    parts = [f"# Abel, reproduced: report ({profile} profile)\n",
             "Every number below is read from the metrics file named under its table "
             "(`reports/report_sources.json` lists each one).\n",
             limits_section(led, profile), released_section(led), published_section(led), curation_section(led),
             sft_section(led), overfit_section(led), ours_section(led), memorization_section(led),
             provenance_section(led, "metrics/ours/accuracy.json")]
    return "\n".join(parts), led


def referenced_images(markdown: str) -> list[str]:
    """Paths of the images a Markdown report embeds (relative to the report's folder)."""
    import re

    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def to_html(markdown: str, root: Path, title: str = "Abel, reproduced: report") -> str:
    """Self-contained HTML through nbconvert: images embedded as data, no script or style from a CDN.

    ``markdown`` is the report as written in ``reports/`` (images as ``../figures/...``); nbconvert
    only embeds files under its base folder, so images are resolved from the repo root.
    """
    import nbformat
    from nbconvert import HTMLExporter

    markdown = markdown.replace("](../", "](")
    base_dir = root
    # a fixed cell id: nbformat draws a random one, which would make every export differ
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown, id="report")])
    exporter = HTMLExporter(template_name="basic", embed_images=True, exclude_input_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(base_dir)}})
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;padding:.2rem .5rem;"
             "text-align:right}th{background:#f2f2f2}img{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title><style>{style}</style>"
            f"</head><body>\n{body}\n</body></html>\n")
