"""The one config: ``params.yaml``, validated on load.

Every section is a pydantic model with ``extra="forbid"``, so an unknown key, a wrong type or
an out-of-range value stops a stage with a message naming the dotted key (``score.timeout_s``).
Stages read only their own section; ``dvc.yaml`` lists exactly those keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError



def find_root(start: str | Path | None = None) -> Path:
    """The repo root: the nearest folder at or above ``start`` (default: cwd) holding dvc.yaml.

    Found from the working directory, not from this file, so a copy of the repo (or a notebook
    opened from notebooks/) uses its own params.yaml and outputs.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "params.yaml").is_file():
            return folder
    raise ParamsError(f"no repo root (a folder with dvc.yaml and params.yaml) at or above {here}")


class ParamsError(ValueError):
    """params.yaml is missing, unparsable or invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    dir: str = Field("../shared/data", description="benchmark + released-generation directory, relative to the repo root or absolute")


class ScoreParams(_Section):
    modes: list[Literal["abel", "strict"]] = Field(default_factory=lambda: ["abel", "strict"], min_length=1)
    timeout_s: float = Field(1.0, gt=0, le=60, description="hard wall-clock limit per answer in a worker process")
    workers: int = Field(2, ge=1, le=64, description="scoring worker processes for the slow (sympy) path")
    worker_memory_mb: int = Field(4096, ge=512, description="address-space limit of each scoring worker")
    released_glob: str = Field("abel_outputs/outputs/*/*.jsonl", min_length=1, description="released generations, relative to data.dir")


class AnalyzeParams(_Section):
    seed: int = Field(0, ge=0)
    bootstrap_resamples: int = Field(10_000, ge=100, le=1_000_000)
    ci: float = Field(0.95, gt=0.5, lt=1.0)
    robustness_pairs: list[tuple[str, str]] = Field(
        default_factory=lambda: [("gsm8k", "gsm8k_robust")],
        description="(original benchmark, perturbed benchmark) pairs compared question by question",
    )


class Params(_Section):
    data: DataParams = Field(default_factory=DataParams)
    score: ScoreParams = Field(default_factory=ScoreParams)
    analyze: AnalyzeParams = Field(default_factory=AnalyzeParams)

    def data_dir(self, root: Path | None = None) -> Path:
        path = Path(self.data.dir)
        return path if path.is_absolute() else ((root or find_root()) / path).resolve()


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid params:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_format_errors(source, exc)) from None


def load_params(path: str | Path | None = None) -> Params:
    """Load and validate ``params.yaml`` (default: the one at the repo root)."""
    path = Path(path) if path is not None else find_root() / "params.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read params: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    return parse_params(raw, str(path))
