"""One-GPU check of the paper-scale path, offline, in under 8 minutes on one H100/H200.

    bash benchmarks/gpu_check.sh prepare          # here (network): wheels + data into .gpu/
    bash benchmarks/gpu_check.sh run              # on the GPU machine: install .gpu/whl, run this
    python benchmarks/gpu_check.py --smoke ...    # CPU check of this script (tiny shapes, fp32)

Three parts, one table at the end:
1. ``benchmarks/gpu_training.py``: a random-init 1.1B Llama under DeepSpeed ZeRO-2, bf16 (MFU against
   the bf16 matmul peak measured on the same card);
2. the ``paper`` profile's SFT through this repo's own launcher (``abel.training.launch``: torchrun,
   ``transformers.Trainer``, DeepSpeed **ZeRO-3**, bf16, gradient checkpointing, 2048-token sequences,
   checkpoint + resume files) on a **random-init ~1B Llama** (there is no hub here for Llama-2-7B;
   its tokenizer is the byte-level BPE that ``sft.model: tiny`` trains on the curated GSM8K data);
3. generation of 64 GSM8K test prompts from the model step 2 wrote (the hf backend, bf16, batched)
   and their scoring (strict mode).

A random-init model trained for a few dozen steps answers nothing right: the accuracy row checks the
path (prompts, stop strings, extraction), not the model. Nothing here is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "accelerate", "deepspeed", "tokenizers", "pydantic", "math-verify"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "missing"
    return out


def part_mfu(args: argparse.Namespace) -> dict[str, Any]:
    """``gpu_training.py`` in its own process (it owns a process group); its table row, parsed."""
    cmd = [sys.executable, str(HERE / "gpu_training.py"), "--time-limit", str(args.mfu_seconds)]
    if args.smoke:
        cmd.append("--smoke")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stderr[-4000:])
        return {"status": f"failed (exit {proc.returncode})"}
    peak = re.search(r"matmul measured: ([\d.]+) TFLOP/s", proc.stdout)
    row = [line for line in proc.stdout.splitlines() if line.startswith("| Llama")][-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    return {"status": "ok", "peak_tflops": float(peak.group(1)) if peak else None, "parameters": cells[1],
            "tokens_per_s": cells[5], "tflops": cells[6], "mfu": cells[7], "loss": cells[8],
            "seconds": round(time.perf_counter() - start, 1)}


def check_params(args: argparse.Namespace, data_dir: Path, work: Path, deepspeed: str = "zero3") -> Any:
    """params.yaml's ``paper`` profile, with what this check changes laid over it (said in the table)."""
    import yaml

    from abel.config import _merge, parse_params, with_profile

    raw = with_profile(yaml.safe_load((ROOT / "params.yaml").read_text()), "paper")
    raw.pop("profiles", None)
    tiny = ({"vocab_size": 512, "hidden_size": 64, "layers": 2, "heads": 4, "intermediate_size": 192} if args.smoke
            # a ~1B Llama (TinyLlama-like widths, 20 layers, full multi-head attention)
            else {"vocab_size": 32000, "hidden_size": 2048, "layers": 20, "heads": 16, "intermediate_size": 5632})
    overlay = {
        "data": {"dir": str(data_dir)},
        "curate": {"sources": {"gsm8k": 1.0}, "max_records": args.records, "tokenizer": "whitespace",
                   "decontaminate_against": ["gsm8k"], "download": False},
        "sft": {"model": "tiny", "tiny": tiny, "deepspeed": deepspeed, "max_steps": args.sft_steps, "processes": 1,
                "global_batch_size": args.micro * 4, "micro_batch_size": args.micro,
                "save_steps": args.sft_steps, "eval_steps": args.sft_steps, "logging_steps": 1,
                **({"precision": "fp32", "gradient_checkpointing": False} if args.smoke else {})},
        "generate": {"backend": "hf", "model": str(work / "model"), "benchmarks": {"gsm8k": args.prompts},
                     "max_new_tokens": args.new_tokens, "batch_size": args.prompts},
    }
    return parse_params(_merge(raw, overlay), "params.yaml (paper profile) + gpu_check overrides")


