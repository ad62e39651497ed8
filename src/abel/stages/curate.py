"""The ``curate`` stage: sources -> filters -> ``data/curated/{train,val}.jsonl``, the funnel report
and its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from abel import artifacts as A
from abel.config import Params
from abel.curation.pipeline import STEPS, curate, funnel_markdown
from abel.io import read_output, read_output_rows, write_text
from abel.report import figures


def run(params: Params, root: Path, progress: bool = True) -> dict[str, Any]:
    """Curate, write the report (JSON and Markdown) and save the figures; returns the report."""
    report = curate(params.curate, params.data_dir(root), root, progress=progress)
    write_text(root / A.CURATION_MD, funnel_markdown(report))
    for stem, fig in plots(root, report):
        figures.save(fig, root / A.CURATION_FIGURES / stem)
    return report


def load(root: Path) -> dict[str, Any]:
    """The report ``run`` wrote, without curating."""
    return dict(read_output(root, A.CURATION_REPORT, "curate"))


def plots(root: Path, report: dict[str, Any]) -> list[tuple[str, Figure]]:
    """(file stem, figure): the funnel, and the curated training set's lengths, steps and MATH levels."""
    out = [("funnel", figures.funnel_figure(report["funnel"], STEPS, "Curation funnel: records kept and removed per filter"))]
    train = read_output_rows(root, A.CURATED_TRAIN, "curate")
    sources = sorted({r["source"] for r in train})
    for stem, value, label in (("lengths", lambda r: len((r["prompt"] + r["target"]).split()), "prompt + target length (words)"),
                               ("steps", lambda r: r["tags"].get("steps"), "reasoning steps in the source rationale"),
                               ("difficulty", lambda r: r["tags"].get("level"), "MATH level")):
        values = {s: [value(r) for r in train if r["source"] == s and value(r) is not None] for s in sources}
        if any(values.values()):
            out.append((stem, figures.distribution_figure(values, label, f"Curated training set: {label}")))
    return out


markdown = funnel_markdown
