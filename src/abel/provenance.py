"""Where a number came from: commit, params, seeds, library versions, hardware.

"I cannot reproduce your number" is the most common complaint about math-SFT repos, and it is
usually unanswerable because nothing was recorded. Each stage writes ``record_run(...)`` to
``outputs/provenance/<stage>.json`` (a DVC output, not a metric): the provenance block, plus the
facts of that run that are not results (seconds, tokens/s, how much was resumed). Metrics files hold
only results, so ``dvc metrics diff`` shows accuracies and losses, and a re-run that reproduces
every result leaves them byte-identical.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from abel import artifacts
from abel.fingerprint import fingerprint
from abel.io import write_json

LIBRARIES = ("abel-repro", "torch", "transformers", "accelerate", "deepspeed", "vllm", "math-verify", "sympy", "dvc")


# What a number depends on. Outputs (metrics/, figures/, reports/) and the files DVC itself rewrites
# during a run (dvc.lock, .gitignore files) are left out, or every run would call itself dirty.
INPUTS = ("src", "notebooks", "params.yaml", "dvc.yaml", "pyproject.toml", "requirements.lock", "Makefile",
          "data/published")


def git_state(root: Path) -> dict[str, Any]:
    """The last commit that changed an input (``INPUTS``), and whether any tracked input differs from
    HEAD (``None`` outside git)."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    # the last commit that changed an input, not HEAD: committing a run's outputs (or tests, docs) moves
    # HEAD but not the code that made the numbers, so a re-run records, and reports, the same commit
    commit = git("log", "-1", "--format=%H", "--", *INPUTS)
    status = git("status", "--porcelain", "--untracked-files=no", "--", *INPUTS)
    return {"commit": commit or None, "dirty": None if status is None else bool(status)}


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpus": []}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return info


def params_hash(section: Any) -> str:
    """The fingerprint of a params section (pydantic model or plain data)."""
    return fingerprint(section)


def provenance(root: Path, params: Any, sections: tuple[str, ...], seeds: dict[str, int] | None = None,
               versions: dict[str, str] | None = None) -> dict[str, Any]:
    """The block ``record_run`` writes to ``outputs/provenance/<stage>.json`` (``versions``: extra entries)."""
    return {
        **git_state(root),
        "profile": getattr(params, "profile", None),
        "params_hash": {s: params_hash(getattr(params, s)) for s in sections},
        "seeds": seeds or {},
        "versions": {**library_versions(), "python": platform.python_version(), **(versions or {})},
        "hardware": hardware(),
    }


def record_run(root: Path, stage: str, params: Any, sections: tuple[str, ...], seeds: dict[str, int] | None = None,
               versions: dict[str, str] | None = None, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``outputs/provenance/<stage>.json``: the provenance block and ``run`` (timings, resumes)."""
    record = {**provenance(root, params, sections, seeds, versions), "run": run or {}}
    write_json(root / artifacts.provenance(stage), record)
    return record
