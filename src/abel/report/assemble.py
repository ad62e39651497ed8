"""The report: every table rebuilt from the metrics files, every number traced to its source.

Each number goes through ``Ledger.cite(file, path, fmt)``, which reads it from the JSON file the
pipeline wrote and records (file, path, value, text). The ledger is saved beside the report, so a
test (and a reader) can check that every number in the report is the number in the file it cites.
Files are JSON or YAML, except Markdown reports written outside ``dvc repro`` (``reports/ablation.md``):
the ledger reads a Markdown file as ``{"tables": [{"header": [...], "rows": [[cell, ...], ...]}, ...]}``
(cells are strings, exactly as written), so a path such as ``("tables", 0, "rows", 2, 3)`` names a cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from abel import artifacts as A
from abel.report.tables import is_numeric, markdown_table

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
            if path.suffix in (".yaml", ".yml"):
                self._cache[file] = yaml.safe_load(text)
            elif path.suffix == ".md":
                self._cache[file] = {"tables": markdown_tables(text)}
            else:
                self._cache[file] = json.loads(text)
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


def markdown_tables(text: str) -> list[dict[str, list[Any]]]:
    """The pipe tables of a Markdown document, in order: each its header and its rows of cell strings."""
    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    tables: list[dict[str, list[Any]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if (lines[i].lstrip().startswith("|") and i + 1 < len(lines)
                and re.fullmatch(r"[\s|:]*-[\s|:-]*", lines[i + 1])):
            header, rows, i = cells(lines[i]), [], i + 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            tables.append({"header": header, "rows": rows})
        else:
            i += 1
    return tables


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return markdown_table(header, rows)


def _link(title: str, url: str) -> str:
    """A Markdown link. A bare URL next to ``)`` or ``*`` is auto-linked with them (a broken link)."""
    return "[" + title.replace("[", "\\[").replace("]", "\\]") + "](" + url + ")"


def _level(led: Ledger) -> str:
    """The confidence level the analyze stage used (``analyze.ci``), as the intervals' label says it."""
    for row in led.load(A.OURS_ACCURACY).values():
        return f"{100 * row['ci']:g}%"
    return f"{100 * led.load(A.RELEASED_ROBUSTNESS)[0]['ci']:g}%"


def _source(*files: str) -> str:
    return "\n*Source: " + ", ".join(f"`{f}`" for f in files) + "*\n"


PCT = "{:.2%}"


def released_section(led: Ledger) -> str:
    def order(path: Path) -> tuple[str, float]:
        bench, model = path.stem.rsplit("__", 1)
        return bench, float(model.rstrip("b")) if model.rstrip("b").isdigit() else float("inf")

    files = [p.relative_to(led.root).as_posix() for p in sorted((led.root / A.RELEASED_METRICS).glob("*__*.json"), key=order)]
    rows = []
    for f in files:
        entry = led.load(f)
        for mode in ("abel", "strict"):
            if mode in entry:
                rows.append([entry["benchmark"], entry["model"].upper(), mode, led.cite(f, (mode, "n")),
                             led.cite(f, (mode, "accuracy"), PCT),
                             f"[{led.cite(f, (mode, 'ci_lo'), PCT)}, {led.cite(f, (mode, 'ci_hi'), PCT)}]"])
    out = ["## Abel's released generations, rescored\n",
           _table(["benchmark", "model", "scorer", "n", "accuracy", f"{_level(led)} Wilson interval"], rows), _source(*files)]
    rob = A.RELEASED_ROBUSTNESS
    rrows = []
    for i, r in enumerate(led.load(rob)):
        rrows.append([r["model"].upper(), r["mode"], led.cite(rob, (i, "n_paired")), led.cite(rob, (i, "acc_base"), PCT),
                      led.cite(rob, (i, "acc_perturbed"), PCT), led.cite(rob, (i, "delta"), "{:+.2%}"),
                      f"[{led.cite(rob, (i, 'delta_lo'), '{:+.2%}')}, {led.cite(rob, (i, 'delta_hi'), '{:+.2%}')}]",
                      led.cite(rob, (i, "mcnemar", "p_value"), "{:.3f}")])
    out += ["\n### Robustness: GSM8K vs GSM8k_robust, paired\n",
            _table(["model", "scorer", "pairs", "GSM8K", "GSM8k_robust", "delta", f"{_level(led)} paired bootstrap CI", "McNemar p"], rrows),
            _source(rob), "\n![robustness](../figures/released/robustness_abel.png)\n"]
    return "\n".join(out)