def part_sft(params: Any, data_dir: Path, work: Path, model: str) -> dict[str, Any]:
    from abel import artifacts as A
    from abel.curation.pipeline import curate
    from abel.training.launch import launch
    from abel.training.logs import read_run, summary
    from abel.training.models import parameter_count

    start = time.perf_counter()
    curate(params.curate, data_dir, work, progress=False)
    val = work / A.CURATED_VAL
    result = launch(params.sft, work, work / A.CURATED_TRAIN, val if val.is_file() else None, work / model,
                    runs_dir=work / "runs", progress=True)
    log = read_run(result.log_dir)
    facts = summary(log)
    return {"status": "ok", "parameters": parameter_count(str(result.output_dir)), "steps": len(log.train),
            "zero_stage": facts["zero_stage"], "dtype": facts["dtype"], "precision": result.plan.precision,
            "first_loss": log.train[0]["loss"], "last_loss": log.train[-1]["loss"],
            "tokens_per_s": round(facts["tokens_per_s"] or 0, 1), "seconds": round(time.perf_counter() - start, 1),
            "checkpoints": sorted(p.name for p in (result.run_dir / "checkpoints").glob("checkpoint-*"))}


def part_generate(params: Any, work: Path) -> dict[str, Any]:
    from abel.generation.backends import backend
    from abel.generation.batch import generate_benchmarks
    from abel.io import read_jsonl
    from abel.scoring.runner import score_rows

    start = time.perf_counter()
    generate, info = backend(params.generate, work)
    load_s = time.perf_counter() - start
    t = time.perf_counter()
    generate_benchmarks(params, work, work / "generations", work / "generate", progress=True, generate=generate)
    gen_s = time.perf_counter() - t
    rows = read_jsonl(work / "generations" / "gsm8k.jsonl")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(work / "model"))
    new_tokens = sum(len(tok(r["response"], add_special_tokens=False)["input_ids"]) for r in rows)
    verdicts, _ = score_rows(rows, "strict", workers=2, progress=False)
    return {"status": "ok", "device": info.get("device"), "precision": info.get("precision"), "prompts": len(rows),
            "new_tokens": new_tokens, "load_s": round(load_s, 1), "generate_s": round(gen_s, 2),
            "tokens_per_s": round(new_tokens / max(gen_s, 1e-9), 1), "correct": sum(v["correct"] for v in verdicts),
            "example": rows[0]["response"][:120]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / ".gpu" / "data", help="holds gsm8k/{train,test}.jsonl")
    parser.add_argument("--work", type=Path, default=Path("/tmp/abel-gpu-check"))
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes, fp32: checks this script only")
    parser.add_argument("--mfu-seconds", type=float, default=90.0)
    parser.add_argument("--sft-steps", type=int, default=30)
    parser.add_argument("--micro", type=int, default=8, help="sequences per forward (global batch = 4x)")
    parser.add_argument("--records", type=int, default=2000, help="curated GSM8K records")
    parser.add_argument("--deepspeed", nargs="+", default=["zero3"], choices=["zero2", "zero3"],
                        help="one SFT run per config (the paper profile's is zero3); generation uses the first's model")
    parser.add_argument("--skip", nargs="*", default=[], choices=["mfu", "generate"])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=256)
    args = parser.parse_args()
    if args.smoke:
        args.mfu_seconds, args.sft_steps, args.micro, args.records = min(args.mfu_seconds, 20), min(args.sft_steps, 3), 2, 64
        args.prompts, args.new_tokens = min(args.prompts, 8), min(args.new_tokens, 16)
    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: run with --smoke to check the script on CPU")
    data_dir = args.data.resolve()
    for f in ("gsm8k/train.jsonl", "gsm8k/test.jsonl"):
        if not (data_dir / f).is_file():
            raise SystemExit(f"missing {data_dir / f}: run `bash benchmarks/gpu_check.sh prepare` where the data is")
    work = args.work.resolve()
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    results: dict[str, Any] = {"versions": versions(),
                               "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (smoke)"}
    print(json.dumps(results), flush=True)
    parts: list[tuple[str, Any]] = [("mfu", lambda: part_mfu(args))]
    for i, ds in enumerate(args.deepspeed):
        parts.append((f"sft_{ds}", lambda ds=ds, i=i: part_sft(check_params(args, data_dir, work, ds), data_dir, work,
                                                                "model" if i == 0 else f"model_{ds}")))
    parts.append(("generate", lambda: part_generate(check_params(args, data_dir, work), work)))
    for name, fn in parts:
        if name in args.skip:
            continue
        print(f"== {name} ({time.perf_counter() - t0:.0f} s in)", flush=True)
        try:
            results[name] = fn()
        except Exception as exc:  # noqa: BLE001 - one part failing must not hide the others' numbers
            import traceback

            traceback.print_exc()
            results[name] = {"status": f"failed: {type(exc).__name__}: {str(exc)[:300]}"}
        print(json.dumps(results[name]), flush=True)
    results["total_s"] = round(time.perf_counter() - t0, 1)
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_check.json").write_text(json.dumps(results, indent=1))
    print_table(results, args)


