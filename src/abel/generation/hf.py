"""Batched generation with transformers: left padding, KV cache, length-sorted batches, stop strings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from abel.modelio import encode_prompt


@dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ("\nQuestion:",)  # a model that continues writes the next question
    seed: int = 0


def truncate_at_stop(text: str, stop: Sequence[str], prompt: str = "") -> str:
    """Cut ``text`` at the earliest stop string (the stop string itself is dropped). A stop string that
    begins in the prompt's tail and ends in ``text`` (the prompt ends in a newline, the response begins
    with ``Question:``) cuts it to nothing: transformers stops there, vLLM, which sees only the
    response, would not, and both backends must give the same row. A stop string lying wholly in the
    prompt does not count (transformers checks only where the sequence now ends)."""
    tail = prompt[len(prompt) - max((len(s) for s in stop), default=1) + 1:] if stop else ""
    joined = tail + text
    # only matches that end inside ``text``: start late enough that s cannot fit in the tail alone
    found = (joined.find(s, max(0, len(tail) - len(s) + 1)) for s in stop if s)
    cut = min((i for i in found if i >= 0), default=-1)
    return text if cut < 0 else text[:max(0, cut - len(tail))]


class HFGenerator:
    """Generate for many prompts in batches; results come back in the prompts' order."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16):
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # decoder-only: new tokens follow the last real token
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size

    def generate(self, prompts: Sequence[str], cfg: SamplingConfig) -> list[str]:
        import torch

        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)  # similar lengths batch together
        out: list[str] = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            # the exact token sequence SFT trained on (abel.modelio.encode_prompt), left-padded
            ids = [encode_prompt(self.tokenizer, prompts[i]) for i in idx]
            enc = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt", padding=True)
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            sample = cfg.temperature > 0
            if sample:
                torch.manual_seed(cfg.seed + start)
            with torch.inference_mode():
                generated = self.model.generate(
                    **enc, max_new_tokens=cfg.max_new_tokens, do_sample=sample, use_cache=True,
                    # top_k=0: no top-k cut (transformers' default is 50; vLLM's, none)
                    temperature=cfg.temperature if sample else None, top_p=cfg.top_p if sample else None,
                    top_k=0 if sample else None,
                    pad_token_id=self.tokenizer.pad_token_id,
                    stop_strings=list(cfg.stop) or None, tokenizer=self.tokenizer if cfg.stop else None,
                )
            new = generated[:, enc["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for i, text in zip(idx, texts):
                out[i] = truncate_at_stop(text, cfg.stop, prompts[i])
        return out