def published_section(led: Ledger, file: str = A.PUBLISHED) -> str:
    pub = led.load(file)
    rows = [[bench, model.upper(), led.cite(file, ("accuracy", bench, model), "{:.2f}")]
            for bench, models in pub["accuracy"].items() for model in models]
    src = pub["source"]
    out = ["## Published by the Abel authors (not measured here)\n", _table(["benchmark", "model", "accuracy (%)"], rows),
           f"\n*Source: `{file}`, citing {_link(src['title'], src['url'])} @ {src['commit'][:10]}.*\n"]
    gen = pub.get("generalization")
    if gen:
        grows = [[model, *(led.cite(file, ("generalization", "rows", model, i), "{}") for i in range(len(gen["columns"])))]
                 for model in gen["rows"]]
        out += ["\n### Published generalization table (Abel README; baselines as the authors reported them)\n",
                _table(["model", *gen["columns"]], grows),
                f"\n*Source: `{file}`, citing {_link(gen['source']['title'], gen['source']['url'])}; "
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
                f"\n*Source: `{file}`, citing {_link(board['source']['title'], board['source']['url'])} @ "
                f"{board['source']['commit'][:10]}; {board['source']['note']}.*\n"]
    others = pub.get("robustness_others")
    if others:
        orows = [[m, *(led.cite(file, ("robustness_others", "rows", m, i), "{}") for i in range(3))] for m in others["rows"]]
        out += ["\n### Published robustness of other models (Abel README; not measured here)\n",
                _table(["model", "GSM8K (%)", "GSM8k_robust (%)", "delta (pp)"], orows),
                f"\n*Source: `{file}`, citing {_link(others['source']['title'], others['source']['url'])}.*\n"]
    return "\n".join(out)


def curation_section(led: Ledger, file: str = A.CURATION_REPORT) -> str:
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


def sft_section(led: Ledger, file: str = A.SFT_SUMMARY, run_file: str = A.provenance("sft")) -> str:
    keys = [("model", "{}"), ("parameters", "{:,}"), ("world_size", "{}"), ("engine", "{}"), ("zero_stage", "{}"),
            ("precision", "{}"), ("packing", "{}"), ("steps", "{}"), ("epochs", "{:.2f}"),
            ("train_loss_first", "{:.4f}"), ("train_loss_final", "{:.4f}"), ("val_loss_first", "{:.4f}"),
            ("val_loss_final", "{:.4f}"), ("train_tokens_seen", "{:,}"), ("steps_with_shared_examples", "{}")]
    summary = led.load(file)
    rows = [[k, led.cite(file, (k,), fmt)] for k, fmt in keys if summary.get(k) is not None]
    return "\n".join(["## Fine-tuning run\n", _table(["", "value"], rows), _source(file),
                      f"\nThroughput, resumes and the allocator are facts of a run, not results: see `{run_file}`.\n",
                      "\n![loss](../figures/sft/loss.png)\n"])


def ours_section(led: Ledger, file: str = A.OURS_ACCURACY, gen: str = A.GENERATE_SUMMARY) -> str:
    acc = led.load(file)
    rows = [[r["benchmark"], r["mode"], led.cite(file, (k, "n")), led.cite(file, (k, "accuracy"), PCT),
             f"[{led.cite(file, (k, 'ci_lo'), PCT)}, {led.cite(file, (k, 'ci_hi'), PCT)}]"]
            for k, r in acc.items()]
    head = (f"Model `{led.cite(gen, ('model',))}`, {led.cite(gen, ('backend',))} backend, "
            f"up to {led.cite(gen, ('max_new_tokens',))} new tokens, {led.cite(gen, ('samples',))} sample(s) per question.\n")
    fig = "figures/ours/robustness_strict.png"
    return "\n".join(["## Our model on the benchmarks\n", head,
                      _table(["benchmark", "scorer", "n", "accuracy", f"{_level(led)} Wilson interval"], rows) if rows else "No generations.\n",
                      _source(file, gen), f"\n![our robustness](../{fig})\n" if (led.root / fig).is_file() else ""])


