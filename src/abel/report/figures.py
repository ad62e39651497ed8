"""Paper figures: colour-blind-safe palette, labelled axes, CIs as error bars, PNG + SVG.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so this module picks no
backend: in a notebook, ``%matplotlib inline`` shows ``display(fig)`` as an image, and ``save``
writes files anywhere (no display needed, nothing left open in pyplot).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import seaborn as sns
from matplotlib.figure import Figure

from abel.artifacts import model_order
from abel.io import atomic_open

PALETTE = sns.color_palette("colorblind")
matplotlib.rcParams["svg.hashsalt"] = "abel"  # deterministic SVG ids: unchanged figures stay byte-identical


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` atomically; return both paths."""
    paths = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        with atomic_open(path, "wb") as fh:
            # fixed metadata so an unchanged figure is byte-identical across runs
            meta = {"Software": None} if ext == "png" else {"Date": None, "Creator": None}
            fig.savefig(fh, format=ext, dpi=150, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths


def _pct(x: float) -> float:
    return 100.0 * x


def robustness_figure(rows: Sequence[dict[str, Any]], mode: str, title: str) -> Figure:
    """Left: accuracy on the original vs perturbed set per model; right: paired delta with CI."""
    rows = sorted((r for r in rows if r["mode"] == mode), key=lambda r: model_order(r["model"]))
    if not rows:
        raise ValueError(f"no robustness rows for mode {mode!r}")
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(8.5, 3.4))
    ax_acc, ax_delta = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    one_pair = len({(r["base"], r["perturbed"]) for r in rows}) == 1
    one_model = len({r["model"] for r in rows}) == 1
    # x: the model (one pair, several models) or the perturbation (one model, several pairs)
    models = [r["model"].upper() if one_pair else (r["perturbed"] if one_model else f"{r['model'].upper()}: {r['perturbed']}")
              for r in rows]
    xlabel = "model" if one_pair else "perturbed set (paired with its original)"
    xs = range(len(rows))
    width = 0.36
    for offset, key, label, color in ((-width / 2, "acc_base", rows[0]["base"] if one_pair else "original", PALETTE[0]),
                                      (width / 2, "acc_perturbed", rows[0]["perturbed"] if one_pair else "perturbed",
                                       PALETTE[1])):
        vals = [_pct(r[key]) for r in rows]
        ax_acc.bar([x + offset for x in xs], vals, width, label=label, color=color)
        for x, v in zip(xs, vals):
            ax_acc.text(x + offset, v + 0.8, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
    ax_acc.set_xticks(list(xs), models, rotation=0 if one_pair else 20, ha="center" if one_pair else "right")
    ax_acc.set_xlabel(xlabel)
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.legend(loc="upper left", frameon=False)
    ax_acc.set_title("accuracy on paired questions")

    deltas = [_pct(r["delta"]) for r in rows]
    err = [[_pct(r["delta"] - r["delta_lo"]) for r in rows], [_pct(r["delta_hi"] - r["delta"]) for r in rows]]
    ax_delta.errorbar(list(xs), deltas, yerr=err, fmt="o", color=PALETTE[2], capsize=4)
    ax_delta.axhline(0, color="0.3", lw=0.8)
    for x, r in zip(xs, rows):
        ax_delta.annotate(f"p={r['mcnemar']['p_value']:.2f}", (x, _pct(r["delta_hi"])), textcoords="offset points",
                          xytext=(0, 4), ha="center", fontsize=7)
    ax_delta.set_xticks(list(xs), models, rotation=0 if one_pair else 20, ha="center" if one_pair else "right")
    ax_delta.set_xlim(-0.6, len(rows) - 0.4)
    low, high = ax_delta.get_ylim()
    ax_delta.set_ylim(low, high + 0.15 * (high - low))  # room for the p-value labels
    ax_delta.set_xlabel(xlabel)
    ax_delta.set_ylabel("perturbed - original (pp)")
    ax_delta.set_title(f"paired delta, {int(rows[0]['ci'] * 100)}% bootstrap CI")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def steps_figure(rows: Sequence[dict[str, Any]], mode: str, title: str, max_bucket: int = 8) -> Figure:
    """Accuracy by number of gold reasoning steps, one line per model, CI error bars."""
    rows = [r for r in rows if r["mode"] == mode]
    if not rows:
        raise ValueError(f"no per-step rows for mode {mode!r}")
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.subplots()
    models = sorted({r["model"] for r in rows}, key=model_order)
    for i, model in enumerate(models):
        pts = sorted((r for r in rows if r["model"] == model), key=lambda r: r["steps"])
        xs = [r["steps"] + (i - (len(models) - 1) / 2) * 0.12 for r in pts]
        ax.errorbar(xs, [_pct(r["value"]) for r in pts],
                    yerr=[[_pct(r["value"] - r["lo"]) for r in pts], [_pct(r["hi"] - r["value"]) for r in pts]],
                    fmt="-o", ms=4, capsize=3, color=PALETTE[i % len(PALETTE)], label=model.upper())
    ticks = sorted({r["steps"] for r in rows})
    ax.set_xticks(ticks, [f"{t}+" if t == max_bucket else str(t) for t in ticks])
    ax.set_xlabel("reasoning steps in the gold solution")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(title="model", frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def funnel_figure(funnel: dict[str, dict[str, int]], steps: Sequence[str], title: str) -> Figure:
    """Left: records read vs kept per source. Right: records removed by each filter, per source."""
    sns.set_theme(style="whitegrid", context="paper")
    removed_steps = [s for s in steps if s not in ("read", "kept", "selected")]
    sources = list(funnel)
    fig = Figure(figsize=(10, 0.9 + 0.35 * len(removed_steps)))
    ax_kept, ax_drop = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 3]})
    ys = range(len(sources))
    ax_kept.barh(list(ys), [funnel[s]["read"] for s in sources], color="0.8", label="read")
    ax_kept.barh(list(ys), [funnel[s]["kept"] for s in sources], color=PALETTE[0], label="kept")
    ax_kept.barh(list(ys), [funnel[s]["selected"] for s in sources], color=PALETTE[2], label="selected")
    ax_kept.set_yticks(list(ys), sources)
    ax_kept.set_xlabel("records")
    ax_kept.set_ylabel("source")
    ax_kept.legend(frameon=False, fontsize=7, loc="lower right")
    ax_kept.set_title("read, kept after filters, selected", fontsize=9)
    height = 0.8 / max(len(sources), 1)
    for i, src in enumerate(sources):
        ys_step = [j + (i - (len(sources) - 1) / 2) * height for j in range(len(removed_steps))]
        vals = [funnel[src][step] for step in removed_steps]
        ax_drop.barh(ys_step, vals, height=height, color=PALETTE[(i + 3) % len(PALETTE)], label=src)
        for y, v in zip(ys_step, vals):
            ax_drop.text(v, y, f" {v}", va="center", fontsize=7)
    ax_drop.set_yticks(list(range(len(removed_steps))), removed_steps)
    ax_drop.invert_yaxis()
    ax_drop.set_xlabel("records removed")
    ax_drop.legend(title="source", frameon=False, fontsize=7, loc="lower right")
    ax_drop.set_title("removed by each filter (in pipeline order)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def distribution_figure(values: dict[str, list[float]], xlabel: str, title: str, bins: int = 30) -> Figure:
    """Histogram of a per-record quantity (tokens, steps, level), one colour per source."""
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(5.5, 3.2))
    ax = fig.subplots()
    for i, (name, vals) in enumerate(values.items()):
        if vals:
            ax.hist(vals, bins=bins, alpha=0.6, color=PALETTE[i % len(PALETTE)], label=f"{name} (n={len(vals)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("records")
    ax.legend(frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def loss_figure(train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], title: str) -> Figure:
    """Training loss per optimizer step and validation loss at its evaluation steps; LR on a twin axis."""
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(6.5, 3.4))
    ax = fig.subplots()
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], color=PALETTE[0], lw=1.2, label="train loss")
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", color=PALETTE[1], lw=1.2, ms=4,
                label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats / target token)")
    lr = ax.twinx()
    lr.plot([r["step"] for r in train], [r["lr"] for r in train], color=PALETTE[2], lw=0.8, ls="--", label="learning rate")
    lr.set_ylabel("learning rate")
    lr.grid(False)
    handles = ax.get_legend_handles_labels()[0] + lr.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper right", frameon=False)
    ax.set_title(title)
    return fig


