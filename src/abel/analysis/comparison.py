"""The curation comparison: runs that differ only in ``curate.format``, answered on the same test
questions, compared question by question.

Each run is summarized by its accuracy with a Wilson interval; each pair of runs by the paired
difference (``later - earlier`` in ``compare.formats`` order) with a bootstrap interval that resamples
questions jointly, and McNemar's exact test on the questions where the two disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

from abel.analysis.stats import mcnemar_exact, paired_bootstrap_delta


class ComparisonError(ValueError):
    """The runs cannot be paired (different questions); the message names the files."""


def paired_verdicts(runs: dict[str, list[dict[str, Any]]], where: dict[str, str]) -> dict[str, list[bool]]:
    """{format: verdicts in one shared question order} from each run's ``test.jsonl`` rows (``id``, ``correct``).
    Every run must have answered exactly the same question ids: otherwise there is nothing to pair."""
    formats = list(runs)
    if not formats:
        raise ComparisonError("no runs to compare")
    first = formats[0]
    order = [str(r["id"]) for r in runs[first]]
    if len(set(order)) != len(order):
        raise ComparisonError(f"{where[first]}: question ids repeat")
    out = {}
    for fmt in formats:
        by_id = {str(r["id"]): r["correct"] for r in runs[fmt]}
        if len(by_id) != len(runs[fmt]):
            raise ComparisonError(f"{where[fmt]}: question ids repeat")
        if set(by_id) != set(order):
            missing, extra = sorted(set(order) - set(by_id))[:5], sorted(set(by_id) - set(order))[:5]
            raise ComparisonError(f"{where[fmt]} and {where[first]} answered different questions (only in "
                                  f"{where[first]}: {missing}; only in {where[fmt]}: {extra}): the runs are not paired; "
                                  "re-run the compare stages (dvc repro)")
        if any(not isinstance(v, bool) for v in by_id.values()):
            raise ComparisonError(f"{where[fmt]}: a 'correct' field is not true or false")
        out[fmt] = [by_id[i] for i in order]
    return out


def pairs(verdicts: dict[str, Sequence[bool]], *, resamples: int, ci: float, seed: int) -> list[dict[str, Any]]:
    """Every pair of formats (in the given order): accuracy difference ``other - base`` with its paired
    bootstrap interval, and McNemar's exact test (counts of questions only one of the two got right)."""
    out = []
    for base, other in combinations(list(verdicts), 2):
        delta = paired_bootstrap_delta(verdicts[base], verdicts[other], resamples=resamples, ci=ci, seed=seed)
        test = mcnemar_exact(verdicts[base], verdicts[other])
        out.append({"base": base, "other": other, "n": delta.n, "delta": delta.value, "ci_lo": delta.lo, "ci_hi": delta.hi,
                    "ci": ci, "resamples": resamples, "only_base": test.only_base, "only_other": test.only_other,
                    "both": test.both, "neither": test.neither, "p_value": test.p_value})
    return out


def markdown(summary: dict[str, Any]) -> str:
    """reports/comparison/comparison.md: what was compared, the runs table, the pairs table, the figures."""
    from abel.report.tables import markdown_table

    runs, level = summary["runs"], f"{100 * summary['ci']:g}%"
    table = markdown_table(
        ["format", "accuracy (%)", f"{level} Wilson interval", "correct", "n", "SFT steps", "train tokens", "train records",
         "parameters", "curate / sft seed"],
        [[r["format"], f"{100 * r['accuracy']:.1f}", f"[{100 * r['ci_lo']:.1f}, {100 * r['ci_hi']:.1f}]", r["correct"], r["n"],
          r["steps"], r["train_tokens_seen"], r["train_records"], r["parameters"], f"{r['curate_seed']} / {r['sft_seed']}"]
         for r in runs])
    paired = markdown_table(
        ["difference", "points", f"{level} paired bootstrap interval", "only base right", "only other right", "McNemar exact p"],
        [[f"{p['other']} - {p['base']}", f"{100 * p['delta']:+.1f}", f"[{100 * p['ci_lo']:+.1f}, {100 * p['ci_hi']:+.1f}]",
          p["only_base"], p["only_other"], f"{p['p_value']:.3g}"] for p in summary["pairs"]])
    return (f"# Curation comparison ({summary['profile']} profile)\n\n"
            f"One model per curation format, trained from scratch with the `{summary['profile']}` profile's settings "
            f"(only `curate.format` differs in the params; the seeds are the same), each answering the same "
            f"{runs[0]['n']} held-out `{summary['benchmark']}` questions greedily, {summary['mode']} scoring. "
            "The runs are the `compare@<format>` stages of `dvc repro`; this is the `comparison` stage. They train for "
            "the same number of epochs, not steps: a format with shorter targets packs more examples per row and so takes "
            "fewer optimizer steps; and each run's tokenizer is trained on its own corpus, so the vocabulary (and the "
            "parameter count) differs slightly.\n\n"
            + table + "\nEach pair on the same questions: the accuracy difference with a bootstrap interval that resamples "
            f"questions jointly ({summary['pairs'][0]['resamples']} resamples, seed {summary['compare_seed']}), and "
            "McNemar's exact test on the questions only one of the two got right.\n\n" + paired
            + "\n![accuracy](../../figures/comparison/accuracy.png)\n\n"
            "Training and validation loss, and accuracy on training questions vs held-out questions at each saved "
            "checkpoint (the overfitting curve), per format:\n\n![curves](../../figures/comparison/curves.png)\n")
