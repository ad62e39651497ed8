"""The import graph of ``src/abel``, read statically (ast): what each module imports, and the code a
stage runs (its import closure). Used by tests/test_layers.py; ``python -m tests.imports`` prints
each stage's code deps in dvc.yaml form.

Besides ``import`` statements (module level or inside functions), a string constant naming an
``abel`` module counts as a use of it: ``-m abel.training.train`` (the ranks the launcher starts) and
``Code("abel.generation", ...)`` (a run key that hashes that whole package).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
_MODULE_NAME = re.compile(r"abel(\.[a-z_][a-z0-9_]*)*")
# files a module reads from its own package (package data), declared with it
PACKAGE_DATA = {"abel.data.registry": "src/abel/data/benchmarks", "abel.training.launch": "src/abel/training/deepspeed",
                "abel.generation.vllm_engine": "src/abel/generation/vllm_worker.py"}  # run as a script, not imported


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> list[str]:
    return sorted(module_name(p) for p in SRC.rglob("*.py"))


def _submodules(package: str) -> list[str]:
    return [m for m in all_modules() if m == package or m.startswith(package + ".")]


@cache
def imports(name: str) -> frozenset[str]:
    """The abel modules ``name`` imports (statements anywhere in the file) or names in a string."""
    path = module_file(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "abel")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "abel":
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.fullmatch(node.value) \
                and "." in node.value and module_file(node.value):
            found.update(_submodules(node.value) if module_file(node.value).name == "__init__.py" else [node.value])
    found.discard(name)
    return frozenset(m for m in found if module_file(m))


def closure(*roots: str) -> set[str]:
    """Every module that importing ``roots`` runs (their imports, transitively, and parent packages)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += imports(name)
    return seen


def notebook_imports(path: Path) -> set[str]:
    """The abel modules a notebook's code cells import (magics skipped)."""
    import nbformat

    found: set[str] = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "abel":
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}"))
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "abel")
    return found


def stage_notebook(stage: str) -> Path:
    [path] = sorted((REPO / "notebooks").glob(f"[0-9][0-9]_{stage}.ipynb"))
    return path


def stage_roots(stage: str) -> set[str]:
    """The modules a stage starts from: its notebook's imports, or for a plain command stage without a
    notebook (``abel fetch``) its stage module."""
    if not list((REPO / "notebooks").glob(f"[0-9][0-9]_{stage}.ipynb")):
        return {f"abel.stages.{stage}"}
    return notebook_imports(stage_notebook(stage))


def code_deps(stage: str) -> list[str]:
    """What dvc.yaml must list as a stage's code: the closure of its notebook's imports (its stage
    module among them) as files, plus package data."""
    mods = closure(*stage_roots(stage))
    files = {module_file(m).relative_to(REPO).as_posix() for m in mods}
    files |= {data for m, data in PACKAGE_DATA.items() if m in mods}
    return sorted(files)


if __name__ == "__main__":
    import yaml

    for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]:
        if stage != "params":
            print(f"{stage}:\n" + "".join(f"      - {f}\n" for f in code_deps(stage)))
