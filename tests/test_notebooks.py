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
    assert stages.pop("params")["cmd"] == "abel params --write"
    for name, stage in stages.items():
        assert stage["cmd"] == f"abel stage {name}"
        assert any(d == f"notebooks/{nb.name}" for d in stage["deps"] for nb in NOTEBOOKS if nb.stem.endswith(name))


def test_every_stage_tracks_params_in_the_resolved_view_and_they_exist() -> None:
    """Every stage but `params` tracks keys of outputs/params.resolved.yaml (so a params mistake stops
    the `params` stage first), each key exists in that view, and only `params` reads params.yaml."""
    from abel.config import RESOLVED_PARAMS, load_params, resolved_view

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages["params"]["params"] == [{"params.yaml": None}]
    assert stages["params"]["outs"] == [{RESOLVED_PARAMS: {"cache": False, "persist": True}}]
    assert stages["params"]["deps"] == ["src/abel/config.py"]
    view = resolved_view(load_params(REPO / "params.yaml"))
    for name, stage in stages.items():
        if name == "params" or "params" not in stage:
            continue
        [entry] = stage["params"]
        [(path, keys)] = entry.items()
        assert path == RESOLVED_PARAMS, f"stage {name} tracks {path}"
        for key in keys:
            node = view
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"stage {name}: the resolved view has no {key}"
                node = node[part]


def test_the_committed_resolved_view_is_current() -> None:
    from abel.config import RESOLVED_PARAMS, load_params, resolved_view

    committed = yaml.safe_load((REPO / RESOLVED_PARAMS).read_text())
    assert committed == resolved_view(load_params(REPO / "params.yaml")), "run `abel params --write`"
