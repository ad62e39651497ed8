"""The curate stage's ``load`` and ``plots`` on a report and curated set written here (no curation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel import artifacts as A
from abel.curation.pipeline import STEPS
from abel.io import MissingOutput, write_json, write_jsonl
from abel.stages import curate

REPORT = {"funnel": {"gsm8k": {**{s: 0 for s in STEPS}, "read": 10, "duplicate": 2, "kept": 8, "selected": 6},
                     "math": {**{s: 0 for s in STEPS}, "read": 5, "too_long": 1, "kept": 4, "selected": 4}}}


def test_load_and_plots(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"reports/curation/report\.json does not exist yet: run `dvc repro curate`"):
        curate.load(tmp_path)
    write_json(tmp_path / A.CURATION_REPORT, REPORT)
    assert curate.load(tmp_path) == REPORT
    with pytest.raises(MissingOutput, match=r"data/curated/train\.jsonl does not exist here"):
        curate.plots(tmp_path, REPORT)
    write_jsonl(tmp_path / A.CURATED_TRAIN, [
        {"source": "gsm8k", "prompt": "a b", "target": "c", "tags": {"steps": 2}},
        {"source": "gsm8k", "prompt": "a", "target": "b", "tags": {"steps": 3}},
        {"source": "math", "prompt": "a b c", "target": "d e", "tags": {"level": 4}},
    ])
    out = curate.plots(tmp_path, REPORT)
    assert [stem for stem, _ in out] == ["funnel", "lengths", "steps", "difficulty"]
    lengths = out[1][1].axes[0]
    assert [t.get_text() for t in lengths.get_legend().get_texts()] == ["gsm8k (n=2)", "math (n=1)"]
    steps = out[2][1].axes[0]
    assert [t.get_text() for t in steps.get_legend().get_texts()] == ["gsm8k (n=2)"]  # math rows carry no steps
    assert out[3][1].axes[0].get_xlabel() == "MATH level"


def test_plots_skip_a_quantity_no_row_has(tmp_path: Path) -> None:
    write_jsonl(tmp_path / A.CURATED_TRAIN, [{"source": "gsm8k", "prompt": "a", "target": "b", "tags": {}}])
    assert [stem for stem, _ in curate.plots(tmp_path, REPORT)] == ["funnel", "lengths"]
