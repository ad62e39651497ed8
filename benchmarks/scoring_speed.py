"""Scoring speed: this repo's scorer (strict and abel modes) vs math-verify, same inputs, one run.

    python benchmarks/scoring_speed.py [--data-dir ../shared/data] [--limit N]

Inputs:
- gsm8k: every released Abel generation on GSM8K and GSM8k_robust (numeric answers).
- math500-matched: MATH500 gold solutions scored against their own `answer` (LaTeX, mostly equal).
- math500-mismatched: solution i against answer i+1 (LaTeX, mostly not equal: the sympy path).
- math-corpus: the labelled rewrite corpus (``abel.scoring.corpus``: equivalent rewrites and
  near-miss wrong ones of MATH test answers, boxed in model-style responses). Besides speed, a
  second table gives each scorer's recall on the equivalent rows and false-accept rate on the
  wrong ones, overall and per rewrite kind.
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
from abel.scoring.runner import score_rows


Verdicts = list[bool]


def _math_verify_scorer() -> Callable[[list[dict[str, Any]]], Verdicts]:
    from math_verify import parse, verify

    def run(rows: list[dict[str, Any]]) -> Verdicts:
        return [bool(verify(parse(f"${row['gold']}$"), parse(row["response"]))) for row in rows]

    return run


def _ours(mode: str, kind: str | None) -> Callable[[list[dict[str, Any]]], Verdicts]:
    def run(rows: list[dict[str, Any]]) -> Verdicts:
        return [bool(v["correct"]) for v in score_rows(rows, mode, kind=kind, progress=False)[0]]

    return run


def _load(data_dir: Path, limit: int | None) -> dict[str, tuple[list[dict[str, Any]], str]]:
    gsm = []
    for path in sorted((data_dir / "abel_outputs" / "outputs").glob("gsm8k*/*.jsonl")):
        gsm += [{"response": r["response"], "gold": r["gold"]} for r in read_jsonl(path)]
    m5 = read_jsonl(data_dir / "math500" / "test.jsonl")
    matched = [{"response": r["solution"], "gold": r["answer"]} for r in m5]
    mismatched = [{"response": m5[i]["solution"], "gold": m5[(i + 1) % len(m5)]["answer"]} for i in range(len(m5))]
    from abel.scoring.corpus import build_corpus

    corpus = build_corpus(data_dir / "math" / "test.jsonl")
    sets = {"gsm8k": (gsm, "numeric"), "math500-matched": (matched, "latex"),
            "math500-mismatched": (mismatched, "latex"), "math-corpus": (corpus, "latex")}
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
    warmup_s: dict[str, float] = {}
    for label, fn in (("math-verify", _math_verify_scorer()), ("abel (strict)", _ours("strict", "latex")),
                      ("abel (abel mode)", _ours("abel", None))):
        start = time.perf_counter()
        fn(warm)
        warmup_s[label] = time.perf_counter() - start

    print("| input | scorer | answers | seconds | answers/s | accepted (%) | speed vs math-verify | one-time warm-up s |")
    print("|---|---|---|---|---|---|---|---|")
    corpus_verdicts: dict[str, Verdicts] = {}
    corpus_rows: list[dict[str, Any]] = []
    for name, (rows, kind) in _load(args.data_dir, args.limit).items():
        scorers = {"math-verify": _math_verify_scorer(), "abel (strict)": _ours("strict", kind)}
        if name == "gsm8k":
            scorers["abel (abel mode)"] = _ours("abel", None)
        results = {}
        for label, fn in scorers.items():
            start = time.perf_counter()
            verdicts = fn(rows)
            results[label] = (time.perf_counter() - start, verdicts)
        base = len(rows) / results["math-verify"][0]
        for label, (secs, verdicts) in results.items():
            rate = len(rows) / secs
            print(f"| {name} | {label} | {len(rows)} | {secs:.2f} | {rate:,.0f} | {100 * sum(verdicts) / len(rows):.2f} "
                  f"| {rate / base:.1f}x | {warmup_s[label]:.1f} |")
        if name == "math-corpus":
            corpus_rows, corpus_verdicts = rows, {label: v for label, (_, v) in results.items()}
    if corpus_rows:
        print()
        print(corpus_table(corpus_rows, corpus_verdicts))


def corpus_table(rows: list[dict[str, Any]], verdicts: dict[str, Verdicts]) -> str:
    """Recall (equivalent rows accepted) and false-accept rate (wrong rows accepted) per scorer,
    overall and per rewrite kind, as a Markdown table."""
    labels = list(verdicts)
    kinds = ["all", *sorted({(r["kind"], r["equivalent"]) for r in rows}, key=lambda k: (not k[1], k[0]))]
    head = "| rewrite kind | label | rows | " + " | ".join(f"{label} accepted" for label in labels) + " |"
    lines = [head, "|" + "---|" * (3 + len(labels))]
    for key in kinds:
        for equivalent in ((True, False) if key == "all" else (key[1],)):
            idx = [i for i, r in enumerate(rows) if r["equivalent"] == equivalent and (key == "all" or r["kind"] == key[0])]
            if not idx:
                continue
            cells = []
            for label in labels:
                accepted = sum(verdicts[label][i] for i in idx)
                cells.append(f"{accepted}/{len(idx)} ({100 * accepted / len(idx):.1f}%)")
            name = "all" if key == "all" else key[0]
            what = "equivalent (recall)" if equivalent else "wrong (false accepts)"
            lines.append(f"| {name} | {what} | {len(idx)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
