"""The process that ``torchrun`` / ``deepspeed`` starts once per rank: ``python -m abel.training.train RUN.json``.

Stanford-Alpaca-sized on purpose: read the run file the launcher wrote, build the datasets,
hand everything to ``transformers.Trainer`` (which drives DeepSpeed), resume from the newest
complete checkpoint, save the final model. Each rank appends what it saw to its own log so a
run can be audited afterwards: world size, DeepSpeed stage, the example indices of its shard,
tokens, loss, learning rate, and which node it ran on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from abel import modelio
from abel.modelio import CHECKPOINT_COMPLETE as COMPLETE  # written once every rank has saved the checkpoint
from abel.procs import parent_death_signal
from abel.training.allocator import in_use as allocator_in_use


def complete_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints that were fully written, oldest first."""
    return [path for _, path in modelio.complete_checkpoints(folder)]


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def watch_owner(owner: dict[str, Any] | None, every_s: float = 1.0) -> None:
    """End this rank when the process that launched the run is gone (same host only). The parent-death
    signal covers torchrun; this also covers launchers that leave a middle process behind (the
    deepspeed runner starts ``deepspeed.launcher.launch``, which a dying runner orphans)."""
    import socket
    import threading

    if not owner or owner.get("host") != socket.gethostname():
        return
    pid = int(owner["pid"])

    def poll() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(143)  # the run's owner is gone: nothing may keep training into its folder
            except PermissionError:
                pass

    threading.Thread(target=poll, name="owner-watchdog", daemon=True).start()


