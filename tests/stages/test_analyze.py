"""The analyze stage's ``load`` and ``plots`` on rows made here (no scoring, no data dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel import artifacts as A
from abel.analysis.released import robustness_table, steps_table
from abel.io import MissingOutput, write_json, write_text
from abel.stages import analyze

P = "Question:\n{}\nAnswer:\nLet's think step by step.\n"


def _scored() -> dict:
    def rows(verdicts: list[bool], n0: int) -> list[dict]:
        return [{"id": i, "prompt": P.format(f"q{i} has {n0 + i} pens"), "correct": c} for i, c in enumerate(verdicts)]
    out = {}
    for mode in ("abel", "strict"):
        for model in ("7b", "13b"):
            out[("gsm8k", model, mode)] = rows([True, True, False, True], 1)
            out[("gsm8k_robust", model, mode)] = rows([True, False, False, True], 50)
    return out


def _view() -> dict:
    scored = _scored()
    rob = robustness_table(scored, [("gsm8k", "gsm8k_robust")], resamples=200, ci=0.95, seed=0)
    steps = steps_table(scored, {f"q{i} has {1 + i} pens": 2 + i for i in range(4)}, ci=0.95)
    return {"robustness": rob, "steps": steps, "own_robustness": [r for r in rob if r["model"] == "7b"][:1]}


def test_plots_one_figure_per_mode_and_kind() -> None:
    out = analyze.plots(_view())
    assert [(folder, stem) for folder, stem, _ in out] == [
        (A.RELEASED_FIGURES, "robustness_abel"), (A.RELEASED_FIGURES, "robustness_strict"),
        (A.RELEASED_FIGURES, "accuracy_by_steps_abel"), (A.RELEASED_FIGURES, "accuracy_by_steps_strict"),
        (A.OURS_FIGURES, "robustness_abel")]  # own rows: only the abel-mode one was kept
    titles = [fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title() for _, _, fig in out]
    assert titles[1] == "Abel released generations: GSM8K vs GSM8k_robust (strict scorer)"
    assert titles[3] == "GSM8K accuracy by gold solution length (strict scorer)"
    assert titles[4] == "Our model: original vs perturbed questions, paired (abel scorer)"


def test_plots_without_own_generations() -> None:
    view = _view() | {"own_robustness": []}
    assert all(folder == A.RELEASED_FIGURES for folder, _, _ in analyze.plots(view))


def test_load(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"reports/released/accuracy\.md does not exist yet: run `dvc repro analyze`"):
        analyze.load(tmp_path)
    for i, rel in enumerate(analyze.MARKDOWN):
        write_text(tmp_path / rel, f"table {i}\n")
    with pytest.raises(MissingOutput, match=r"metrics/released/robustness\.json"):
        analyze.load(tmp_path)
    view = _view()
    write_json(tmp_path / A.RELEASED_ROBUSTNESS, view["robustness"])
    write_json(tmp_path / A.RELEASED_BY_STEPS, view["steps"])
    write_json(tmp_path / A.OURS_ROBUSTNESS, [])
    write_json(tmp_path / A.OURS_SAMPLING, {"rows": []})
    loaded = analyze.load(tmp_path)
    assert loaded["markdown"] == {rel: f"table {i}\n" for i, rel in enumerate(analyze.MARKDOWN)}
    assert loaded["robustness"] == view["robustness"] and loaded["steps"] == view["steps"]
    assert loaded["own_robustness"] == [] and loaded["sampling"] == {"rows": []}
    assert len(analyze.plots(loaded)) == 4  # what a notebook re-draws from the loaded view
