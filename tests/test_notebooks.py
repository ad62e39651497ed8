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
    assert stages.pop("fetch")["cmd"] == "abel fetch"  # a plain command: no notebook (tests/imports.py)
    # one run of the curation comparison per matrix entry, a plain command too (the comparison stage's notebook shows them)
    assert stages.pop("compare")["cmd"] == "abel compare --format ${item.format}"
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


# what a notebook may not do in a code cell: define behaviour or write files (the stage module does)
_WRITERS = {"write_text", "write_bytes", "write_json", "write_jsonl", "write_csv", "save", "savefig", "to_csv",
            "to_json", "dump", "mkdir", "unlink", "rename", "replace", "touch", "rmtree", "remove"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_cells_define_nothing_and_write_nothing(path: Path) -> None:
    """Thin notebooks: parameters, a stage's run (when recompute) or load, display. No function, class or
    lambda definitions, no file writes (open for writing, write_*/save/savefig/...)."""
    import ast

    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        for node in ast.walk(ast.parse(source)):
            where = f"{path.name} code cell {i}, line {getattr(node, 'lineno', '?')}"
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                f"{where} defines a function or class: move it into src/abel/stages/"
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                assert name not in _WRITERS, f"{where} writes a file ({name}): the stage module writes"
                if name == "open":
                    modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
                    modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
                    assert not any(set(str(m)) & set("wax+") for m in modes), f"{where} opens a file for writing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_calls_its_stage_module(path: Path) -> None:
    """Each notebook runs or loads through abel.stages.<its stage>."""
    stage = path.stem.split("_", 1)[1]
    text = "".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert f"from abel.stages import {stage}" in text
