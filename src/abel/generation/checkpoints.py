"""Generate from every saved checkpoint of an SFT run, to compare training and test accuracy over time.

The training run keeps its complete checkpoints (with resume state) in
``checkpoints/sft/<run key>/checkpoints/checkpoint-<step>/``, outside DVC; the sft stage exports each one's
model files to ``models/sft_checkpoints/step-<step>/`` (a DVC output) and lists them in
``metrics/sft/checkpoints.json``, which is what the overfit stage reads (``listed_checkpoints``). Each checkpoint, and the
final model, answers the same questions greedily: a fixed subset of the curated *training* records
and a fixed subset of a *test* benchmark. The overfit stage scores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from abel.config import GenerateParams
from abel.generation.backends import hf_backend
from abel.modelio import complete_checkpoints, manifest_checkpoints


def saved_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the run's complete checkpoints that hold a loadable model, by step."""
    return [(step, path) for step, path in complete_checkpoints(run_dir / "checkpoints") if (path / "config.json").is_file()]


def listed_checkpoints(manifest: dict, root: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint the sft stage's manifest lists; ``abel.modelio.MissingCheckpoint``
    if one is not in the workspace (e.g. a checkout without ``dvc pull``)."""
    return manifest_checkpoints(manifest, root)


def generate_at_checkpoints(checkpoints: Sequence[tuple[int, Path]], prompts: Sequence[str], params: GenerateParams,
                            root: Path, *, progress: bool = True) -> dict[int, list[str]]:
    """{step: responses to ``prompts``}: each (step, model folder) loaded in turn by the hf backend,
    with ``params`` (batch size, sampling, precision) for everything but the model."""
    out: dict[int, list[str]] = {}
    for step, folder in tqdm(checkpoints, desc="checkpoints", disable=not progress):
        generate, _ = hf_backend(params.model_copy(update={"model": str(folder), "backend": "hf"}), root)
        out[step] = generate(list(prompts))
    return out
