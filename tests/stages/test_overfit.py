"""The overfit stage's ``load`` and ``plot`` on files written here (no checkpoints, no scoring)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel import artifacts as A
from abel.analysis.stats import accuracy_rows
from abel.io import MissingOutput, write_json
from abel.stages import overfit, sft


def test_load_and_plot(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"metrics/sft/overfit\.json does not exist yet: run `dvc repro overfit`"):
        overfit.load(tmp_path)
    rows = accuracy_rows({5: {"train": [True, False], "test": [False, False]},
                          10: {"train": [True, True], "test": [True, False]}}, ci=0.95)
    write_json(tmp_path / A.OVERFIT_METRICS, {"test_benchmark": "chain_sum", "rows": rows})
    sft.write_csv(tmp_path / A.SFT_TRAIN_CSV, [{"step": s, "loss": 3.0 / s, "lr": 1e-4} for s in (1, 5, 10)],
                  sft.TRAIN_COLUMNS)
    sft.write_csv(tmp_path / A.SFT_VAL_CSV, [{"step": 10, "val_loss": 0.5}], ("step", "val_loss"))
    write_json(tmp_path / A.SFT_SUMMARY, {"model": "tiny", "profile": "arith"})

    result = overfit.load(tmp_path)
    assert result == {"test_benchmark": "chain_sum", "rows": rows}
    fig = overfit.plot(tmp_path, result)
    ax_loss, ax_acc = fig.axes
    assert fig._suptitle is not None and fig._suptitle.get_text() == "SFT of tiny (arith profile)"
    labels = [t.get_text() for t in ax_acc.get_legend().get_texts()]
    assert labels == ["training questions (n=2, 95% CI)", "test questions (chain_sum) (n=2, 95% CI)"]
    assert ax_acc.get_xlabel() == "optimizer step (saved checkpoints)"
    train_line = ax_acc.get_lines()[0]
    assert list(train_line.get_xdata()) == [5, 10] and list(train_line.get_ydata()) == [50.0, 100.0]
