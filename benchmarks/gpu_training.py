"""GPU training throughput: a random-init ~1.1B Llama, DeepSpeed ZeRO-2, bf16, SDPA attention, one GPU.

    python benchmarks/gpu_training.py                 # one H100/H200: ~300 steps, < 10 minutes
    python benchmarks/gpu_training.py --smoke         # CPU check of this script (tiny model, a few steps)

Prints tokens/s and model FLOPs utilization against the bf16 matmul peak measured on the same
card in the same run. Synthetic token ids (throughput does not depend on the text). CI never
runs the GPU mode; record its numbers, with the card's name, in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def matmul_peak(device: str, dtype: torch.dtype, n: int, reps: int = 10) -> float:
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU, fp32, 4 steps: checks the script only")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--micro", type=int, default=8, help="sequences per step")
    parser.add_argument("--time-limit", type=float, default=480.0, help="stop timing after this many seconds")
    args = parser.parse_args()
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"),
                       ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29533")):
        os.environ.setdefault(key, value)
    if args.smoke:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed
    from transformers import LlamaConfig, LlamaForCausalLM

    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: run with --smoke to check the script on CPU")
    dtype = torch.float32 if args.smoke else torch.bfloat16
    if args.smoke:
        cfg = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=args.seq)
        args.steps, args.micro, args.seq = min(args.steps, 4), 2, min(args.seq, 128)
    else:  # TinyLlama-1.1B shape
        cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                          num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=args.seq)
    cfg.use_cache = False
    deepspeed.init_distributed(dist_backend="gloo" if args.smoke else "nccl")
    torch.manual_seed(0)
    model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
    model.gradient_checkpointing_enable()
    params = sum(p.numel() for p in model.parameters())
    ds_config = {
        "train_micro_batch_size_per_gpu": args.micro, "gradient_accumulation_steps": 1,
        "zero_optimization": {"stage": 2, "overlap_comm": True, "contiguous_gradients": True},
        "bf16": {"enabled": not args.smoke}, "gradient_clipping": 1.0,
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
    }
    # torch's AdamW (fused on GPU), as transformers.Trainer uses: DeepSpeed's FusedAdam is compiled at
    # first use, and its arch parser fails on torch 2.11's "9.0a" ("invalid literal for int(): '0a'")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0, fused=device == "cuda")
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    peak = matmul_peak(device, dtype, 512 if args.smoke else 8192)
    gen = torch.Generator().manual_seed(0)
    flops_per_token = 6 * params + 6 * cfg.num_hidden_layers * args.seq * cfg.hidden_size
    warmup, timed_steps, timed_s, t_start = 3, 0, 0.0, time.perf_counter()
    loss = torch.tensor(0.0)
    for step in range(args.steps):
        ids = torch.randint(0, cfg.vocab_size, (args.micro, args.seq), generator=gen).to(device)
        sync(device)
        t = time.perf_counter()
        loss = engine(input_ids=ids, labels=ids).loss
        engine.backward(loss)
        engine.step()
        sync(device)
        if step >= warmup:
            timed_s += time.perf_counter() - t
            timed_steps += 1
        if time.perf_counter() - t_start > args.time_limit:
            break
    tokens_s = timed_steps * args.micro * args.seq / timed_s
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke test)"
    print(f"device: {name}; peak {'bf16' if not args.smoke else 'fp32'} matmul measured: {peak / 1e12:.1f} TFLOP/s")
    print("| model | parameters | seq | micro batch | timed steps | tokens/s | achieved TFLOP/s | MFU | last loss |")
    print("|---|---|---|---|---|---|---|---|---|")
    achieved = tokens_s * flops_per_token
    print(f"| Llama {'smoke' if args.smoke else '1.1B'} | {params / 1e6:,.1f}M | {args.seq} | {args.micro} | {timed_steps} "
          f"| {tokens_s:,.0f} | {achieved / 1e12:.2f} | {100 * achieved / peak:.1f}% | {loss.item():.3f} |")
    # gradient checkpointing recomputes the forward: hardware FLOPs are ~8/6 of the model FLOPs counted here
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
