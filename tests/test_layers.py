"""The package's floors, and dvc.yaml kept equal to the code and files each stage really uses.

Floors (each imports only from its own floor or the ones below; see src/abel/__init__.py):
  4 cli                              the command line, on top
  3 abel.stages.<stage>              one module per stage; no stage imports another
  2 domain packages                  data, curation, training, generation, scoring (grading), analysis,
                                     report (plots and the report; nothing from analysis)
  1 answers                          abel.scoring.extract, abel.scoring.numeric: pure answer parsing
  0 core                             config, io, artifacts, fingerprint, provenance, procs, modelio (the prompt and
                                     encoding contract), checkpoint_export (SFT checkpoints as DVC outputs)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from abel import artifacts as A
from tests.imports import REPO, all_modules, closure, code_deps, imports, module_file

CORE = {"abel", "abel.artifacts", "abel.config", "abel.fingerprint", "abel.io", "abel.provenance", "abel.procs", "abel.modelio",
        "abel.checkpoint_export"}
ANSWERS = {"abel.scoring.extract", "abel.scoring.numeric"}
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def floor(module: str) -> int:
    if module in CORE:
        return 0
    if module in ANSWERS:
        return 1
    if module == "abel.cli":
        return 4
    return 3 if module.startswith("abel.stages") else 2


def test_every_module_imports_only_its_floor_or_below() -> None:
    wrong = [f"{m} (floor {floor(m)}) imports {d} (floor {floor(d)})" for m in all_modules() for d in imports(m)
             if floor(d) > floor(m) and d != "abel.stages"]
    assert not wrong, "\n".join(wrong)


def test_no_stage_imports_another_and_plots_import_no_analysis() -> None:
    for module in all_modules():
        deps = imports(module)
        if module.startswith("abel.stages."):
            assert not [d for d in deps if d.startswith("abel.stages.")], f"{module} imports another stage"
        if module.startswith("abel.report"):
            assert not [d for d in deps if d.startswith("abel.analysis")], f"{module} imports from analysis"


def test_the_answers_floor_is_pure_parsing() -> None:
    """extract and numeric import no grader and nothing heavy at import (sympy, math-verify, torch)."""
    for module in ANSWERS:
        assert closure(module) <= CORE | ANSWERS | {"abel.scoring"}, module
        text = module_file(module).read_text()
        for heavy in ("import sympy", "import math_verify", "import torch", "from math_verify", "from sympy"):
            assert heavy not in text, f"{module}: {heavy}"


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "params"])
def test_dvc_code_deps_are_the_stage_import_closure(stage: str) -> None:
    """Code a stage does not run does not re-run it, and code it runs is declared (both directions)."""
    declared = sorted(d for d in STAGES[stage]["deps"] if d.startswith("src/"))
    expected = code_deps(stage)
    assert declared == expected, (
        f"dvc.yaml stage {stage}: missing {sorted(set(expected) - set(declared))}, "
        f"not run by the stage {sorted(set(declared) - set(expected))} (python -m tests.imports prints the list)")


def _paths(entries: list) -> list[str]:
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_files_are_the_artifacts_module(stage: str) -> None:
    """Files exchanged between stages are named in abel.artifacts, and dvc.yaml declares exactly those."""
    spec = STAGES[stage]
    outs = set(_paths(spec.get("outs"))) | set(_paths(spec.get("metrics"))) | set(_paths(spec.get("plots")))
    outs -= {A.executed_notebook(d) for d in spec.get("deps", []) if d.startswith("notebooks/")}
    assert outs == set(A.STAGE_OUTS[stage]), stage
    if stage == "params":
        return
    data = {d for d in spec["deps"] if not d.startswith(("src/", "notebooks/", "${data.dir}"))}
    assert data == set(A.STAGE_DEPS[stage]), stage


def test_every_stage_output_a_later_stage_reads_is_an_output() -> None:
    produced = {p for outs in A.STAGE_OUTS.values() for p in outs}
    for stage, deps in A.STAGE_DEPS.items():
        for dep in deps:
            assert dep in produced or dep in (A.PUBLISHED, A.ABLATION_MD, A.ABLATION_FIGURES, A.VLLM_LOCK) \
                or any(dep.startswith(p + "/") or p.startswith(dep + "/") for p in produced), \
                f"{stage} reads {dep}, which no stage writes"


def test_a_stage_module_exists_for_each_stage_with_run_and_load() -> None:
    import importlib

    for stage in [*(s for s in STAGES if s != "params"), "ablation"]:
        module = importlib.import_module(f"abel.stages.{stage}")
        assert callable(module.run) and callable(module.load), stage
        assert Path(module.__file__).parent == REPO / "src/abel/stages"