def main(run_file: str) -> int:
    parent_death_signal()  # this rank ends when its launcher does, however the launcher ended
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from abel.training.data import Collator, SFTDataset, encode, read_curated
    from abel.training.safe_load import enforce_weights_only

    enforce_weights_only()  # checkpoints are untrusted: no torch.load here unpickles code

    run: dict[str, Any] = json.loads(Path(run_file).read_text())
    watch_owner(run.get("owner"))
    sft = run["sft"]
    malloc = allocator_in_use()
    if sft.get("cpu_allocator") == "tcmalloc" and "tcmalloc" not in malloc.split("+"):
        # the launcher preloaded it (sft.cpu_allocator: tcmalloc is refused for ranks it does not start itself)
        sys.exit(f"sft.cpu_allocator: tcmalloc, but this rank runs with {malloc} malloc: the dynamic linker did not "
                 f"load LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r} (its message is above)")
    ckpt_dir, log_dir = Path(run["checkpoint_dir"]), Path(run["log_dir"])
    on_gpu = torch.cuda.is_available() and not run["cpu"]
    bf16 = run["precision"] == "bf16"

    if run["deepspeed_config"] is not None:
        import deepspeed

        # Initialise deepspeed.comm up front: on CPU the Trainer does not, and ZeRO-3's sharded
        # from_pretrained would then size its batch arithmetic for a world of 1.
        deepspeed.init_distributed(dist_backend="nccl" if on_gpu else "gloo")
    args = TrainingArguments(  # built before the model: under ZeRO-3 from_pretrained then shards at load
        output_dir=str(ckpt_dir), seed=sft["seed"], data_seed=sft["seed"],
        per_device_train_batch_size=sft["micro_batch_size"], per_device_eval_batch_size=sft["micro_batch_size"],
        gradient_accumulation_steps=run["grad_accum"], learning_rate=sft["lr"], weight_decay=sft["weight_decay"],
        max_grad_norm=sft["max_grad_norm"], num_train_epochs=sft["epochs"], max_steps=sft["max_steps"] or -1,
        lr_scheduler_type="cosine", warmup_steps=float(sft["warmup_ratio"]),  # a float < 1 is a ratio
        bf16=bf16, use_cpu=not on_gpu,
        gradient_checkpointing=sft["gradient_checkpointing"], deepspeed=run["deepspeed_config"],
        ddp_backend=None if on_gpu else "gloo",
        # every parameter takes part in every forward pass (a causal LM): DDP need not search the graph for
        # unused ones each step (a parameter that did go unused is DDP's loud error, never a silent one)
        ddp_find_unused_parameters=False,
        # no buffer broadcast before each forward pass: a causal LM's buffers (RoPE's inv_freq) are computed the
        # same on every rank, and each broadcast makes the ranks wait for each other once per micro-batch
        ddp_broadcast_buffers=False, logging_steps=sft["logging_steps"], logging_first_step=True,
        eval_strategy="steps" if run["val_path"] else "no", eval_steps=sft["eval_steps"], eval_on_start=bool(run["val_path"]),
        save_strategy="steps", save_steps=sft["save_steps"], save_total_limit=sft["save_total_limit"],
        report_to=[], disable_tqdm=False, dataloader_num_workers=0, remove_unused_columns=False,
        include_num_input_tokens_seen="no",
    )
    rank, world = args.process_index, args.world_size
    # the node this rank runs on: torchrun says GROUP_RANK, the deepspeed launcher CROSS_RANK (its --node_rank)
    node_rank = int(os.environ.get("GROUP_RANK") or os.environ.get("CROSS_RANK") or 0)

    tokenizer = AutoTokenizer.from_pretrained(run["base_model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(run["base_model"], dtype=torch.bfloat16 if bf16 else torch.float32)
    model.config.use_cache = False  # training: no KV cache, which also lets packing's block mask apply

    train_enc = encode(read_curated(Path(run["train_path"]), sft["max_train_examples"]), tokenizer, sft["max_length"])
    train = SFTDataset(train_enc.examples, sft["max_length"], sft["packing"])
    val = None
    if run["val_path"]:
        val_enc = encode(read_curated(Path(run["val_path"]), sft["max_val_examples"]), tokenizer, sft["max_length"])
        val = SFTDataset(val_enc.examples, sft["max_length"], sft["packing"])

    log_dir.mkdir(parents=True, exist_ok=True)
    rank_log = log_dir / f"rank{rank}.jsonl"

    class SFTTrainer(Trainer):
        seen: list[int] = []
        tokens = 0

        def compute_loss(self, model: Any, inputs: dict[str, Any], *a: Any, **kw: Any) -> Any:
            ids = inputs.pop("example_ids")
            if model.training:
                self.seen.extend(ids)
                self.tokens += inputs.pop("n_tokens")
            else:
                inputs.pop("n_tokens")
            return super().compute_loss(model, inputs, *a, **kw)

    class RankLog(TrainerCallback):
        """Per-rank JSON lines: what this process trained on, and how fast."""

        def __init__(self) -> None:
            self.t = time.perf_counter()

        def _write(self, row: dict[str, Any]) -> None:
            with rank_log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            engine = trainer.model_wrapped if trainer.is_deepspeed_enabled else None
            self._write({"event": "begin", "rank": rank, "world_size": world, "node_rank": node_rank,
                         "step": state.global_step,
                         "engine": type(engine).__name__ if engine is not None else type(trainer.model_wrapped).__name__,
                         "zero_stage": engine.zero_optimization_stage() if engine is not None else None,
                         "device": str(args.device), "dtype": str(next(trainer.model.parameters()).dtype),
                         "threads": torch.get_num_threads(), "allocator": malloc, "train_rows": len(train), "train_tokens": train.tokens(),
                         "too_long": len(train_enc.too_long), "grad_accum": args.gradient_accumulation_steps,
                         "micro_batch": args.per_device_train_batch_size, "max_steps": state.max_steps,
                         "resumed_from": run.get("resume_from")})
            self.t = time.perf_counter()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            logs = logs or {}
            now = time.perf_counter()
            row = {"event": "log", "rank": rank, "step": state.global_step, "epoch": state.epoch}
            if "loss" in logs:
                row |= {"loss": logs["loss"], "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                        "tokens": trainer.tokens, "seconds": now - self.t, "examples": list(trainer.seen)}
                trainer.tokens, trainer.seen[:] = 0, []
                self.t = now
            if "eval_loss" in logs:
                row["val_loss"] = logs["eval_loss"]
            if len(row) > 4:
                self._write(row)

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            _barrier()  # every rank's shard and RNG state is on disk before the folder counts as complete
            if rank == 0:
                marker = ckpt_dir / f"checkpoint-{state.global_step}" / COMPLETE
                marker.write_text(json.dumps({"step": state.global_step}))
                fd = os.open(marker, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            _barrier()

    trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                         data_collator=Collator(tokenizer.pad_token_id, sft["packing"]),
                         processing_class=tokenizer, callbacks=[RankLog()])
    trainer.seen = []
    trainer.train(resume_from_checkpoint=run.get("resume_from"))
    # the last step was evaluated and checkpointed by the Trainer (step-based strategies do both at the end)
    # the steps after the last logged one (logging_steps need not divide the step count): their tokens, and
    # the step and epoch the run really ended at
    RankLog()._write({"event": "end", "rank": rank, "step": trainer.state.global_step, "epoch": trainer.state.epoch,
                      "tokens": trainer.tokens})
    trainer.save_model(run["output_dir"])  # ZeRO-3: gathers the shards (stage3_gather_16bit_weights_on_model_save)
    if rank == 0:
        tokenizer.save_pretrained(run["output_dir"])
    _barrier()
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m abel.training.train RUN.json (written by abel.training.launch)")
    code = main(sys.argv[1])
    # Every file is written and every rank has passed the last barrier and left the process group. Skip the
    # interpreter's finalization: gloo's C++ threads can be torn down there after Python is gone, and a rank
    # then dies with "terminate called without an active exception" (SIGABRT) after a finished run, which
    # fails the whole run (seen once in a compare stage on 2026-11-30; pytorch/pytorch#190489, #179291)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