def overfit_section(led: Ledger, file: str = A.OVERFIT_METRICS) -> str:
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
        _table(["step", "questions", "n", "accuracy", f"{_level(led)} Wilson interval"], rows), _source(file),
        "\n![overfit](../figures/overfit/overfit.png)\n"])


def memorization_section(led: Ledger, file: str = A.OURS_MEMORIZATION) -> str:
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
        _table(["benchmark", "questions", "n", "memorized", f"{_level(led)} Wilson interval", "mean copied share", "accuracy"], rows)
        if rows else "No generations to probe.\n", _source(file)]) if st else ""


def provenance_section(led: Ledger, file: str = A.provenance("analyze")) -> str:
    if not (led.root / file).is_file():  # a DVC output: absent from a clone until pulled or re-run
        return (f"## Provenance of these numbers\n\n`{file}` is missing here: it is a DVC output of the `analyze` "
                "stage (`dvc pull`, or `dvc repro`).\n")
    prov = led.load(file)
    rows = [["code commit (the last to change an input)", led.cite(file, ("commit",))],
            ["inputs changed since", led.cite(file, ("dirty",))],
            ["profile", led.cite(file, ("profile",))]]
    rows += [[name, led.cite(file, ("versions", name))] for name in prov["versions"]]
    rows += [["CPU", led.cite(file, ("hardware", "cpu"))],
             ["CPU cores", led.cite(file, ("hardware", "cpu_count"))],
             ["GPUs", led.cite(file, ("hardware", "gpus"))]]
    return "\n".join(["## Provenance of these numbers\n", _table(["", "value"], rows), _source(file)])


