"""Curation speed: all of GSM8K train + MATH train (about 15k records) through every filter.

    python benchmarks/curation_speed.py [--data-dir ../shared/data]

One row per tokenizer used for the length filter; decontamination checks all 11 evaluation sets.
Writes into a temp folder, never into the repo. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from abel.config import CurateParams
from abel.curation.pipeline import curate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    args = parser.parse_args()
    print("| tokenizer | records read | kept | contaminated | seconds |")
    print("|---|---|---|---|---|")
    for tokenizer in ("whitespace", "smollm2"):
        cfg = CurateParams(sources={"gsm8k": 1.0, "math": 1.0}, max_records=0, tokenizer=tokenizer, download=False)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            report = curate(cfg, args.data_dir, Path(tmp), progress=False)
            secs = time.perf_counter() - start
        f = report["funnel"]
        print(f"| {tokenizer} | {sum(s['read'] for s in f.values())} | {sum(s['kept'] for s in f.values())} "
              f"| {sum(s['contaminated'] for s in f.values())} | {secs:.1f} |")


if __name__ == "__main__":
    main()
