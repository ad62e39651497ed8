"""Read back what the ranks of a run logged: the loss curve, throughput, and who trained on what."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abel.io import read_jsonl


# the columns of a run's loss files (metrics/sft/{train,val}.csv, a comparison run's {train,val}.csv): results only;
# throughput is a fact of the run (its provenance), not of the model
TRAIN_COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm", "tokens")
VAL_COLUMNS = ("step", "val_loss")
# the keys of ``summary`` that are facts of the machine and the attempt, not of the result: they go to provenance
RUN_FACTS = ("tokens_per_s", "resumes", "allocator")


@dataclass(frozen=True)
class RunLog:
    begins: dict[int, list[dict[str, Any]]]  # rank -> its "begin" rows (one more per resume)
    train: list[dict[str, Any]]  # one row per logged optimizer step
    val: list[dict[str, Any]]  # step, val_loss
    shards: dict[int, list[int]]  # rank -> example indices it trained on (the final attempt of each step)
    shared_steps: int  # logged steps in which two ranks trained on the same example (0 for a sharded run)
    # how the run ended (rank 0's "end" row): its last optimizer step and epoch, which the last logged row
    # need not be when logging_steps does not divide the step count; None if no attempt finished
    final_step: int | None = None
    final_epoch: float | None = None
    unlogged_tokens: int = 0  # trained on after the last logged step, all ranks

    @property
    def world_size(self) -> int:
        return len(self.begins)


def read_run(log_dir: Path) -> RunLog:
    """Merge ``rank*.jsonl``. After a resume, steps are logged twice; the later attempt wins."""
    files = sorted(log_dir.glob("rank*.jsonl"), key=lambda p: int(p.stem[4:]))
    if not files:
        raise FileNotFoundError(f"{log_dir}: no rank*.jsonl logs (did training start?)")
    begins: dict[int, list[dict[str, Any]]] = {}
    steps: dict[int, dict[int, dict[str, Any]]] = {}  # step -> rank -> row
    val: dict[int, float] = {}
    ends: dict[int, list[dict[str, Any]]] = {}  # rank -> its "end" rows (an attempt that finished; a restart
    # after the end trains nothing and ends with 0 unlogged tokens)
    for path in files:
        rank = int(path.stem[4:])
        for row in read_jsonl(path, required=("event", "step")):
            if row["event"] == "begin":
                begins.setdefault(rank, []).append(row)
            elif row["event"] == "end":
                ends.setdefault(rank, []).append(row)
            elif row["event"] == "log" and "loss" in row:
                steps.setdefault(row["step"], {})[rank] = row
            if row.get("val_loss") is not None:
                val[row["step"]] = row["val_loss"]
    train = []
    for step in sorted(steps):
        ranks = steps[step]
        r0 = ranks.get(0) or next(iter(ranks.values()))
        seconds = max(r["seconds"] for r in ranks.values())
        tokens = sum(r["tokens"] for r in ranks.values())
        train.append({"step": step, "epoch": r0["epoch"], "loss": r0["loss"], "lr": r0["lr"],
                      "grad_norm": r0.get("grad_norm"), "tokens": tokens,
                      "tokens_per_s": tokens / seconds if seconds > 0 else None})
    shards: dict[int, list[int]] = {}
    shared = 0
    for step in sorted(steps):
        seen: set[int] = set()
        clash = False
        for rank, row in sorted(steps[step].items()):
            shards.setdefault(rank, []).extend(row["examples"])
            clash |= not seen.isdisjoint(row["examples"])
            seen.update(row["examples"])
        shared += clash
    last = (ends.get(0) or [None])[-1]
    return RunLog(begins, train, [{"step": s, "val_loss": v} for s, v in sorted(val.items())], shards, shared,
                  final_step=last["step"] if last else None, final_epoch=last.get("epoch") if last else None,
                  unlogged_tokens=sum(int(r.get("tokens") or 0) for rows in ends.values() for r in rows))


def resumes(log: RunLog) -> int:
    """How many times the run went on training from a checkpoint. A start at the final step (the run
    had finished; the ranks only export the model again) trained nothing and is not a resume."""
    final = log.train[-1]["step"] if log.train else 0
    return max(sum(1 for b in begins[1:] if b["step"] < b.get("max_steps", final)) for begins in log.begins.values())


def summary(log: RunLog, steady_from: int = 2) -> dict[str, Any]:
    """Headline numbers for ``metrics/sft/summary.json`` (tokens/s skips the first steps' warm-up)."""
    first = log.begins[0][0]
    steady = [r for r in log.train if r["step"] >= steady_from and r["tokens_per_s"]]
    tok_s = (sum(r["tokens"] for r in steady) / sum(r["tokens"] / r["tokens_per_s"] for r in steady)) if steady else None
    return {
        "world_size": first["world_size"], "engine": first["engine"], "zero_stage": first["zero_stage"],
        "dtype": first["dtype"],
        # every rank's, every attempt's (a run resumed on a machine without tcmalloc: "system, tcmalloc");
        # None for logs written before ranks logged it
        "allocator": ", ".join(sorted({b["allocator"] for bs in log.begins.values() for b in bs if "allocator" in b})) or None,
        "steps": log.final_step if log.final_step is not None else log.train[-1]["step"] if log.train else 0,
        "epochs": log.final_epoch if log.final_epoch is not None else log.train[-1]["epoch"] if log.train else 0.0,
        "train_loss_first": log.train[0]["loss"] if log.train else None,
        "train_loss_final": log.train[-1]["loss"] if log.train else None,
        "val_loss_first": log.val[0]["val_loss"] if log.val else None,
        "val_loss_final": log.val[-1]["val_loss"] if log.val else None,
        "train_tokens_seen": sum(r["tokens"] for r in log.train) + log.unlogged_tokens,
        "tokens_per_s": tok_s, "too_long_dropped": first["too_long"],
        "resumes": resumes(log),
        "steps_with_shared_examples": log.shared_steps,
    }
