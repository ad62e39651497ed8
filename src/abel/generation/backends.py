"""Model loading for generation, and the two backends behind ``generate.backend``.

Both return one response string per prompt, in order, cut at the stop strings, so the runner and
the score stage cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from abel.config import GenerateParams, resolve_precision
from abel.generation.hf import HFGenerator, SamplingConfig, truncate_at_stop
from abel import modelio

Generate = Callable[[list[str]], list[str]]


class BackendError(RuntimeError):
    """The requested backend or model cannot be used here; the message says why and what to do."""


def resolve_model(spec: str, root: Path) -> tuple[str, str | None]:
    """``abel.modelio.resolve_model`` with errors that name ``generate.model`` (and the stage to run)."""
    try:
        return modelio.resolve_model(spec, root)
    except (FileNotFoundError, ValueError) as exc:
        hint = " (run the sft stage first: dvc repro sft)" if spec.rstrip("/") == "models/sft" else ""
        raise BackendError(f"generate.model: {exc}{hint}") from None


def sampling(params: GenerateParams) -> SamplingConfig:
    return SamplingConfig(max_new_tokens=params.max_new_tokens, temperature=params.temperature,
                          top_p=params.top_p, stop=tuple(params.stop), seed=params.seed)


def hf_backend(params: GenerateParams, root: Path) -> tuple[Generate, dict[str, Any]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, gguf = resolve_model(params.model, root)
    gpu = torch.cuda.is_available()
    precision = resolve_precision(params.precision, gpu)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    kw = {"gguf_file": gguf} if gguf else {}
    try:
        tok = AutoTokenizer.from_pretrained(where, **kw)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kw)
    except OSError as exc:
        raise BackendError(f"generate.model: cannot load {params.model!r}: {exc}") from None
    if gpu:
        model = model.to("cuda")
    gen = HFGenerator(model, tok, batch_size=params.batch_size)
    cfg = sampling(params)
    info = {"backend": "hf", "device": torch.cuda.get_device_name() if gpu else "cpu", "precision": precision}
    return (lambda prompts: gen.generate(prompts, cfg)), info


def vllm_backend(params: GenerateParams, root: Path) -> tuple[Generate, dict[str, Any]]:
    try:
        import vllm
    except ImportError:
        raise BackendError("generate.backend: vllm is not installed here. It needs Linux and CUDA GPUs: "
                           "`pip install vllm` in this environment, or use backend: hf (CPU or GPU).") from None
    where, gguf = resolve_model(params.model, root)
    if gguf:
        raise BackendError("generate.backend: vllm is wired here for Hugging Face model directories; "
                           "use backend: hf for a GGUF model")
    llm = vllm.LLM(model=where, tensor_parallel_size=params.tensor_parallel, seed=params.seed,
                   dtype="bfloat16" if resolve_precision(params.precision, gpu=True) == "bf16" else "float32")
    cfg = sampling(params)
    sp = vllm.SamplingParams(n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_new_tokens,
                             stop=list(cfg.stop) or None, seed=cfg.seed)

    def generate(prompts: Sequence[str]) -> list[str]:
        outs = llm.generate(list(prompts), sp, use_tqdm=False)
        return [truncate_at_stop(o.outputs[0].text, cfg.stop) for o in outs]

    return generate, {"backend": "vllm", "vllm": vllm.__version__, "tensor_parallel": params.tensor_parallel}


def backend(params: GenerateParams, root: Path) -> tuple[Generate, dict[str, Any]]:
    return (vllm_backend if params.backend == "vllm" else hf_backend)(params, root)
