from __future__ import annotations

import json
from pathlib import Path

import pytest

from abel.modelio import ABEL_PROMPT



def write_curated(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def curated(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small curated train/val pair in the curate stage's schema, built from GSM8K train."""
    rows = []
    for i, line in enumerate((data_dir / "gsm8k" / "train.jsonl").read_text().split("\n")[:360]):
        rec = json.loads(line)
        prompt = ABEL_PROMPT.format(question=rec["question"])
        rows.append({"id": f"gsm8k/{i}", "prompt": prompt, "target": rec["answer"]})
    folder = tmp_path_factory.mktemp("curated")
    return write_curated(folder / "train.jsonl", rows[:320]), write_curated(folder / "val.jsonl", rows[320:])
