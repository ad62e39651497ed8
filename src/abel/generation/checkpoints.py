"""Generate from every saved checkpoint of an SFT run, to compare training and test accuracy over time.

The overfit stage finds the run's checkpoints (model files, transformers format) through the manifest
the sft stage writes (``abel.checkpoint_export``). Each checkpoint, the last being the final model,
answers the same questions greedily: a fixed subset of the curated *training* records
and a fixed subset of a *test* benchmark. The overfit stage scores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from abel.config import GenerateParams
from abel.generation.backends import hf_backend


def generate_at_checkpoints(checkpoints: Sequence[tuple[int, Path]], prompts: Sequence[str], params: GenerateParams,
                            root: Path, *, progress: bool = True) -> dict[int, list[str]]:
    """{step: responses to ``prompts``}: each (step, model folder) loaded in turn by the hf backend,
    with ``params`` (batch size, sampling, precision) for everything but the model."""
    out: dict[int, list[str]] = {}
    for step, folder in tqdm(checkpoints, desc="checkpoints", disable=not progress):
        generate, _ = hf_backend(params.model_copy(update={"model": str(folder), "backend": "hf"}), root)
        out[step] = generate(list(prompts))
    return out
