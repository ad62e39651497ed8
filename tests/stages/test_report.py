"""The report stage's reading helpers (no report build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel import artifacts as A
from abel.io import MissingOutput, write_text
from abel.stages import report


def test_for_notebook_rewrites_relative_image_links() -> None:
    md = "# R\n\n![loss](../figures/sft/loss.png)\n\n[data](../metrics/headline.json) and figures/x.png\n"
    assert report.for_notebook(md) == ("# R\n\n![loss](../../figures/sft/loss.png)\n\n"
                                       "[data](../../metrics/headline.json) and figures/x.png\n")
    assert report.for_notebook("no links here") == "no links here"


def test_load(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"reports/report\.md does not exist yet: run `dvc repro report` first"):
        report.load(tmp_path)
    write_text(tmp_path / A.REPORT_MD, "# Report\n\nü\n")
    assert report.load(tmp_path) == "# Report\n\nü\n"
