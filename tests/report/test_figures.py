"""Every paper figure on tiny synthetic rows: a Figure with titles and labels drawn from the data,
and ``save`` writing deterministic PNG + SVG. The rows have the shapes the stages pass in."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from abel.analysis.ablation import Run
from abel.analysis.stats import accuracy_rows
from abel.curation.pipeline import STEPS
from abel.report import figures


def _rob(model: str, perturbed: str, acc_base: float, acc_perturbed: float, mode: str = "strict") -> dict:
    delta = acc_perturbed - acc_base
    return {"base": "gsm8k", "perturbed": perturbed, "model": model, "mode": mode, "n_paired": 10, "n_base": 10,
            "n_perturbed": 10, "min_prompt_overlap": 1.0, "acc_base": acc_base, "acc_perturbed": acc_perturbed,
            "delta": delta, "delta_lo": delta - 0.1, "delta_hi": delta + 0.1, "ci": 0.95,
            "mcnemar": {"only_base": 3, "only_other": 1, "both": 5, "neither": 1, "p_value": 0.625}}


ROBUSTNESS = [_rob("13b", "gsm8k_robust", 0.7, 0.6), _rob("7b", "gsm8k_robust", 0.5, 0.45),
              _rob("7b", "gsm8k_robust", 0.1, 0.2, mode="abel")]
STEPS_ROWS = [{"benchmark": "gsm8k", "model": m, "mode": "strict", "steps": s, "value": v, "lo": v - 0.1,
               "hi": min(v + 0.1, 1.0), "n": 10, "ci": 0.95}
              for m, pts in (("13b", ((2, 0.8), (8, 0.4))), ("7b", ((2, 0.6), (3, 0.5), (8, 0.2)))) for s, v in pts]
FUNNEL = {"gsm8k_train": {**{s: 0 for s in STEPS}, "read": 100, "malformed": 2, "duplicate": 8, "kept": 90,
                          "selected": 60},
          "math_train": {**{s: 0 for s in STEPS}, "read": 50, "too_long": 10, "contaminated": 1, "kept": 39,
                         "selected": 39}}
TRAIN = [{"step": s, "epoch": s / 4, "loss": 3.0 / s, "lr": 1e-4 * s / 4, "grad_norm": 1.0, "tokens": 100}
         for s in (1, 2, 3, 4)]
VAL = [{"step": 2, "val_loss": 1.8}, {"step": 4, "val_loss": 1.2}]


def _run(fmt: str, seed: int, acc: float) -> Run:
    return Run(name=f"{fmt}-{seed}", rev=str(seed), profile="arith", format=fmt, dedupe=True, decontaminate=True,
               curate_seed=seed, sft_seed=seed, benchmark="chain_sum", accuracy=acc, ci_lo=acc - 0.1,
               ci_hi=acc + 0.1, n=50, steps=10, train_tokens=1000, epochs=3.0)


RUNS = [_run("abel", 0, 0.4), _run("abel", 1, 0.6), _run("plain", 0, 0.3), _run("plain", 1, 0.5)]
OVERFIT_ACC = accuracy_rows({2: {"train": [True, False, False, False], "test": [False] * 4},
                             4: {"train": [True] * 4, "test": [True, False, False, False]}}, ci=0.9)


def _suptitle(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


CMP_CURVE = [{"step": s, "split": split, "n": 10, "accuracy": a, "ci_lo": max(0.0, a - 0.2), "ci_hi": min(1.0, a + 0.2), "ci": 0.95}
             for s, split, a in ((2, "train", 0.1), (2, "test", 0.2), (4, "train", 0.5), (4, "test", 0.4))]
CMP_RUNS = [{"format": f, "benchmark": "chain_sum", "accuracy": a, "ci_lo": a - 0.05, "ci_hi": a + 0.05, "ci": 0.95, "n": 400,
             "curve": CMP_CURVE} for f, a in (("answer_only", 0.3), ("stepwise", 0.9))]
CMP_PAIRS = [{"base": "answer_only", "other": "stepwise", "delta": 0.6, "ci_lo": 0.55, "ci_hi": 0.65, "ci": 0.95, "p_value": 1e-20}]

BUILDERS = {
    "robustness": lambda: figures.robustness_figure(ROBUSTNESS, "strict", "Robustness title"),
    "steps": lambda: figures.steps_figure(STEPS_ROWS, "strict", "Steps title"),
    "funnel": lambda: figures.funnel_figure(FUNNEL, STEPS, "Funnel title"),
    "distribution": lambda: figures.distribution_figure({"gsm8k_train": [1.0, 2.0, 2.0, 5.0], "math_train": [3.0, 4.0],
                                                         "empty": []}, "words", "Distribution title", bins=4),
    "loss": lambda: figures.loss_figure(TRAIN, VAL, "Loss title"),
    "ablation": lambda: figures.ablation_figure(RUNS, "Ablation title"),
    "overfit": lambda: figures.overfit_figure(TRAIN, VAL, OVERFIT_ACC, "Overfit title", "test questions (chain_sum)"),
    "comparison": lambda: figures.comparison_figure(CMP_RUNS, CMP_PAIRS, "Comparison title"),
    "comparison_curves": lambda: figures.comparison_curves_figure(
        CMP_RUNS, {"answer_only": (TRAIN, VAL), "stepwise": (TRAIN, [])}, "Comparison_curves title"),
}


@pytest.fixture(scope="module")
def figs() -> dict[str, Figure]:
    return {name: build() for name, build in BUILDERS.items()}


def test_every_public_figure_function_is_covered() -> None:
    public = {name for name, fn in inspect.getmembers(figures, inspect.isfunction)
              if name.endswith("_figure") and fn.__module__ == figures.__name__}
    assert public == {f"{name}_figure" for name in BUILDERS}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_figure_has_title_and_labelled_axes(name: str, figs: dict[str, Figure]) -> None:
    fig = figs[name]
    assert isinstance(fig, Figure) and fig.axes
    titles = [_suptitle(fig)] + [ax.get_title() for ax in fig.axes]
    assert f"{name.capitalize()} title" in titles
    for ax in fig.axes:
        assert ax.get_ylabel() or ax.get_yticklabels(), f"{name}: an axis without a y label"
    # an x axis says what it shows: a label, or (ablation) category names as tick labels
    shown_x = [ax for ax in fig.axes if ax.get_xlabel()
               or (name == "ablation" and all(t.get_text() for t in ax.get_xticklabels()))]
    assert shown_x, f"{name}: no labelled x axis"


def test_robustness_figure_values() -> None:
    fig = figures.robustness_figure(ROBUSTNESS, "strict", "t")
    ax_acc, ax_delta = fig.axes
    # models by size (7b before 13b); base then perturbed bars
    assert [t.get_text() for t in ax_acc.get_xticklabels()] == ["7B", "13B"]
    assert [p.get_height() for p in ax_acc.patches] == pytest.approx([50.0, 70.0, 45.0, 60.0])
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["gsm8k", "gsm8k_robust"]
    assert ax_delta.get_title() == "paired delta, 95% bootstrap CI"
    assert list(ax_delta.get_lines()[0].get_ydata()) == pytest.approx([-5.0, -10.0])
    assert [t.get_text() for t in ax_delta.texts] == ["p=0.62", "p=0.62"]
    # the abel-mode row only
    abel = figures.robustness_figure(ROBUSTNESS, "abel", "t")
    assert [p.get_height() for p in abel.axes[0].patches] == pytest.approx([10.0, 20.0])
    with pytest.raises(ValueError, match="no robustness rows for mode 'other'"):
        figures.robustness_figure(ROBUSTNESS, "other", "t")


def test_robustness_figure_one_model_several_perturbations() -> None:
    rows = [_rob("sft", "gsm_plus", 0.5, 0.4), _rob("sft", "gsm8k_robust", 0.5, 0.5)]
    fig = figures.robustness_figure(rows, "strict", "t")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["gsm_plus", "gsm8k_robust"]
    assert fig.axes[0].get_xlabel() == "perturbed set (paired with its original)"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["original", "perturbed"]


def test_steps_figure_values() -> None:
    fig = figures.steps_figure(STEPS_ROWS, "strict", "t", max_bucket=8)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "3", "8+"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["7B", "13B"]
    by_model = {c.get_label(): c.lines[0] for c in ax.containers}  # errorbar: (data line, caps, bars)
    assert list(by_model["7B"].get_ydata()) == pytest.approx([60.0, 50.0, 20.0])
    assert list(by_model["13B"].get_ydata()) == pytest.approx([80.0, 40.0])
    # the two models' points are nudged apart around the true step count
    assert list(by_model["7B"].get_xdata()) == pytest.approx([1.94, 2.94, 7.94])
    assert list(by_model["13B"].get_xdata()) == pytest.approx([2.06, 8.06])
    with pytest.raises(ValueError, match="no per-step rows for mode 'abel'"):
        figures.steps_figure(STEPS_ROWS, "abel", "t")


def test_funnel_figure_values() -> None:
    fig = figures.funnel_figure(FUNNEL, STEPS, "t")
    ax_kept, ax_drop = fig.axes
    assert [t.get_text() for t in ax_kept.get_yticklabels()] == ["gsm8k_train", "math_train"]
    widths = [p.get_width() for p in ax_kept.patches]
    assert widths == [100, 50, 90, 39, 60, 39]  # read, kept, selected per source
    removed = [s for s in STEPS if s not in ("read", "kept", "selected")]
    assert [t.get_text() for t in ax_drop.get_yticklabels()] == removed
    assert [p.get_width() for p in ax_drop.patches] == [FUNNEL[src][s] for src in FUNNEL for s in removed]


def test_distribution_figure_skips_empty_sources() -> None:
    fig = figures.distribution_figure({"a": [1.0, 2.0, 2.0, 5.0], "b": [3.0], "empty": []}, "words", "t", bins=4)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (n=4)", "b (n=1)"]
    assert ax.get_xlabel() == "words" and ax.get_ylabel() == "records"
    assert sum(p.get_height() for p in ax.patches) == 5


def test_ablation_figure_values() -> None:
    fig = figures.ablation_figure(RUNS, "t")
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([50.0, 40.0])  # means over seeds
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["mean over seeds", "seed 0 (95% Wilson interval)", "seed 1 (95% Wilson interval)"]


def test_overfit_figure_values() -> None:
    fig = figures.overfit_figure(TRAIN, [], OVERFIT_ACC, "t", "held-out")
    ax_loss, ax_acc = fig.axes
    assert [line.get_label() for line in ax_loss.get_lines()] == ["train loss"]  # no validation rows
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["training questions (n=4, 90% CI)",
                                                                        "held-out (n=4, 90% CI)"]
    data = [list(line.get_ydata()) for line in ax_acc.get_lines() if list(line.get_xdata()) == [2, 4]]
    assert [25.0, 100.0] in data and [0.0, 25.0] in data


def test_save_writes_png_and_svg(tmp_path: Path, figs: dict[str, Figure]) -> None:
    for name, fig in figs.items():
        paths = figures.save(fig, tmp_path / "figs" / name)
        assert paths == [tmp_path / "figs" / f"{name}.png", tmp_path / "figs" / f"{name}.svg"]
        png, svg = (p.read_bytes() for p in paths)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, name
        assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg and len(svg) > 1000, name
        # fixed metadata: no date, no software version
        assert b"<dc:date>" not in svg and b"Matplotlib v" not in svg and b"matplotlib.org" not in png, name
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(
        f"{n}.{e}" for n in figs for e in ("png", "svg"))  # no temp files left


@pytest.mark.parametrize("name", ["robustness", "loss"])  # subplots + suptitle; a twin axis
def test_save_is_byte_identical_for_an_unchanged_figure(tmp_path: Path, name: str) -> None:
    one = figures.save(BUILDERS[name](), tmp_path / "one" / name)
    two = figures.save(BUILDERS[name](), tmp_path / "two" / name)  # rebuilt from the same rows
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes(), f"{b.name} differs between two saves"


def test_module_picks_no_backend() -> None:
    """Figures are made without pyplot: importing the module must not select a backend."""
    tree = ast.parse(Path(figures.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in ("use", "switch_backend"), f"line {node.lineno}: selects a backend"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            assert not any("pyplot" in (n or "") for n in names), f"line {node.lineno}: imports pyplot"
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            assert node.slice.value != "backend", f"line {node.lineno}: sets rcParams['backend']"


def test_comparison_figure_values() -> None:
    fig = figures.comparison_figure(CMP_RUNS, CMP_PAIRS, "t")
    ax_acc, ax_delta = fig.axes
    assert [p.get_height() for p in ax_acc.patches] == pytest.approx([30.0, 90.0])
    assert [t.get_text() for t in ax_acc.get_xticklabels()] == ["answer_only", "stepwise"]
    assert ax_acc.get_ylabel() == "accuracy on chain_sum (%, n=400)"
    # the pair's point at +60 points, its label naming the difference and McNemar's p
    (xs,) = [line.get_xdata() for line in ax_delta.get_lines() if len(line.get_xdata()) == 1 and line.get_marker() == "o"]
    assert list(xs) == pytest.approx([60.0])
    assert [t.get_text() for t in ax_delta.get_yticklabels()] == ["stepwise - answer_only\nMcNemar p = 1e-20"]


def test_comparison_curves_figure_has_a_column_per_format() -> None:
    fig = figures.comparison_curves_figure(CMP_RUNS, {"answer_only": (TRAIN, VAL), "stepwise": (TRAIN, [])}, "t")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["answer_only", "stepwise"]
    acc = fig.axes[2]
    assert acc.get_ylabel() == "accuracy (%)"
    assert [t.get_text() for t in acc.get_legend().get_texts()] == ["training questions (n=10)", "test questions (n=10)"]
