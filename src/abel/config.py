"""The one config: ``params.yaml``, validated on load.

Every section is a pydantic model with ``extra="forbid"``, so an unknown key, a wrong type or
an out-of-range value stops a stage with a message naming the dotted key (``score.timeout_s``).
Stages read only their own section; ``dvc.yaml`` lists exactly those keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator



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


SourceName = Literal["gsm8k", "math", "tal_scq5k", "gsm_symbolic"]
# the benchmark registry's names (src/abel/data/benchmarks/*.yaml); a test keeps the two in step
EvalSetName = Literal["gsm8k", "gsm8k_robust", "math", "math500", "svamp", "asdiv", "mawps", "mathqa",
                      "gsm_hard", "gsm_plus", "tal_scq5k_en"]


class CurateParams(_Section):
    sources: dict[SourceName, float] = Field(
        default_factory=lambda: {"gsm8k": 1.0, "math": 1.0, "tal_scq5k": 0.0, "gsm_symbolic": 0.0},
        description="mixing weights; 0 switches a source off")
    max_records: int = Field(2000, ge=0, description="records selected after filtering (0 = all)")
    val_fraction: float = Field(0.05, ge=0, lt=0.5)
    seed: int = Field(0, ge=0)
    format: Literal["answer_only", "original", "stepwise"] = "stepwise"
    keep_calculator_annotations: bool = False
    curriculum: Literal["none", "easy_to_hard"] = "none"
    on_bad_record: Literal["error", "skip"] = "skip"
    verify_answer: bool = True
    max_tokens: int = Field(1024, ge=0, description="prompt + target limit in tokenizer tokens (0 = off)")
    tokenizer: str = Field("smollm2", min_length=1, description="smollm2 | whitespace | a Hugging Face tokenizer dir/id")
    dedupe: bool = True
    near_dup_threshold: float = Field(0.9, gt=0.5, le=1.0)
    decontaminate: bool = True
    decontaminate_against: list[EvalSetName] = Field(default_factory=lambda: list(get_args(EvalSetName)))
    ngram: int = Field(13, ge=5, le=50)
    ngram_min_overlap: float = Field(0.5, gt=0, le=1.0, description="fraction of a question's n-grams found in one test item")
    ngram_normalize: bool = Field(False, description="numbers -> 0 and names -> N before n-gramming (template twins)")
    procedural_size: int = Field(2000, ge=1)
    download: bool = Field(True, description="fetch a missing source from its canonical URL into data/raw/")

    @model_validator(mode="after")
    def _some_source(self) -> CurateParams:
        if not any(w > 0 for w in self.sources.values()):
            raise ValueError("at least one source needs a weight > 0")
        if any(w < 0 for w in self.sources.values()):
            raise ValueError("source weights must be >= 0")
        return self


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
    curate: CurateParams = Field(default_factory=CurateParams)
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