def print_table(r: dict[str, Any], args: argparse.Namespace) -> None:
    v = r["versions"]
    print(f"\ndevice: {r['device']}; python {v['python']}, torch {v['torch']}, transformers {v['transformers']}, "
          f"deepspeed {v['deepspeed']}; total {r['total_s']} s")
    print("| part | what ran | result |")
    print("|---|---|---|")
    m, g = r.get("mfu", {}), r.get("generate", {})
    if m.get("status") == "ok":
        print(f"| training MFU | gpu_training.py: Llama {m['parameters']}, ZeRO-2, {'fp32 (smoke)' if args.smoke else 'bf16, seq 2048'} | {m['tokens_per_s']} tokens/s, "
              f"{m['tflops']} TFLOP/s = {m['mfu']} of {m['peak_tflops']} TFLOP/s measured; loss {m['loss']} |")
    else:
        print(f"| training MFU | gpu_training.py | {m.get('status', 'skipped')} |")
    for ds in args.deepspeed:
        s = r.get(f"sft_{ds}", {})
        if s.get("status") == "ok":
            print(f"| paper-profile SFT | abel launcher, {s['parameters'] / 1e6:,.1f}M-param random-init Llama, ZeRO-{s['zero_stage']}, "
                  f"{s['precision']}, {s['steps']} steps x {args.micro * 4} seqs | loss {s['first_loss']:.3f} -> {s['last_loss']:.3f}; "
                  f"{s['tokens_per_s']} real tokens/s (rank 0); {s['seconds']} s with curation, model init and the "
                  f"checkpoint ({', '.join(s['checkpoints'])}) |")
        else:
            print(f"| paper-profile SFT ({ds}) | abel launcher | {s.get('status', 'skipped')} |")
    if g.get("status") == "ok":
        print(f"| generation + scoring | hf backend on {g['device']}, {g['prompts']} GSM8K prompts, <= {args.new_tokens} new tokens, "
              f"{g['precision']}, strict scorer | {g['new_tokens']} tokens in {g['generate_s']} s = {g['tokens_per_s']} tokens/s "
              f"(model load {g['load_s']} s); "
              f"correct {g['correct']}/{g['prompts']} (random-init model: the path, not the model) |")
    else:
        print(f"| generation + scoring | hf backend | {g.get('status', 'skipped')} |")


if __name__ == "__main__":
    main()