def limits_section(led: Ledger, profile: str, sft_file: str = A.SFT_SUMMARY,
                   ours_file: str = A.OURS_ACCURACY) -> str:
    """What this profile's run can and cannot show, stated from its own numbers."""
    ours = {k: r for k, r in led.load(ours_file).items() if r["mode"] == "strict"}
    best = max(ours, key=lambda k: (ours[k]["accuracy"], ours[k]["n"]), default=None)
    measured = ("No benchmark was generated for our model." if best is None else
                f"Its best accuracy here (strict scorer) is {led.cite(ours_file, (best, 'accuracy'), PCT)} on "
                f"{ours[best]['benchmark']} (n = {led.cite(ours_file, (best, 'n'))}, {_level(led)} Wilson interval "
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


PP = "{:+.2%}"


def _interval(led: Ledger, file: str, path: Path_, lo: str = "ci_lo", hi: str = "ci_hi", fmt: str = PCT) -> str:
    return f"[{led.cite(file, (*path, lo), fmt)}, {led.cite(file, (*path, hi), fmt)}]"


def _released_files(led: Ledger, benchmark: str) -> dict[str, str]:
    """model -> the released metrics file of one benchmark, smallest model first."""
    found = {p.stem.rsplit("__", 1)[1]: p.relative_to(led.root).as_posix()
             for p in (led.root / A.RELEASED_METRICS).glob(f"{benchmark}__*.json")}
    return {m: found[m] for m in sorted(found, key=A.model_order)}


def _comparison_finding(led: Ledger, file: str = A.COMPARISON_METRICS) -> str:
    """The curation comparison in one sentence: each format's accuracy, and the pair of the first and last format."""
    data = led.load(file)
    accs = "; ".join(f"{r['format']} {led.cite(file, ('runs', i, 'accuracy'), PCT)} "
                     f"[{led.cite(file, ('runs', i, 'ci_lo'), PCT)}, {led.cite(file, ('runs', i, 'ci_hi'), PCT)}]"
                     for i, r in enumerate(data["runs"]))
    last = max(range(len(data["pairs"])), key=lambda i: (data["pairs"][i]["base"] == data["runs"][0]["format"],
                                                         data["pairs"][i]["other"] == data["runs"][-1]["format"]))
    p = data["pairs"][last]
    return (f"**Curation format, in this run** ({led.cite(file, ('profile',))} profile, one model per format, "
            f"n = {led.cite(file, ('runs', 0, 'n'))} held-out {led.cite(file, ('benchmark',))} questions, "
            f"{100 * data['ci']:g}% Wilson intervals): {accs}. {p['other']} minus {p['base']}: "
            f"{led.cite(file, ('pairs', last, 'delta'), PP)} (paired bootstrap "
            f"[{led.cite(file, ('pairs', last, 'ci_lo'), PP)}, {led.cite(file, ('pairs', last, 'ci_hi'), PP)}], "
            f"McNemar exact p = {led.cite(file, ('pairs', last, 'p_value'), '{:.3g}')}).")


def key_findings_section(led: Ledger, pub_file: str = A.PUBLISHED,
                         rob_file: str = A.RELEASED_ROBUSTNESS, steps_file: str = A.RELEASED_BY_STEPS,
                         ours_file: str = A.OURS_ACCURACY, sft_file: str = A.SFT_SUMMARY) -> str:
    """The headline numbers, each with its interval, each cited like every other number in the report."""
    wilson, paired = f"{_level(led)} Wilson interval", f"{_level(led)} paired bootstrap CI"
    pub = led.load(pub_file)
    released = _released_files(led, "gsm8k")
    items = []
    for model, f in released.items():
        entry = led.load(f)
        mode = "abel" if "abel" in entry else next(m for m in ("strict", "abel") if m in entry)
        text = (f"**Abel-{model.upper()} on GSM8K, rescored from its released generations:** "
                f"{led.cite(f, (mode, 'accuracy'), PCT)} ({wilson} {_interval(led, f, (mode,))}, "
                f"n = {led.cite(f, (mode, 'n'))}, {mode} scorer)")
        paper = pub.get("accuracy", {}).get("gsm8k", {}).get(model)
        if paper is not None:
            inside = entry[mode]["ci_lo"] <= paper / 100 <= entry[mode]["ci_hi"]
            text += (f"; the Abel README publishes {led.cite(pub_file, ('accuracy', 'gsm8k', model), '{:.2f}%')}, "
                     f"{'inside' if inside else 'outside'} that interval")
        items.append(text + ".")
    unmeasured = [m for m in sorted(pub.get("accuracy", {}).get("gsm8k", {}), key=A.model_order) if m not in released]
    for model in unmeasured:
        items.append(f"**Abel-{model.upper()}:** the README's GSM8K accuracy, "
                     f"{led.cite(pub_file, ('accuracy', 'gsm8k', model), '{:.2f}%')}, is not reproduced here: "
                     f"this run rescored no released {model.upper()} generations.")
    rob = led.load(rob_file) if (led.root / rob_file).is_file() else []
    for i, r in enumerate(rob):
        if r["mode"] != "abel":
            continue
        text = (f"**Robustness of Abel-{r['model'].upper()}:** accuracy on {r['perturbed']} minus accuracy on "
                f"{r['base']}, over the same {led.cite(rob_file, (i, 'n_paired'))} questions, is "
                f"{led.cite(rob_file, (i, 'delta'), PP)} ({paired} "
                f"{_interval(led, rob_file, (i,), 'delta_lo', 'delta_hi', PP)}; McNemar exact p = "
                f"{led.cite(rob_file, (i, 'mcnemar', 'p_value'), '{:.3f}')})")
        paper = (pub.get("robustness_delta", {}).get(r["model"])
                 if (r["base"], r["perturbed"]) == ("gsm8k", "gsm8k_robust") else None)
        if paper is not None:
            text += f"; the README publishes {led.cite(pub_file, ('robustness_delta', r['model']), '{:+.2f}%')}"
        zero = r["delta_lo"] <= 0 <= r["delta_hi"]
        items.append(text + (". The interval includes zero." if zero else ". The interval excludes zero."))
    items.append(_comparison_finding(led))
    if (led.root / steps_file).is_file():
        steps = led.load(steps_file)
        parts = []
        for model in sorted({r["model"] for r in steps if r["mode"] == "abel"}, key=A.model_order):
            idx = [i for i, r in enumerate(steps) if r["model"] == model and r["mode"] == "abel"]
            first, last = min(idx, key=lambda i: steps[i]["steps"]), max(idx, key=lambda i: steps[i]["steps"])
            if first != last:
                parts.append(
                    f"Abel-{model.upper()} answers {led.cite(steps_file, (first, 'value'), PCT)} ({wilson} "
                    f"{_interval(led, steps_file, (first,), 'lo', 'hi')}, n = {led.cite(steps_file, (first, 'n'))}) of "
                    f"the questions whose gold solution has {led.cite(steps_file, (first, 'steps'))} steps and "
                    f"{led.cite(steps_file, (last, 'value'), PCT)} ({wilson} "
                    f"{_interval(led, steps_file, (last,), 'lo', 'hi')}, n = {led.cite(steps_file, (last, 'n'))}) "
                    f"of those in the longest bucket ({led.cite(steps_file, (last, 'steps'))} steps)")
        if parts:
            items.append("**Accuracy by the length of the gold solution** (GSM8K, abel scorer): " + "; ".join(parts) + ".")
    differ, same = [], []
    for bench in ("gsm8k", "gsm8k_robust"):
        for model, f in _released_files(led, bench).items():
            entry = led.load(f)
            if "abel" in entry and "strict" in entry:
                (same if entry["abel"]["accuracy"] == entry["strict"]["accuracy"] else differ).append((bench, model, f))
    if differ or same:
        parts = [f"{bench} {model.upper()}: abel {led.cite(f, ('abel', 'accuracy'), PCT)} "
                 f"{_interval(led, f, ('abel',))} vs strict {led.cite(f, ('strict', 'accuracy'), PCT)} "
                 f"{_interval(led, f, ('strict',))}" for bench, model, f in differ]
        lead = "**The two scorers** (Abel's own `abel` scorer and our `strict` one) "
        if not parts:
            items.append(lead + "give the same accuracy on every rescored released file.")
        else:
            items.append(lead + f"give different accuracies on {'; '.join(parts)} ({wilson}s)"
                         + ("; on every other rescored released file they give the same accuracy." if same else "."))
    ours = {k: r for k, r in led.load(ours_file).items() if r.get("mode") == "strict"}
    if ours:
        key = next((k for k, r in ours.items() if r["benchmark"] == "gsm8k"), None) \
            or max(ours, key=lambda k: (ours[k]["n"], k))
        items.append(
            f"**Our fine-tuned model** (`{led.cite(sft_file, ('model',))}`, {led.cite(sft_file, ('steps',))} optimizer "
            f"steps) answers {led.cite(ours_file, (key, 'accuracy'), PCT)} of {ours[key]['benchmark']} correctly "
            f"({wilson} {_interval(led, ours_file, (key,))}, n = {led.cite(ours_file, (key, 'n'))}, strict scorer).")
    return "\n".join(["## Key findings\n", *(f"- {t}" for t in items), "",
                      f"Accuracies carry {_level(led)} Wilson intervals; differences between paired accuracies carry {_level(led)} paired "
                      "bootstrap CIs. Every number in this report is read from the file named under its table or in "
                      "its sentence (`reports/report_sources.json` lists each one with its file and key).\n"])


def steps_section(led: Ledger, file: str = A.RELEASED_BY_STEPS) -> str:
    if not (led.root / file).is_file():
        return "\n".join(["## Accuracy by number of reasoning steps\n", f"`{file}` does not exist: the analyze stage "
                          "did not write it, so this section is empty.\n"])
    data = led.load(file)
    modes = sorted({r["mode"] for r in data}, key=lambda m: (m != "abel", m))
    index = {(r["benchmark"], r["model"], r["steps"], r["mode"]): i for i, r in enumerate(data)}
    groups = sorted({(r["benchmark"], r["model"], r["steps"]) for r in data},
                    key=lambda g: (g[0], A.model_order(g[1]), g[2]))
    rows = []
    for bench, model, steps in groups:
        present = [(m, index[(bench, model, steps, m)]) for m in modes if (bench, model, steps, m) in index]
        first = present[0][1]
        row = [bench, model.upper(), led.cite(file, (first, "steps")), led.cite(file, (first, "n"))]
        for mode in modes:
            i = index.get((bench, model, steps, mode))
            if i is None:
                row += ["-", "-"]
                continue
            acc = led.cite(file, (i, "value"), PCT)
            if data[i]["n"] != data[first]["n"]:
                acc += f" (n = {led.cite(file, (i, 'n'))})"
            row += [acc, _interval(led, file, (i,), "lo", "hi")]
        rows.append(row)
    header = ["benchmark", "model", "gold steps", "n"]
    for mode in modes:
        header += [f"accuracy ({mode})", f"{_level(led)} Wilson interval"]
    figs = [f"figures/released/accuracy_by_steps_{m}.png" for m in modes]
    fig = next((f for f in figs if (led.root / f).is_file()), None)
    return "\n".join([
        "## Accuracy by number of reasoning steps\n",
        "Abel's released generations, by the number of steps in each question's gold solution; the longest "
        "bucket pools every longer solution.\n",
        _table(header, rows), _source(file), f"\n![accuracy by steps](../{fig})\n" if fig else ""])


def change_section(led: Ledger, file: str = A.RELEASED_BY_CHANGE) -> str:
    title = "### Robustness by kind of number change\n"
    if not (led.root / file).is_file():
        return "\n".join([title, f"`{file}` does not exist: the analyze stage did not write it.\n"])
    data = led.load(file)
    if not data:
        return "\n".join([title, f"`{file}` holds no pairs.\n"])
    modes = {r["mode"] for r in data}
    mode = "abel" if "abel" in modes else sorted(modes)[0]
    idx = sorted((i for i, r in enumerate(data) if r["mode"] == mode),
                 key=lambda i: (A.model_order(data[i]["model"]), data[i]["change"] != "all", data[i]["change"]))
    base, other = data[idx[0]]["base"], data[idx[0]]["perturbed"]
    rows = [[data[i]["model"].upper(), data[i]["change"], led.cite(file, (i, "n")),
             led.cite(file, (i, "acc_base"), PCT), led.cite(file, (i, "acc_perturbed"), PCT),
             led.cite(file, (i, "delta"), PP), _interval(led, file, (i,), "delta_lo", "delta_hi", PP),
             led.cite(file, (i, "broken")), led.cite(file, (i, "fixed"))] for i in idx]
    others = sorted(modes - {mode})
    return "\n".join([
        title,
        f"Each {other} question is its {base} question with other numbers. Pairs are grouped by how the numbers "
        f"changed (a pair can fall in several groups); *broken* counts answers right on {base} and wrong on {other}, "
        f"*fixed* the reverse. {mode} scorer" + (f"; the file also holds the {', '.join(others)} scorer's rows" if others
                                                  else "") + ".\n",
        _table(["model", "how the numbers changed", "pairs", base, other, "delta", f"{_level(led)} paired bootstrap CI",
                "broken", "fixed"], rows), _source(file)])


def comparison_section(led: Ledger, file: str = A.COMPARISON_METRICS) -> str:
    """The compare@<format> runs of this `dvc repro`, side by side (the comparison stage's summary)."""
    data = led.load(file)
    level = f"{100 * data['ci']:g}%"
    runs = [[r["format"], led.cite(file, ("runs", i, "accuracy"), PCT),
             f"[{led.cite(file, ('runs', i, 'ci_lo'), PCT)}, {led.cite(file, ('runs', i, 'ci_hi'), PCT)}]",
             led.cite(file, ("runs", i, "n")), led.cite(file, ("runs", i, "steps")),
             led.cite(file, ("runs", i, "train_tokens_seen"), "{:,}"), led.cite(file, ("runs", i, "parameters"), "{:,}")]
            for i, r in enumerate(data["runs"])]
    pairs = [[f"{p['other']} - {p['base']}", led.cite(file, ("pairs", i, "delta"), PP),
              f"[{led.cite(file, ('pairs', i, 'ci_lo'), PP)}, {led.cite(file, ('pairs', i, 'ci_hi'), PP)}]",
              led.cite(file, ("pairs", i, "only_base")), led.cite(file, ("pairs", i, "only_other")),
              led.cite(file, ("pairs", i, "p_value"), "{:.3g}")] for i, p in enumerate(data["pairs"])]
    return "\n".join([
        "## Curation comparison: how the training data is presented\n",
        f"Parental Oversight's claim, tested in this run: one model per curation format, each trained from scratch with the "
        f"`{led.cite(file, ('profile',))}` profile's settings (only `curate.format` differs in the params, same seeds), "
        f"each answering the same held-out `{led.cite(file, ('benchmark',))}` questions greedily "
        f"({led.cite(file, ('mode',))} scorer). The runs train for the same number of epochs, not steps: shorter targets "
        "pack more examples per row, so fewer optimizer steps; each run's tokenizer is trained on its own corpus, so "
        "the parameter counts differ slightly. The `compare@<format>` stages of `dvc repro`; notebook `08_comparison`.\n",
        _table(["format", "accuracy", f"{level} Wilson interval", "n", "SFT steps", "train tokens", "parameters"], runs),
        "Each pair on the same questions: the difference in accuracy with a paired bootstrap interval, and McNemar's "
        "exact test on the questions only one of the two answered right.\n",
        _table(["difference", "points", f"{level} paired bootstrap CI", "only base right", "only other right",
                "McNemar exact p"], pairs),
        _source(file),
        "\n![curation comparison](../figures/comparison/accuracy.png)\n",
        "Losses, and accuracy on training questions vs held-out questions at each saved checkpoint (the overfitting "
        "curve of each run):\n",
        "![curation comparison curves](../figures/comparison/curves.png)\n"])


def ablation_section(led: Ledger, file: str = A.ABLATION_MD, fig: str = "figures/ablation/accuracy.png") -> str:
    title = "## The full curation ablation (`make ablation`)\n"
    if not (led.root / file).is_file():
        return "\n".join([title, f"The curation comparison has not been run here: `{file}` does not exist "
                          "(`make ablation` runs the experiments and writes it).\n"])
    tables = led.load(file)["tables"]
    if not tables:
        return "\n".join([title, f"`{file}` holds no table: no finished ablation experiment was found.\n", _source(file)])
    out = [title, "Each finished `dvc exp` run of the curation ablation (notebook `90_ablation`): how presenting the "
           "training data as bare answers, original rationales or numbered steps, and curating it or not, changes "
           "accuracy. The tables are those of the file cited below.\n"]
    for t, table in enumerate(tables):
        numeric = [bool(table["rows"]) and all(is_numeric(r[j]) for r in table["rows"] if j < len(r))
                   for j in range(len(table["header"]))]
        rows = [[led.cite(file, ("tables", t, "rows", i, j)) if numeric[j] else cell for j, cell in enumerate(row)]
                for i, row in enumerate(table["rows"])]
        out += [_table(table["header"], rows)]
    out += [_source(file)]
    if (led.root / fig).is_file():
        out += [f"\n![curation ablation](../{fig})\n"]
    return "\n".join(out)


def build(root: Path) -> tuple[str, Ledger]:
    led = Ledger(root)
    profile = led.value(A.SFT_SUMMARY, ("profile",))
    parts = [f"# Abel, reproduced: report ({profile} profile)\n",
             key_findings_section(led), limits_section(led, profile), released_section(led), change_section(led),
             steps_section(led), published_section(led), curation_section(led), comparison_section(led), ablation_section(led),
             sft_section(led), overfit_section(led), ours_section(led), memorization_section(led),
             provenance_section(led)]
    return "\n".join(parts), led


HEADLINE = A.HEADLINE


def headline(root: Path) -> dict[str, Any]:
    """The few numbers ``dvc metrics show / diff`` and ``dvc exp show`` display (metrics/headline.json),
    short enough to read on one screen: the released generations' GSM8K accuracy and robustness delta
    per model (abel scorer, the paper's), our model's GSM8K and MATH500 accuracy (strict scorer), and
    the final SFT losses. Every other number stays in the detailed files beside it."""
    led = Ledger(root)
    released: dict[str, Any] = {}
    for model, f in _released_files(led, "gsm8k").items():
        if "abel" in led.load(f):
            released[f"gsm8k_{model}"] = led.value(f, ("abel", "accuracy"))
    for row in led.load(A.RELEASED_ROBUSTNESS):
        if row["mode"] == "abel" and (row["base"], row["perturbed"]) == ("gsm8k", "gsm8k_robust"):
            released[f"robust_delta_{row['model']}"] = row["delta"]
    ours = {r["benchmark"]: r["accuracy"] for r in led.load(A.OURS_ACCURACY).values()
            if r["mode"] == "strict" and r["benchmark"] in ("gsm8k", "math500")}
    sft = led.load(A.SFT_SUMMARY)
    comparison = {r["format"]: r["accuracy"] for r in led.load(A.COMPARISON_METRICS)["runs"]}
    return {"released": released, "ours": ours,
            "sft": {"train_loss": sft["train_loss_final"], "val_loss": sft["val_loss_final"]},
            "comparison": comparison}


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
    # anchor_link_text="": nbconvert appends a visible "¶" link to every heading by default
    exporter = HTMLExporter(template_name="basic", embed_images=True, exclude_input_prompt=True, anchor_link_text="")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(base_dir)}})
    # no text-align here: each column's alignment comes from its Markdown separator row (tables.markdown_table)
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;padding:.2rem .5rem}"
             "th{background:#f2f2f2}img{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title><style>{style}</style>"
            f"</head><body>\n{body}\n</body></html>\n")