def ablation_figure(runs: Sequence[Any], title: str) -> Figure:
    """One point per run (accuracy, 95% Wilson interval as an error bar), grouped by variant, with
    each variant's mean across seeds as a bar. ``runs``: abel.analysis.ablation.Run."""
    variants = sorted({r.variant for r in runs})
    seeds = sorted({r.curate_seed for r in runs})
    fig = Figure(figsize=(max(5.0, 1.6 * len(variants)), 3.6))
    ax = fig.subplots()
    for i, variant in enumerate(variants):
        mine = [r for r in runs if r.variant == variant]
        ax.bar(i, _pct(sum(r.accuracy for r in mine) / len(mine)), width=0.7, color=PALETTE[0], alpha=0.35,
               label="mean over seeds" if i == 0 else None)
        for r in mine:
            k = seeds.index(r.curate_seed)
            x = i + (k - (len(seeds) - 1) / 2) * 0.18
            ax.errorbar(x, _pct(r.accuracy), yerr=[[_pct(r.accuracy - r.ci_lo)], [_pct(r.ci_hi - r.accuracy)]],
                        fmt="o", ms=5, capsize=3, color=PALETTE[1 + k % (len(PALETTE) - 1)],
                        label=f"seed {r.curate_seed} (95% Wilson interval)" if i == 0 or r.curate_seed not in
                        {q.curate_seed for q in runs if variants.index(q.variant) < i} else None)
    ax.set_xticks(range(len(variants)), variants, rotation=15, ha="right")
    ax.set_ylabel(f"accuracy on {runs[0].benchmark} (%)" if runs else "accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def overfit_figure(train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], acc: Sequence[dict[str, Any]],
                   title: str, test_label: str) -> Figure:
    """Top: train and validation loss per step. Bottom: accuracy on training questions vs test
    questions at each saved checkpoint (Wilson intervals as error bars). One shared step axis."""
    fig = Figure(figsize=(6.5, 5.2))
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1]})
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], color=PALETTE[0], lw=1.2, label="train loss")
    if val:
        ax_loss.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", color=PALETTE[1], lw=1.2, ms=4,
                     label="validation loss")
    ax_loss.set_ylabel("loss (nats / target token)")
    ax_loss.legend(frameon=False, fontsize=8)
    ax_loss.grid(alpha=0.3)
    for i, (split, label) in enumerate((("train", "training questions"), ("test", test_label))):
        rows = sorted((r for r in acc if r["split"] == split), key=lambda r: r["step"])
        if not rows:
            continue
        ax_acc.errorbar([r["step"] for r in rows], [_pct(r["accuracy"]) for r in rows],
                        yerr=[[_pct(r["accuracy"] - r["ci_lo"]) for r in rows], [_pct(r["ci_hi"] - r["accuracy"]) for r in rows]],
                        fmt="o-" if i == 0 else "s--", color=PALETTE[2 + i], capsize=3, ms=4,
                        label=f"{label} (n={rows[0]['n']}, {int(rows[0]['ci'] * 100)}% CI)")
    ax_acc.set_xlabel("optimizer step (saved checkpoints)")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(-2, 102)
    ax_acc.legend(frameon=False, fontsize=8)
    ax_acc.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def comparison_figure(runs: Sequence[dict[str, Any]], pairs: Sequence[dict[str, Any]], title: str) -> Figure:
    """Left: each format's accuracy on the shared test questions, Wilson interval as an error bar. Right:
    each pair's paired difference with its bootstrap interval, McNemar's p beside it. ``runs``: the
    comparison's run rows (format, accuracy, ci_lo, ci_hi, n); ``pairs``: its pair rows."""
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(9.0, 3.6))
    ax_acc, ax_delta = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    xs = range(len(runs))
    ax_acc.bar(xs, [_pct(r["accuracy"]) for r in runs], width=0.6, color=PALETTE[0], alpha=0.45)
    ax_acc.errorbar(xs, [_pct(r["accuracy"]) for r in runs],
                    yerr=[[_pct(r["accuracy"] - r["ci_lo"]) for r in runs], [_pct(r["ci_hi"] - r["accuracy"]) for r in runs]],
                    fmt="o", color=PALETTE[1], capsize=4, ms=5, label=f"{int(runs[0]['ci'] * 100)}% Wilson interval")
    for x, r in zip(xs, runs):
        ax_acc.annotate(f"{_pct(r['accuracy']):.1f}", (x, _pct(r["ci_hi"])), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=8)
    ax_acc.set_xticks(list(xs), [r["format"] for r in runs])
    ax_acc.set_ylim(0, 105)
    ax_acc.set_ylabel(f"accuracy on {runs[0]['benchmark']} (%, n={runs[0]['n']})")
    ax_acc.legend(frameon=False, fontsize=8, loc="upper left")
    ys = range(len(pairs))
    ax_delta.errorbar([_pct(p["delta"]) for p in pairs], list(ys),
                      xerr=[[_pct(p["delta"] - p["ci_lo"]) for p in pairs], [_pct(p["ci_hi"] - p["delta"]) for p in pairs]],
                      fmt="o", color=PALETTE[2], capsize=4, ms=5)
    ax_delta.axvline(0, color="0.4", lw=0.8)
    ax_delta.set_yticks(list(ys), [f"{p['other']} - {p['base']}\nMcNemar p = {p['p_value']:.2g}" for p in pairs], fontsize=8)
    ax_delta.invert_yaxis()
    ax_delta.set_xlabel(f"paired difference (points), {int(pairs[0]['ci'] * 100)}% bootstrap interval" if pairs else "")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def comparison_curves_figure(runs: Sequence[dict[str, Any]], losses: dict[str, tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]]],
                             title: str) -> Figure:
    """One column per format: its training and validation loss (top), and its accuracy on training questions
    vs held-out test questions at each saved checkpoint, Wilson intervals as error bars (bottom)."""
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(3.3 * len(runs), 5.2))
    axes = fig.subplots(2, len(runs), squeeze=False)
    for j, r in enumerate(runs):
        ax_loss, ax_acc = axes[0][j], axes[1][j]
        train, val = losses[r["format"]]
        ax_loss.plot([x["step"] for x in train], [x["loss"] for x in train], color=PALETTE[0], lw=1.0, label="train loss")
        if val:
            ax_loss.plot([x["step"] for x in val], [x["val_loss"] for x in val], "o-", color=PALETTE[1], lw=1.0, ms=3,
                         label="validation loss")
        ax_loss.set_yscale("log")
        ax_loss.set_title(r["format"])
        for i, (split, label) in enumerate((("train", "training questions"), ("test", "test questions"))):
            rows = sorted((c for c in r["curve"] if c["split"] == split), key=lambda c: c["step"])
            if rows:
                ax_acc.errorbar([c["step"] for c in rows], [_pct(c["accuracy"]) for c in rows],
                                yerr=[[_pct(c["accuracy"] - c["ci_lo"]) for c in rows], [_pct(c["ci_hi"] - c["accuracy"]) for c in rows]],
                                fmt="o-" if i == 0 else "s--", color=PALETTE[2 + i], capsize=2, ms=3,
                                label=f"{label} (n={rows[0]['n']})")
        ax_acc.set_ylim(-2, 102)
        ax_acc.set_xlabel("optimizer step")
        if j == 0:
            ax_loss.set_ylabel("loss (nats / target token)")
            ax_acc.set_ylabel("accuracy (%)")
            ax_loss.legend(frameon=False, fontsize=7)
            ax_acc.legend(frameon=False, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
