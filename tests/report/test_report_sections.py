"""The report's sections: key findings, accuracy by steps, robustness by change, the curation ablation.

Sections built from this checkout's metrics must cite every number they print through the ledger;
sections whose file is missing say so in a plain sentence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from abel import artifacts as A
from abel.report import assemble
from abel.report.assemble import Ledger
from abel.report.tables import markdown_table

REPO = Path(__file__).resolve().parents[2]


def _check_ledger(led: Ledger, section: str) -> None:
    """Every entry is the value in its file (read afresh), printed as the section prints it."""
    fresh = Ledger(led.root)
    assert led.entries
    for entry in led.entries:
        value = fresh.value(entry["file"], tuple(entry["path"]))
        assert value == entry["value"] and entry["format"].format(value) == entry["text"], entry
        assert entry["text"] in section, entry


def _needs(*files: str) -> None:
    missing = [f for f in files if not (REPO / f).is_file()]
    if missing:
        pytest.skip(f"this checkout has no {', '.join(missing)} (run the stage that writes it)")


def test_report_opens_with_key_findings_citing_every_number() -> None:
    _needs("metrics/released/gsm8k__7b.json", "metrics/released/robustness.json", "metrics/ours/accuracy.json")
    md, _ = assemble.build(REPO)
    assert [line for line in md.splitlines() if line.startswith("## ")][0] == "## Key findings"
    led = Ledger(REPO)
    section = assemble.key_findings_section(led)
    _check_ledger(led, section)
    assert "95% Wilson interval [" in section and "95% paired bootstrap CI [" in section and "McNemar exact p = " in section
    # every number the section prints is the text of a ledger entry (model names like 7B and "95%" aside)
    cited = {e["text"] for e in led.entries}
    tokens = re.findall(r"(?<![\w.])[+\-]?\d[\d,.]*(?:e[+\-]?\d+)?%?", re.sub(r"\b\d+B\b|95% ", " ", section))
    assert tokens and all(t.rstrip(".,") in cited for t in tokens), [t for t in tokens if t.rstrip(".,") not in cited]
    # the released 7B GSM8K accuracy, its interval and the published figure are all there
    rel = json.loads((REPO / "metrics/released/gsm8k__7b.json").read_text())["abel"]
    assert f"{rel['accuracy']:.2%} (95% Wilson interval [{rel['ci_lo']:.2%}, {rel['ci_hi']:.2%}]" in section
    rob = next(r for r in json.loads((REPO / "metrics/released/robustness.json").read_text())
               if r["mode"] == "abel" and r["model"] == "7b")
    assert (f"{rob['delta']:+.2%} (95% paired bootstrap CI [{rob['delta_lo']:+.2%}, {rob['delta_hi']:+.2%}]; "
            f"McNemar exact p = {rob['mcnemar']['p_value']:.3f})") in section
    ours = json.loads((REPO / "metrics/ours/accuracy.json").read_text())
    if "gsm8k/sft/strict" in ours:
        o = ours["gsm8k/sft/strict"]
        assert f"{o['accuracy']:.2%} of gsm8k correctly (95% Wilson interval [{o['ci_lo']:.2%}, {o['ci_hi']:.2%}]" in section


def test_steps_section_tabulates_every_bucket_and_shows_the_figure() -> None:
    _needs("metrics/released/accuracy_by_steps.json")
    led = Ledger(REPO)
    section = assemble.steps_section(led)
    _check_ledger(led, section)
    data = json.loads((REPO / "metrics/released/accuracy_by_steps.json").read_text())
    groups = {(r["benchmark"], r["model"], r["steps"]) for r in data}
    table = assemble.markdown_tables(section)[0]
    assert len(table["rows"]) == len(groups) and "95% Wilson interval" in table["header"]
    for image in assemble.referenced_images(section):
        assert (REPO / "reports" / image).is_file(), image
    assert assemble.referenced_images(section) or not list((REPO / "figures/released").glob("accuracy_by_steps_*.png"))


def test_change_section_has_one_row_per_model_and_change() -> None:
    _needs("metrics/released/robustness_by_change.json")
    led = Ledger(REPO)
    section = assemble.change_section(led)
    _check_ledger(led, section)
    data = json.loads((REPO / "metrics/released/robustness_by_change.json").read_text())
    table = assemble.markdown_tables(section)[0]
    assert len(table["rows"]) == sum(r["mode"] == "abel" for r in data)
    assert "95% paired bootstrap CI" in table["header"] and {"broken", "fixed"} <= set(table["header"])


def test_missing_files_give_plain_sentences(tmp_path: Path) -> None:
    led = Ledger(tmp_path)
    assert ("The curation comparison has not been run here: `reports/ablation.md` does not exist"
            in assemble.ablation_section(led))
    assert "does not exist" in assemble.steps_section(led) and "does not exist" in assemble.change_section(led)
    assert led.entries == []


def test_ablation_tables_are_cited_cell_by_cell(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/ablation.md").write_text(
        "# Curation ablation (arith profile)\n\nSome words.\n\n"
        "| variant | seed | accuracy (%) | 95% Wilson interval | experiment |\n|---|---|---|---|---|\n"
        "| stepwise | 0 | 92.0 | [88.9, 94.3] | sappy-kago |\n"
        "| answer_only (12 epochs) | 1 | 74.2 | [69.7, 78.3] | ebony-teff |\n"
        "\n| variant | seeds | mean (%) |\n|---|---|---|\n| stepwise | 2 | 93.4 |\n\n![accuracy](../figures/ablation/accuracy.png)\n")
    led = Ledger(tmp_path)
    section = assemble.ablation_section(led)
    _check_ledger(led, section)
    cited = {("tables", 0, "rows", i, j) for i in (0, 1) for j in (1, 2, 3)} | {("tables", 1, "rows", 0, j) for j in (1, 2)}
    assert {tuple(e["path"]) for e in led.entries} == cited  # numbers only: variant and experiment names are text
    assert "| answer_only (12 epochs) | 1 | 74.2 | [69.7, 78.3] | ebony-teff |" in section
    assert "*Source: `reports/ablation.md`*" in section
    assert assemble.referenced_images(section) == []  # the figure is not there, so it is not referenced
    (tmp_path / "figures/ablation").mkdir(parents=True)
    (tmp_path / "figures/ablation/accuracy.png").write_bytes(b"\x89PNG")
    assert assemble.referenced_images(assemble.ablation_section(Ledger(tmp_path))) == ["../figures/ablation/accuracy.png"]
    (tmp_path / "reports/ablation.md").write_text("# Curation ablation\n\nNo finished experiments of this profile were found.\n")
    assert "holds no table" in assemble.ablation_section(Ledger(tmp_path))


def test_repo_ablation_section_cites_the_file() -> None:
    led = Ledger(REPO)
    section = assemble.ablation_section(led)
    if not (REPO / A.ABLATION_MD).is_file():
        assert "does not exist" in section
        return
    assert "*Source: `reports/ablation.md`*" in section
    if led.entries:
        _check_ledger(led, section)


def test_tables_align_text_left_and_numbers_right() -> None:
    table = markdown_table(["model", "n", "accuracy", "CI", "p"],
                           [["7B", "1,319", "59.74%", "[-3.87%, +0.83%]", "-"], ["13B", "8", "+0.15%", "[1, 2]", "0.949"]])
    assert table.splitlines()[1] == "|:---|---:|---:|---:|---:|"
    assert assemble.markdown_tables(table) == [{"header": ["model", "n", "accuracy", "CI", "p"], "rows": [
        ["7B", "1,319", "59.74%", "[-3.87%, +0.83%]", "-"], ["13B", "8", "+0.15%", "[1, 2]", "0.949"]]}]


def test_html_has_no_pilcrows_and_keeps_alignment(tmp_path: Path) -> None:
    md = "# T\n\n## Part\n\n" + markdown_table(["name", "n"], [["a", "1"]]) + \
         "\n*Source: `f.json`, citing " + assemble._link("A README (v1)", "https://example.org/x#y") + ".*\n"
    html = assemble.to_html(md, tmp_path)
    assert "¶" not in html and "text-align:right}" not in html
    assert '<td style="text-align:left">a</td>' in html and '<td style="text-align:right">1</td>' in html
    assert '<a href="https://example.org/x#y">A README (v1)</a>.</em>' in html


def test_published_sources_are_links_not_bare_urls() -> None:
    section = assemble.published_section(Ledger(REPO))
    assert "https://" in section and not re.search(r"(?<!\]\()https://", section)


def test_comparison_section_cites_every_number() -> None:
    _needs(A.COMPARISON_METRICS)
    led = Ledger(REPO)
    section = assemble.comparison_section(led)
    _check_ledger(led, section)
    cited = {e["text"] for e in led.entries}
    body = section.split("*Source:")[0]
    tokens = re.findall(r"(?<![\w.@`])[+\-]?\d[\d,.]*(?:e[+\-]?\d+)?%?", re.sub(r"95% ", " ", body))
    assert tokens and all(t.rstrip(".,") in cited for t in tokens), [t for t in tokens if t.rstrip(".,") not in cited]
    data = json.loads((REPO / A.COMPARISON_METRICS).read_text())
    for run in data["runs"]:
        assert f"| {run['format']} | {100 * run['accuracy']:.2f}% |" in section
    assert "![curation comparison](../figures/comparison/accuracy.png)" in section
    assert "*Source: `metrics/comparison.json`*" in section
    # and the key findings say it in one sentence, first format against the last
    led = Ledger(REPO)
    finding = assemble._comparison_finding(led)
    _check_ledger(led, finding)
    assert f"{data['runs'][-1]['format']} minus {data['runs'][0]['format']}" in finding
