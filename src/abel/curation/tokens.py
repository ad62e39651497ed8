"""Token counts in the configured tokenizer (length limits are in the model's own tokens)."""

from __future__ import annotations

from collections.abc import Callable

from abel.modelio import smollm2_gguf_path


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
