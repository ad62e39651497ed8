"""Tokenization, prompt masking and packing: a packed row computes exactly what its examples do alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from abel.io import InputError
from abel.training.data import IGNORE, Collator, Example, SFTDataset, encode, pack, read_curated
from abel.training.models import tiny_model, train_tiny_tokenizer
from abel.config import SFTParams

from .conftest import write_curated


@pytest.fixture(scope="module")
def tok_model(curated: tuple[Path, Path]):
    rows = read_curated(curated[0])
    tok = train_tiny_tokenizer([r["prompt"] + r["target"] for r in rows], 400)
    model = tiny_model(SFTParams(model="tiny", max_length=512), len(tok), tok.eos_token_id, seed=0).eval()
    return rows, tok, model


def test_loss_covers_target_and_eos_only(tok_model) -> None:
    rows, tok, _ = tok_model
    enc = encode(rows[:5], tok, max_length=10_000)
    for ex, row in zip(enc.examples, rows):
        n_prompt = len(tok(row["prompt"], add_special_tokens=False)["input_ids"])
        assert ex.labels[:n_prompt] == [IGNORE] * n_prompt
        assert ex.labels[n_prompt:] == ex.input_ids[n_prompt:]
        assert ex.input_ids[-1] == tok.eos_token_id
        assert tok.decode(ex.input_ids[n_prompt:-1]) == row["target"]


def test_too_long_examples_are_dropped_and_named(tok_model) -> None:
    rows, tok, _ = tok_model
    lengths = [len(e.input_ids) for e in encode(rows[:20], tok, 10_000).examples]
    limit = sorted(lengths)[10]
    enc = encode(rows[:20], tok, limit)
    assert len(enc.examples) + len(enc.too_long) == 20
    assert all(len(e.input_ids) <= limit for e in enc.examples)
    assert set(enc.too_long) == {rows[i]["id"] for i, n in enumerate(lengths) if n > limit}


def test_pack_keeps_every_example_within_the_limit() -> None:
    examples = [Example(i, [1] * n, [1] * n) for i, n in enumerate([50, 30, 70, 20, 90, 10, 40, 100])]
    bins = pack(examples, 100)
    assert sorted(e.index for b in bins for e in b) == list(range(8))
    assert all(sum(len(e.input_ids) for e in b) <= 100 for b in bins)
    assert len(bins) == 5  # first-fit decreasing: 100 | 90+10 | 70+30 | 50+40 | 20
    assert pack(examples, 100) == bins  # deterministic


def test_packed_row_equals_examples_alone(tok_model) -> None:
    """Block-diagonal attention from restarting position_ids: same logits, same loss terms."""
    rows, tok, model = tok_model
    examples = encode(rows[:4], tok, 10_000).examples
    width = sum(len(e.input_ids) for e in examples) + 7  # room for padding in the packed row
    packed = Collator(tok.pad_token_id, packing=True)([examples, examples[:1]])
    assert "attention_mask" not in packed and packed["input_ids"].shape[1] == width - 7
    with torch.no_grad():  # use_cache=False as in training (train.py sets it): no cache, so the packed mask applies
        logits = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[0]
        offset = 0
        for ex in examples:
            n = len(ex.input_ids)
            alone = model(input_ids=torch.tensor([ex.input_ids])).logits[0]
            torch.testing.assert_close(logits[offset:offset + n], alone, rtol=1e-4, atol=1e-4)
            offset += n
    labels = packed["labels"][0]
    starts = [0]
    for ex in examples[:-1]:
        starts.append(starts[-1] + len(ex.input_ids))
    assert all(labels[s] == IGNORE for s in starts)  # no example is predicted from the previous one
    assert (labels != IGNORE).sum() == sum((torch.tensor(e.labels[1:]) != IGNORE).sum() for e in examples)


def test_packed_loss_differs_if_attention_crossed_boundaries(tok_model) -> None:
    """The check above can fail: without restarting positions the second example sees the first."""
    rows, tok, model = tok_model
    a, b = encode(rows[:2], tok, 10_000).examples
    ids = torch.tensor([a.input_ids + b.input_ids])
    with torch.no_grad():
        crossed = model(input_ids=ids).logits[0, len(a.input_ids):]
        alone = model(input_ids=torch.tensor([b.input_ids])).logits[0]
    assert not torch.allclose(crossed, alone, atol=1e-3)


def test_unpacked_batch_pads_right_with_mask(tok_model) -> None:
    rows, tok, _ = tok_model
    examples = encode(rows[:3], tok, 10_000).examples
    batch = Collator(tok.pad_token_id, packing=False)([[e] for e in examples])
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        assert batch["attention_mask"][i].sum() == n
        assert (batch["labels"][i, n:] == IGNORE).all()
    assert batch["example_ids"] == [e.index for e in examples]
    assert batch["n_tokens"] == sum(len(e.input_ids) for e in examples)
    assert len(SFTDataset(examples, 10_000, packing=True)) == 1


def test_curated_file_errors_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing"):
        read_curated(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="no records"):
        read_curated(write_curated(tmp_path / "empty.jsonl", []))
    with pytest.raises(InputError, match=r"bad\.jsonl:2: field 'target'"):
        read_curated(write_curated(tmp_path / "bad.jsonl", [{"id": "a", "prompt": "p", "target": "t"},
                                                             {"id": "b", "prompt": "p", "target": ""}]))
    (tmp_path / "torn.jsonl").write_text('{"id": "a", "prompt": "p", "target": "t"}\n{"id": "b", "pro')
    with pytest.raises(InputError, match=r"torn\.jsonl:2"):
        read_curated(tmp_path / "torn.jsonl")
