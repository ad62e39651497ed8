from __future__ import annotations

import json
from pathlib import Path

import pytest

from abel.config import SFTParams, parse_params
from abel.modelio import ABEL_PROMPT
from abel.training.launch import RunResult, launch
from abel.training.logs import RunLog, read_run

REPO = Path(__file__).resolve().parents[2]


def write_curated(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def curated(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small curated train/val pair in the curate stage's schema, built from GSM8K train."""
    rows = []
    for i, line in enumerate((data_dir / "gsm8k" / "train.jsonl").read_text().split("\n")[:360]):
        rec = json.loads(line)
        prompt = ABEL_PROMPT.format(question=rec["question"])
        rows.append({"id": f"gsm8k/{i}", "prompt": prompt, "target": rec["answer"]})
    folder = tmp_path_factory.mktemp("curated")
    return write_curated(folder / "train.jsonl", rows[:320]), write_curated(folder / "val.jsonl", rows[320:])


def tiny_sft(deepspeed: str, **kw: object) -> SFTParams:
    """The 2-process tiny run of the multi-process tests (30 steps, checkpoints every 10)."""
    return parse_params({"sft": {
        "model": "tiny", "tiny": {"vocab_size": 400, "hidden_size": 64, "layers": 2, "heads": 4, "intermediate_size": 128},
        "max_train_examples": 256, "max_val_examples": 16, "max_length": 512, "lr": 3e-3, "warmup_ratio": 0.1,
        "global_batch_size": 16, "micro_batch_size": 4, "processes": 2, "deepspeed": deepspeed, "max_steps": 30,
        "save_steps": 10, "eval_steps": 10, "logging_steps": 1, "packing": False, **kw}}).sft


def run(sft: SFTParams, curated: tuple[Path, Path], tmp: Path) -> tuple[RunResult, RunLog]:
    result = launch(sft, REPO, curated[0], curated[1], tmp / "model", runs_dir=tmp / "runs", progress=False)
    return result, read_run(result.log_dir)


@pytest.fixture(scope="session")
def zero2(curated: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, RunLog]:
    """The 2-process ZeRO-2 torchrun run: the baseline of the resume and SLURM tests."""
    return run(tiny_sft("zero2"), curated, tmp_path_factory.mktemp("zero2"))
