"""The ``report`` stage: the paper's report (Markdown, self-contained HTML), its number ledger, and
the headline metrics ``dvc metrics show`` displays."""

from __future__ import annotations

from pathlib import Path

from abel import artifacts as A
from abel.io import require_output, write_json, write_text
from abel.report import assemble


def run(root: Path) -> str:
    """Build every file of the report from the metrics; returns the Markdown."""
    markdown, ledger = assemble.build(root)
    missing = [p for p in assemble.referenced_images(markdown) if not (root / "reports" / p).is_file()]
    if missing:
        raise FileNotFoundError(f"the report references figures that do not exist: {missing}")
    write_text(root / A.REPORT_MD, markdown)
    write_json(root / A.REPORT_SOURCES, ledger.entries)
    write_text(root / A.REPORT_HTML, assemble.to_html(markdown, root))
    write_json(root / A.HEADLINE, assemble.headline(root))  # what `dvc metrics show` displays
    return markdown


def load(root: Path) -> str:
    """The report ``run`` wrote."""
    return require_output(root, A.REPORT_MD, "report").read_text(encoding="utf-8")


def for_notebook(markdown: str) -> str:
    """The report's Markdown with image links that work from notebooks/ (the report sits in reports/)."""
    return markdown.replace("](../", "](../../")
