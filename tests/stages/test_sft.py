"""The sft stage's files and figure, without training: CSV writing, ``load`` and ``plot``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from abel import artifacts as A
from abel.io import MissingOutput, write_json
from abel.stages import sft

TRAIN = [  # as abel.training.logs.read_run gives them: run facts (tokens_per_s) and extras beside the results
    {"step": 1, "epoch": 0.25, "loss": 2.5, "lr": 1e-5, "grad_norm": 3.0, "tokens": 512, "tokens_per_s": 900.0,
     "rank": 0},
    {"step": 2, "epoch": 0.5, "loss": 1.75, "lr": 2e-5, "grad_norm": None, "tokens": 480, "tokens_per_s": 1000.0,
     "rank": 0},
    {"step": 3, "epoch": 0.75, "loss": 1.25, "lr": 1.5e-5, "grad_norm": 1.5, "tokens": 500, "tokens_per_s": 1100.0,
     "rank": 0},
]
VAL = [{"step": 2, "val_loss": 1.9}, {"step": 3, "val_loss": 1.6, "rank": 0}]
INFO = {"profile": "arith", "model": "tiny-llama", "parameters": 1234, "steps": 3, "train_loss_final": 1.25}


def _write_run(root: Path) -> None:
    sft.write_csv(root / A.SFT_TRAIN_CSV, TRAIN, sft.TRAIN_COLUMNS)
    sft.write_csv(root / A.SFT_VAL_CSV, VAL, ("step", "val_loss"))
    write_json(root / A.SFT_SUMMARY, INFO)


def test_train_columns_are_results_only() -> None:
    assert sft.TRAIN_COLUMNS == ("step", "epoch", "loss", "lr", "grad_norm", "tokens")
    assert "tokens_per_s" not in sft.TRAIN_COLUMNS and "tokens_per_s" in sft.RUN_FACTS
    assert not set(sft.RUN_FACTS) & set(sft.TRAIN_COLUMNS)


def test_write_csv_columns_and_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "train.csv"  # the folder is created
    sft.write_csv(path, TRAIN, sft.TRAIN_COLUMNS)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "step,epoch,loss,lr,grad_norm,tokens"
    assert "tokens_per_s" not in text and "900" not in text  # extra keys ignored
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["grad_norm"] == "" and rows[0]["lr"] == "1e-05"  # None -> an empty cell
    assert "\r" not in text and text.endswith("\n")
    sft.write_csv(path, [], ("step", "val_loss"))
    assert path.read_text() == "step,val_loss\n"  # no rows: just the header


def test_write_csv_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    sft.write_csv(path, TRAIN[:1], sft.TRAIN_COLUMNS)
    before = path.read_bytes()
    with pytest.raises(AttributeError):
        sft.write_csv(path, [TRAIN[1], 5], sft.TRAIN_COLUMNS)  # type: ignore[list-item]  # fails mid-write
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]  # and no temp file is left behind


def test_load_reads_what_run_writes(tmp_path: Path) -> None:
    _write_run(tmp_path)
    train, val, info = sft.load(tmp_path)
    assert [r["step"] for r in train] == [1, 2, 3] and all(type(r["step"]) is int for r in train)
    assert train[0] == {"step": 1, "epoch": 0.25, "loss": 2.5, "lr": 1e-5, "grad_norm": 3.0, "tokens": 512.0}
    assert train[1]["grad_norm"] is None
    assert val == [{"step": 2, "val_loss": 1.9}, {"step": 3, "val_loss": 1.6}]
    assert info == INFO


def test_load_without_outputs_says_run_the_stage(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"train\.csv does not exist yet: run `dvc repro sft` first"):
        sft.load(tmp_path)
    sft.write_csv(tmp_path / A.SFT_TRAIN_CSV, TRAIN, sft.TRAIN_COLUMNS)
    sft.write_csv(tmp_path / A.SFT_VAL_CSV, VAL, ("step", "val_loss"))
    with pytest.raises(MissingOutput, match=r"metrics/sft/summary\.json does not exist yet: run `dvc repro sft`"):
        sft.load(tmp_path)


def test_plot_loss_figure(tmp_path: Path) -> None:
    _write_run(tmp_path)
    train, val, info = sft.load(tmp_path)
    fig = sft.plot(train, val, info)
    assert isinstance(fig, Figure)
    ax, lr = fig.axes  # loss, and the learning rate on a twin axis
    assert ax.get_xlabel() == "optimizer step" and ax.get_ylabel().startswith("cross-entropy")
    assert lr.get_ylabel() == "learning rate"
    assert ax.get_title() == "SFT of tiny-llama (arith profile)"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["train loss"].get_ydata()) == [2.5, 1.75, 1.25]
    assert list(lines["validation loss"].get_xdata()) == [2, 3]
    assert list(lr.get_lines()[0].get_ydata()) == [1e-5, 2e-5, 1.5e-5]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "validation loss", "learning rate"]


def test_plot_without_validation(tmp_path: Path) -> None:
    fig = sft.plot(TRAIN, [], INFO)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train loss"]
