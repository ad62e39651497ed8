"""Notebooks are thin, parameterized and committed without outputs."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_with_parameters_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    assert re.fullmatch(r"\d\d_[a-z_]+\.ipynb", path.name)


def test_every_dvc_stage_runs_its_notebook() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert stage["cmd"] == f"abel stage {name}"
        assert any(d == f"notebooks/{nb.name}" for d in stage["deps"] for nb in NOTEBOOKS if nb.stem.endswith(name))


def test_every_param_a_stage_tracks_exists() -> None:
    """DVC refuses to run a stage whose tracked params key is missing from params.yaml."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for name, stage in stages.items():
        for key in stage.get("params", []):
            node = params
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"stage {name}: params.yaml has no {key}"
                node = node[part]
