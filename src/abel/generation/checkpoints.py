"""Generate from every saved checkpoint of an SFT run, to compare training and test accuracy over time.

The sft stage keeps its complete checkpoints in ``checkpoints/sft/<run key>/checkpoints/checkpoint-<step>/``
(transformers format). ``metrics/sft/summary.json`` names that run folder. Each checkpoint, and the
final model, answers the same questions greedily: a fixed subset of the curated *training* records
and a fixed subset of a *test* benchmark. The overfit stage scores them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from abel.generation.hf import HFGenerator, SamplingConfig
from abel.modelio import CHECKPOINT_COMPLETE as COMPLETE


def saved_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the run's complete checkpoints, by step."""
    found = []
    for path in (run_dir / "checkpoints").glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / COMPLETE).is_file() and (path / "config.json").is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def generate_at_checkpoints(checkpoints: Sequence[tuple[int, Path]], prompts: Sequence[str], cfg: SamplingConfig, *,
                            batch_size: int = 16, progress: bool = True) -> dict[int, list[str]]:
    """{step: responses to ``prompts``} for each (step, model folder), loaded one at a time on CPU/GPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gpu = torch.cuda.is_available()
    out: dict[int, list[str]] = {}
    for step, folder in tqdm(checkpoints, desc="checkpoints", disable=not progress):
        tok = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16 if gpu else torch.float32)
        if gpu:
            model = model.to("cuda")
        out[step] = HFGenerator(model, tok, batch_size=batch_size).generate(list(prompts), cfg)
        del model
    return out
