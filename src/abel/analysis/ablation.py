"""The curation ablation: DVC experiments compared on one benchmark, with each run's CI.

The experiments come from ``dvc exp show --json``. Each run is one set of curation choices
(``curate.format``, the ``dedupe`` / ``decontaminate`` filters) and one seed (``curate.seed``, and
``sft.seed`` with it). A *variant* is the set of choices without the seed. Nothing here runs a
model: it reads the ``params`` and ``metrics/ours/accuracy.json`` that each experiment committed.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abel import artifacts as A
from abel.analysis.stats import wilson
from abel.config import with_profile
from abel.report.tables import markdown_table

ACCURACY_FILE = A.OURS_ACCURACY
SFT_FILE = A.SFT_SUMMARY


class AblationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Run:
    name: str
    rev: str
    profile: str
    format: str
    dedupe: bool
    decontaminate: bool
    curate_seed: int
    sft_seed: int
    benchmark: str
    accuracy: float
    ci_lo: float
    ci_hi: float
    n: int
    steps: int  # optimizer steps (packing: a shorter format fits more examples per row, so fewer steps)
    train_tokens: int
    epochs: float = 0.0
    extra_epochs: bool = False  # trained for other than the profile's usual number of epochs
    ci: float = 0.95  # the interval's level

    @property
    def variant(self) -> str:
        flags = [f for f, on in (("no dedupe", not self.dedupe), ("no decontamination", not self.decontaminate),
                                 (f"{self.epochs:g} epochs", self.extra_epochs)) if on]
        return self.format + (f" ({', '.join(flags)})" if flags else "")


def exp_show(root: Path) -> list[dict[str, Any]]:
    """``dvc exp show --json`` of the repo at ``root`` (every experiment, all branches' baselines)."""
    proc = subprocess.run(["dvc", "exp", "show", "--json", "--all-commits", "--no-fetch"], cwd=root,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise AblationError(f"`dvc exp show --json` failed in {root}: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def git_reader(root: Path) -> Callable[[str, str], dict[str, Any] | None]:
    """Read a JSON file as committed in an experiment (``git show REV:PATH``); None if it is not there.
    Only ``metrics/headline.json`` is a DVC metric, so ``exp show`` does not carry the detailed files."""
    def read(rev: str, path: str) -> dict[str, Any] | None:
        proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True)
        return json.loads(proc.stdout) if proc.returncode == 0 else None
    return read


def _entries(tree: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every committed experiment in exp-show JSON (baselines and the workspace are skipped)."""
    for baseline in tree:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                yield rev


def runs(tree: list[dict[str, Any]], benchmark: str = "chain_sum", mode: str = "strict",
         profile: str = "arith", read: Callable[[str, str], dict[str, Any] | None] | None = None) -> list[Run]:
    """The runs of ``profile`` that measured ``benchmark``; failed or unfinished ones are skipped.
    Each run's accuracy and SFT summary come from the exp-show tree when it carries them, else from
    ``read(rev, path)`` (``git_reader``: the files as the experiment committed them)."""
    out = []
    for entry in _entries(tree):
        data = entry.get("data") or {}
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        def metric(path: str) -> dict[str, Any]:
            shown = ((data.get("metrics") or {}).get(path) or {}).get("data")
            if shown is None and read is not None and entry.get("rev") and not entry.get("error"):
                shown = read(str(entry["rev"]), path)
            return shown or {}
        metrics, sft_summary = metric(ACCURACY_FILE), metric(SFT_FILE)
        row = metrics.get(A.metric_key(benchmark, A.OWN_MODEL, mode))
        if entry.get("error") or params.get("profile") != profile or not row:
            continue
        # the interval from the counts (experiments run before the switch to Wilson saved a bootstrap one)
        est = wilson(round(float(row["accuracy"]) * int(row["n"])), int(row["n"]), ci=float(row.get("ci", 0.95)))
        merged = with_profile(params, profile)  # what the experiment ran: its profile laid over the base
        curate, sft = merged.get("curate") or {}, merged.get("sft") or {}
        epochs = float(sft.get("epochs", 0))
        out.append(Run(
            name=entry.get("name") or str(entry.get("rev", ""))[:7], rev=str(entry.get("rev", "")),
            profile=profile, format=str(curate.get("format")), dedupe=bool(curate.get("dedupe", True)),
            decontaminate=bool(curate.get("decontaminate", True)), curate_seed=int(curate.get("seed", 0)),
            sft_seed=int(sft.get("seed", 0)), benchmark=benchmark, accuracy=float(row["accuracy"]),
            ci_lo=est.lo, ci_hi=est.hi, n=int(row["n"]),
            steps=int(sft_summary.get("steps", 0)), train_tokens=int(sft_summary.get("train_tokens_seen", 0)),
            epochs=epochs, ci=est.ci))
    # runs at other than the usual (most common) number of epochs are their own variant
    if out:
        usual = statistics.mode(r.epochs for r in out)
        out = [dataclasses.replace(r, extra_epochs=r.epochs != usual) for r in out]
    # the same params committed twice (a re-run): keep one, so a seed is not counted twice
    unique: dict[tuple[Any, ...], Run] = {}
    for run in sorted(out, key=lambda r: r.rev):
        unique.setdefault((run.variant, run.curate_seed, run.sft_seed), run)
    return sorted(unique.values(), key=lambda r: (r.variant, r.curate_seed, r.sft_seed))


def save_runs(path: Path, items: list[Run], *, mode: str, source: str) -> None:
    """Keep the compared runs (``source``: where they were read from) so the comparison can be
    re-rendered where the experiments themselves are not (a fresh clone)."""
    from abel.io import write_json

    if not items:
        raise AblationError("no runs to save: an empty comparison never replaces a saved one")
    write_json(path, {"source": source, "mode": mode, "runs": [dataclasses.asdict(r) for r in items]})


def load_runs(path: Path, *, benchmark: str, mode: str, profile: str) -> tuple[list[Run], str]:
    """The saved runs of ``profile`` measured on ``benchmark`` in ``mode``, and where they came from."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["mode"] != mode:
            return [], data["source"]
        items = [Run(**row) for row in data["runs"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AblationError(f"{path}: not a saved ablation comparison ({exc})") from exc
    return [r for r in items if r.profile == profile and r.benchmark == benchmark], data["source"]


def report_markdown(items: list[Run], *, profile: str, benchmark: str, mode: str, source: str) -> str:
    """reports/ablation.md: where the runs come from, both tables, and the figure."""
    return (f"# Curation ablation ({profile} profile)\n\n"
            f"Accuracy on `{benchmark}` ({mode} scoring) of each finished `dvc exp` run with `profile: {profile}` "
            f"({source}), compared by notebooks/90_ablation.ipynb; {100 * items[0].ci:g}% Wilson intervals over the benchmark's "
            f"questions.\n\n" + markdown(items) + "\n![accuracy](../figures/ablation/accuracy.png)\n")


@dataclass(frozen=True)
class VariantSummary:
    variant: str
    seeds: int
    mean: float
    min: float
    max: float
    sd: float  # across seeds (0 with one seed)


def summarize(items: list[Run]) -> list[VariantSummary]:
    groups: dict[str, list[float]] = {}
    for run in items:
        groups.setdefault(run.variant, []).append(run.accuracy)
    return [VariantSummary(v, len(a), statistics.fmean(a), min(a), max(a), statistics.stdev(a) if len(a) > 1 else 0.0)
            for v, a in groups.items()]


def markdown(items: list[Run]) -> str:
    """Per-run table (accuracy with its Wilson interval) and the per-variant summary across seeds."""
    if not items:
        return "No finished experiments of this profile were found.\n"
    level = f"{100 * items[0].ci:g}% Wilson interval"
    runs = markdown_table(
        ["variant", "seed", "accuracy (%)", level, "n", "SFT steps", "train tokens", "experiment"],
        [[r.variant, r.curate_seed, f"{100 * r.accuracy:.1f}", f"[{100 * r.ci_lo:.1f}, {100 * r.ci_hi:.1f}]", r.n,
          r.steps, r.train_tokens, r.name] for r in items])
    seeds = markdown_table(
        ["variant", "seeds", "mean (%)", "min", "max", "sd across seeds"],
        [[s.variant, s.seeds, f"{100 * s.mean:.1f}", f"{100 * s.min:.1f}", f"{100 * s.max:.1f}", f"{100 * s.sd:.1f}"]
         for s in summarize(items)])
    return runs + "\n" + seeds
