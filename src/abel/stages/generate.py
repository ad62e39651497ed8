"""The ``generate`` stage: the configured benchmarks through the fine-tuned model, published to
``outputs/generations/<benchmark>.jsonl`` in Abel's schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abel import artifacts as A
from abel.config import Params
from abel.generation.backends import Generate
from abel.generation.batch import generate_benchmarks
from abel.io import read_output, read_output_rows, write_json
from abel.provenance import record_run


def run(params: Params, root: Path, work_root: Path | None = None, progress: bool = True,
        generate: Generate | None = None) -> dict[str, Any]:
    """Generate (resuming from ``checkpoints/generate/<run key>/``), publish, and write the summary
    (results) and the run's provenance and timings."""
    summary, facts = generate_benchmarks(params, root, root / A.GENERATIONS, work_root or root / "checkpoints" / "generate",
                                         progress=progress, generate=generate)
    write_json(root / A.GENERATE_SUMMARY, summary)
    record_run(root, "generate", params, ("generate",), {"generate": params.generate.seed}, run=facts)
    return summary


def load(root: Path) -> dict[str, Any]:
    """The summary ``run`` wrote, without generating."""
    return dict(read_output(root, A.GENERATE_SUMMARY, "generate"))


def examples(root: Path, summary: dict[str, Any], chars: int = 160) -> list[dict[str, Any]]:
    """The first response of each benchmark, shortened (the full ones are in outputs/generations/)."""
    out = []
    for name in summary["benchmarks"]:
        row = read_output_rows(root, f"{A.GENERATIONS}/{name}.jsonl", "generate")[0]
        out.append({"benchmark": name, "id": row["id"], "gold": row["gold"],
                    "response": row["response"][:chars] + (" ..." if len(row["response"]) > chars else "")})
    return out
