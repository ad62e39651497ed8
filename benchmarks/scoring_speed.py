"""Scoring speed: this repo's scorer (strict and abel modes) vs math-verify, same inputs, one run.

    python benchmarks/scoring_speed.py [--data-dir ../shared/data] [--limit N]

Inputs:
- gsm8k: every released Abel generation on GSM8K and GSM8k_robust (numeric answers).
- math500-matched: MATH500 gold solutions scored against their own `answer` (LaTeX, mostly equal).
- math500-mismatched: solution i against answer i+1 (LaTeX, mostly not equal: the sympy path).
math-verify runs in this process, as its README shows (verify(parse(gold), parse(response))).
Before timing, every scorer is warmed up once on separate inputs (200 mismatched MATH test pairs):
imports, sympy caches and, for ours, starting the worker processes. That one-time cost is printed
in its own column; answers/s is the steady state. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abel.io import read_jsonl
from abel.scoring import score_rows


def _math_verify_scorer() -> Callable[[list[dict[str, Any]]], float]:
    from math_verify import parse, verify

    def run(rows: list[dict[str, Any]]) -> float:
        correct = 0
        for row in rows:
            correct += bool(verify(parse(f"${row['gold']}$"), parse(row["response"])))
        return correct / len(rows)

    return run


def _ours(mode: str, kind: str | None) -> Callable[[list[dict[str, Any]]], float]:
    def run(rows: list[dict[str, Any]]) -> float:
        return score_rows(rows, mode, kind=kind, progress=False)[1].accuracy

    return run


def _load(data_dir: Path, limit: int | None) -> dict[str, tuple[list[dict[str, Any]], str]]:
    gsm = []
    for path in sorted((data_dir / "abel_outputs" / "outputs").glob("gsm8k*/*.jsonl")):
        gsm += [{"response": r["response"], "gold": r["gold"]} for r in read_jsonl(path)]
    m5 = read_jsonl(data_dir / "math500" / "test.jsonl")
    matched = [{"response": r["solution"], "gold": r["answer"]} for r in m5]
    mismatched = [{"response": m5[i]["solution"], "gold": m5[(i + 1) % len(m5)]["answer"]} for i in range(len(m5))]
    sets = {"gsm8k": (gsm, "numeric"), "math500-matched": (matched, "latex"),
            "math500-mismatched": (mismatched, "latex")}
    return {k: (v[:limit] if limit else v, kind) for k, (v, kind) in sets.items()}


def _warmup_rows(data_dir: Path, n: int = 200) -> list[dict[str, Any]]:
    from abel.scoring.extract import last_boxed

    test = read_jsonl(data_dir / "math" / "test.jsonl")[:n + 1]
    return [{"response": test[i]["solution"], "gold": last_boxed(test[i + 1]["solution"])[0]} for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--limit", type=int, help="first N answers of each set (default: all)")
    args = parser.parse_args()

    warm = _warmup_rows(args.data_dir)
    warmup_s = {}
    for label, fn in (("math-verify", _math_verify_scorer()), ("abel (strict)", _ours("strict", "latex")),
                      ("abel (abel mode)", _ours("abel", None))):
        start = time.perf_counter()
        fn(warm)
        warmup_s[label] = time.perf_counter() - start

    print("| input | scorer | answers | seconds | answers/s | accuracy (%) | speed vs math-verify | one-time warm-up s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (rows, kind) in _load(args.data_dir, args.limit).items():
        scorers = {"math-verify": _math_verify_scorer(), "abel (strict)": _ours("strict", kind)}
        if name == "gsm8k":
            scorers["abel (abel mode)"] = _ours("abel", None)
        results = {}
        for label, fn in scorers.items():
            start = time.perf_counter()
            acc = fn(rows)
            results[label] = (time.perf_counter() - start, acc)
        base = len(rows) / results["math-verify"][0]
        for label, (secs, acc) in results.items():
            rate = len(rows) / secs
            print(f"| {name} | {label} | {len(rows)} | {secs:.2f} | {rate:,.0f} | {100 * acc:.2f} | {rate / base:.1f}x "
                  f"| {warmup_s[label]:.1f} |")


if __name__ == "__main__":
    main()
