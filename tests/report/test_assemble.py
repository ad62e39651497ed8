"""The report's ledger: a cited number is the number in its file, and a missing file is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abel.report.assemble import Ledger, referenced_images, to_html


def test_cite_reads_formats_and_records(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"gsm8k": {"accuracy": 0.59742, "n": 1319}, "rows": [{"p": 0.25}]}))
    led = Ledger(tmp_path)
    assert led.cite("m.json", ("gsm8k", "accuracy"), "{:.2%}") == "59.74%"
    assert led.cite("m.json", ("rows", 0, "p"), "{:.3f}") == "0.250"
    assert led.entries[0] == {"file": "m.json", "path": ["gsm8k", "accuracy"], "value": 0.59742, "text": "59.74%",
                              "format": "{:.2%}"}
    with pytest.raises(FileNotFoundError, match="nope.json: the report needs it"):
        led.cite("nope.json", ("x",))


def test_html_embeds_images_and_loads_nothing_remote(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    md = "# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![a](../figures/a.png)\n"
    assert referenced_images(md) == ["../figures/a.png"]
    html = to_html(md, tmp_path)
    assert "data:image/png;base64" in html and "<table>" in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    assert to_html(md, tmp_path) == html  # byte-identical on a re-run: DVC sees an unchanged output
