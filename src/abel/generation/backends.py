"""Model loading for generation, and the two backends behind ``generate.backend``.

Both return one response string per prompt, in order, cut at the stop strings, so the runner and
the score stage cannot tell them apart; both feed the model the same token ids
(``abel.modelio.encode_prompt``). A backend may carry a ``close`` that ends what it started (the
vLLM worker process).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
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
    drawn = [0]  # rows sampled so far: each request seeds from where the last left off, as the vllm backend does
    # (the same seed for every request would give two requests of the same prompts the same "samples")

    def generate(prompts: list[str]) -> list[str]:
        out = gen.generate(prompts, replace(cfg, seed=cfg.seed + drawn[0]))
        drawn[0] += len(prompts)
        return out

    return generate, info


def local_model_dir(params: GenerateParams, root: Path) -> str:
    """The model as a directory vLLM loads: a GGUF is dequantized once into
    ``.cache/abel/gguf-hf/<content hash>/`` (the same fp32 weights the hf backend gets from it)."""
    where, gguf = resolve_model(params.model, root)
    if not gguf:
        return where
    from abel.fingerprint import fingerprint

    source = Path(where) / gguf
    out = root / ".cache" / "abel" / "gguf-hf" / fingerprint(source)
    if not (out / "config.json").is_file():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        modelio.dequantize_gguf(source, tmp)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return str(out)


def vllm_backend(params: GenerateParams, root: Path) -> tuple[Generate, dict[str, Any]]:
    """vLLM in its own environment (``abel.generation.vllm_engine``); prompts encoded here, as for hf."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    from abel.generation import vllm_engine as engine

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    try:
        engine.python()
        engine.check_devices(params.tensor_parallel, gpus)
    except engine.VLLMError as exc:
        raise BackendError(str(exc)) from None
    where = local_model_dir(params, root)
    try:
        tok = AutoTokenizer.from_pretrained(where)
        config = AutoConfig.from_pretrained(where)
    except OSError as exc:
        raise BackendError(f"generate.model: cannot load {params.model!r}: {exc}") from None
    try:
        engine.check_head_size(config, gpus)
    except engine.VLLMError as exc:
        raise BackendError(str(exc)) from None
    # never past the model's max_position_embeddings: vLLM's rotary cache ends there, and positions
    # beyond it give other tokens than the hf backend (seen here on the tiny model), not an error
    context = getattr(config, "max_position_embeddings", None)
    max_len = params.vllm.max_model_len or context or 2048
    if context is not None and max_len > context:
        raise BackendError(f"generate.vllm.max_model_len: {max_len} is more than the model's max_position_embeddings "
                           f"({context}); vLLM computes positions only that far. Set it to {context} or less (0 = that)")
    precision = resolve_precision(params.precision, gpu=gpus > 0)
    settings = {"model": where, "dtype": "bfloat16" if precision == "bf16" else "float32", "seed": params.seed,
                "max_model_len": max_len, "tensor_parallel": params.tensor_parallel,
                "enforce_eager": params.vllm.enforce_eager, "gpu_memory_utilization": params.vllm.gpu_memory_utilization}
    log = root / ".cache" / "abel" / "vllm" / f"worker-{os.getpid()}.log"
    try:
        worker = engine.Worker(settings, engine.worker_environment(params.vllm.cpu_kv_cache_gib), log)
    except engine.VLLMError as exc:
        raise BackendError(str(exc)) from None
    cfg = sampling(params)
    request = {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_new_tokens,
               "stop": list(cfg.stop), "seed": cfg.seed}

    def check(prompts: Sequence[str]) -> list[list[int]]:
        ids = [modelio.encode_prompt(tok, p) for p in prompts]
        longest = max((len(i) for i in ids), default=0)
        if longest + cfg.max_new_tokens > max_len:
            raise BackendError(f"generate.max_new_tokens: a prompt of {longest} tokens + {cfg.max_new_tokens} new tokens "
                               f"is more than the {max_len} the vLLM engine serves (generate.vllm.max_model_len, "
                               "0 = the model's max_position_embeddings); lower max_new_tokens, or use backend: hf")
        return ids

    drawn = [0]  # rows sampled so far: each row gets its own seed (one seed for all would repeat samples)

    def generate(prompts: Sequence[str]) -> list[str]:
        ids = check(prompts)
        seeds = [cfg.seed + drawn[0] + i for i in range(len(ids))]
        drawn[0] += len(ids)
        texts = worker.generate(ids, {**request, "seeds": seeds})
        return [truncate_at_stop(t, cfg.stop, p) for t, p in zip(texts, prompts)]

    generate.close = worker.close  # type: ignore[attr-defined]
    generate.check = check  # type: ignore[attr-defined]
    info = {"backend": "vllm", "vllm": worker.version, "device": torch.cuda.get_device_name() if gpus else "cpu",
            "precision": precision, "tensor_parallel": params.tensor_parallel}
    return generate, info


def backend(params: GenerateParams, root: Path) -> tuple[Generate, dict[str, Any]]:
    return (vllm_backend if params.backend == "vllm" else hf_backend)(params, root)
