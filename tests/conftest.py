from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Shared benchmark data: $ABEL_DATA_DIR, else ../shared/data beside the repo (CI has it)."""
    path = Path(os.environ.get("ABEL_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
    if not (path / "MANIFEST.md").is_file():
        pytest.fail(f"shared data not found at {path}: set ABEL_DATA_DIR to the folder holding MANIFEST.md")
    return path


@pytest.fixture(scope="session")
def released_files(data_dir: Path) -> list[Path]:
    files = sorted((data_dir / "abel_outputs" / "outputs").glob("*/*.jsonl"))
    assert files, f"no released generations under {data_dir}/abel_outputs/outputs"
    return files
