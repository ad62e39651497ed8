"""SFT examples: Abel's prompt + curated target + EOS, loss on the target only; optional packing.

Packing puts several examples in one row and restarts ``position_ids`` at 0 for each. With no
attention mask, transformers builds a block-diagonal causal mask from those restarts, so a token
never attends to another example, and every example's first label is masked, so no loss term
predicts one example from the previous one. ``tests/training`` checks packed == unpacked logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abel.io import InputError, read_jsonl
from abel.modelio import encode_prompt

IGNORE = -100


@dataclass(frozen=True)
class Example:
    index: int  # position in the curated file: which rank saw which example is logged by index
    input_ids: list[int]
    labels: list[int]


@dataclass
class Encoded:
    examples: list[Example]
    too_long: list[str] = field(default_factory=list)  # record ids dropped by max_length


def read_curated(path: Path, limit: int = 0) -> list[dict[str, Any]]:
    """Curated records with ``prompt`` and ``target``; an empty or malformed file is an error."""
    if not path.is_file():
        raise InputError(f"{path}: curated file missing (run the curate stage first)")
    rows = read_jsonl(path, required=("id", "prompt", "target"))
    if not rows:
        raise InputError(f"{path}: no records (curation selected nothing: check params.yaml curate)")
    for i, row in enumerate(rows, 1):
        for key in ("prompt", "target"):
            if not isinstance(row[key], str) or not row[key].strip():
                raise InputError(f"{path}:{i}: field {key!r} must be a non-empty string")
    return rows[:limit] if limit else rows


def encode(records: Sequence[dict[str, Any]], tokenizer: Any, max_length: int) -> Encoded:
    """Prompt tokens (labels masked) + target tokens + EOS; records over ``max_length`` are dropped."""
    out = Encoded(examples=[])
    prompts = [encode_prompt(tokenizer, r["prompt"]) for r in records]
    targets = tokenizer([r["target"] for r in records], add_special_tokens=False)["input_ids"]
    for i, (record, prompt, target) in enumerate(zip(records, prompts, targets)):
        target = [*target, tokenizer.eos_token_id]
        if len(prompt) + len(target) > max_length:
            out.too_long.append(record["id"])
            continue
        out.examples.append(Example(i, prompt + target, [IGNORE] * len(prompt) + target))
    return out


def pack(examples: Sequence[Example], max_length: int) -> list[list[Example]]:
    """First-fit-decreasing bins of total length <= ``max_length`` (deterministic)."""
    bins: list[list[Example]] = []
    room: list[int] = []
    for ex in sorted(examples, key=lambda e: (-len(e.input_ids), e.index)):
        n = len(ex.input_ids)
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(ex)
                room[b] -= n
                break
        else:
            bins.append([ex])
            room.append(max_length - n)
    return bins


class SFTDataset:
    """Rows for the Trainer: one example per row, or one packed bin per row."""

    def __init__(self, examples: Sequence[Example], max_length: int, packing: bool):
        self.rows = pack(examples, max_length) if packing else [[ex] for ex in examples]
        self.packing = packing

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> list[Example]:
        return self.rows[i]

    def tokens(self) -> int:
        return sum(len(ex.input_ids) for row in self.rows for ex in row)


@dataclass
class Collator:
    """Right-pads a batch of rows. Unpacked: ``attention_mask``. Packed: restarting ``position_ids``."""

    pad_id: int
    packing: bool

    def __call__(self, rows: Sequence[Sequence[Example]]) -> dict[str, Any]:
        import torch

        width = max(sum(len(ex.input_ids) for ex in row) for row in rows)
        ids, labels, extra = [], [], []
        for row in rows:
            r_ids: list[int] = []
            r_labels: list[int] = []
            r_pos: list[int] = []
            for ex in row:
                r_ids += ex.input_ids
                r_labels += [IGNORE, *ex.labels[1:]]  # never predict an example from the one before it
                r_pos += range(len(ex.input_ids))
            pad = width - len(r_ids)
            ids.append(r_ids + [self.pad_id] * pad)
            labels.append(r_labels + [IGNORE] * pad)
            # padding is its own segment (positions restart at 0), so it is never attended to
            extra.append(r_pos + list(range(pad)) if self.packing else [1] * len(r_ids) + [0] * pad)
        batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                 "example_ids": [ex.index for row in rows for ex in row],
                 "n_tokens": sum(len(ex.input_ids) for row in rows for ex in row)}
        batch["position_ids" if self.packing else "attention_mask"] = torch.tensor(extra)
        return batch
