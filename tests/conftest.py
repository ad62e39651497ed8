from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Shared benchmark data: $ABEL_DATA_DIR, else ../shared/data beside the repo (CI has it), else the
    fetch stage's data/sources (fetched here from the pinned sources when it is not complete)."""
    if "ABEL_DATA_DIR" in os.environ or (REPO.parent / "shared" / "data" / "MANIFEST.md").is_file():
        path = Path(os.environ.get("ABEL_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
        if not (path / "gsm8k" / "test.jsonl").is_file():
            pytest.fail(f"shared data not found at {path}: set ABEL_DATA_DIR to a folder laid out like ../shared/data")
        return path
    from abel.data.fetch import FetchError, fetch

    try:
        fetch(REPO / "data" / "sources")
    except FetchError as exc:
        pytest.fail(f"no ../shared/data and no $ABEL_DATA_DIR, and fetching data/sources failed:\n{exc}")
    return REPO / "data" / "sources"


@pytest.fixture(scope="session")
def released_files(data_dir: Path) -> list[Path]:
    files = sorted((data_dir / "abel_outputs" / "outputs").glob("*/*.jsonl"))
    assert files, f"no released generations under {data_dir}/abel_outputs/outputs"
    return files


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """A real OpenSSH server on 127.0.0.1 and 127.0.0.2 for this session, with a throwaway key
    (tests/sshd.py); skipped, with the reason, only where sshd cannot start on this machine."""
    from tests.sshd import LoopbackSSHD, unavailable

    why = unavailable()
    if why:
        pytest.skip(why)
    with LoopbackSSHD(tmp_path_factory.mktemp("sshd")) as server:
        yield server


TINY_CORPUS = ["Question:\nTom has 3 apples. How many?\nAnswer:\nLet's think step by step.\n3 + 2 = 5\n#### 5\n"] * 20


@pytest.fixture(scope="session")
def finished_pipeline(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The tiny-profile pipeline after `dvc repro` in a fresh copy of this checkout (tests/pipeline.py), made
    once per test run: under pytest-xdist by the first worker that asks, in the folder all workers share."""
    from tests.pipeline import finished

    base = tmp_path_factory.getbasetemp()
    return finished(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base, data_dir)


@pytest.fixture(scope="module")
def repo_copy(finished_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the finished tiny pipeline for one test module (tests/test_pipeline*.py), which its tests may change."""
    from tests.pipeline import copy_of

    return copy_of(finished_pipeline, tmp_path_factory.mktemp("repo") / "repo")


def make_tiny_llama(path: Path, max_positions: int = 256, heads: int = 4):
    """A random-init 2-layer Llama and a byte-level BPE tokenizer trained here (no hub), saved to
    ``path`` as a Hugging Face folder; returns (model, tokenizer)."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TINY_CORPUS, vocab_size=300, min_frequency=1, special_tokens=["<eos>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_positions,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model, tok


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest work first: test_pipeline.py (its first test waits for the finished tiny pipeline), then the
    other modules with a test marked slow, the other modules that copy the finished pipeline after them (by
    then it is made), then the rest; each module's tests in their own order (a module's tests may depend on
    it). Under `make test` (pytest-xdist, one module per worker at a time) the longest chain starts first."""
    def module(item: pytest.Item) -> str:
        mod = getattr(item, "module", None)  # None for items that are not Python tests (doctest files, say)
        return mod.__name__ if mod is not None else ""

    slow_modules = {module(item) for item in items if item.get_closest_marker("slow")}
    pipeline_modules = {module(item) for item in items if "finished_pipeline" in getattr(item, "fixturenames", ())}

    def rank(item: pytest.Item) -> int:
        name = module(item)
        if name == "tests.test_pipeline":
            return 0
        return 2 if name in pipeline_modules else 1 if name in slow_modules else 3

    items.sort(key=rank)
