"""Generate from every saved checkpoint of an SFT run, to compare training and test accuracy over time.

The overfit stage finds the run's checkpoints (model files, transformers format) through the manifest
the sft stage writes (``abel.checkpoint_export``). Each checkpoint, the last being the final model,
answers the same questions greedily: a fixed subset of the curated *training* records
and a fixed subset of a *test* benchmark. The overfit stage scores them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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


def questions(train: Sequence[dict[str, Any]], test: Sequence[Any]) -> list[dict[str, Any]]:
    """What each checkpoint is asked: curated training records (``id``, ``prompt``, ``answer``, ``kind``) then
    benchmark items (``abel.data.registry.Item``), each as {split, id, prompt, gold, kind}."""
    return ([{"split": "train", "id": r["id"], "prompt": r["prompt"], "gold": r["answer"], "kind": r["kind"]} for r in train]
            + [{"split": "test", "id": i.id, "prompt": i.prompt, "gold": i.gold, "kind": i.kind} for i in test])


def answer_at_checkpoints(checkpoints: Sequence[tuple[int, Path]], asked: Sequence[dict[str, Any]], params: GenerateParams,
                          root: Path, score: Callable[[list[Any], list[str], list[str | None]], list[bool]], *,
                          progress: bool = True) -> tuple[list[dict[str, Any]], dict[int, dict[str, list[bool]]]]:
    """Every question of ``asked`` (``questions``) at every checkpoint, judged by ``score(golds, responses, kinds)``:
    the response rows ({**question, step, response, correct}) and {step: {"train": verdicts, "test": verdicts}}."""
    answers = generate_at_checkpoints(checkpoints, [q["prompt"] for q in asked], params, root, progress=progress)
    rows: list[dict[str, Any]] = []
    verdicts: dict[int, dict[str, list[bool]]] = {}
    for step, texts in answers.items():
        ok = score([q["gold"] for q in asked], texts, [q["kind"] for q in asked])
        verdicts[step] = {s: [v for q, v in zip(asked, ok) if q["split"] == s] for s in ("train", "test")}
        rows += [{**q, "step": step, "response": t, "correct": v} for q, t, v in zip(asked, texts, ok)]
    return rows, verdicts
