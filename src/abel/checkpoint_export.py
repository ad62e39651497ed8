"""SFT checkpoints as DVC outputs: the sft stage exports them, the overfit stage reads them.

The training run keeps its complete checkpoints (weights, optimizer and scheduler state, RNG: the
resume state, GBs) in ``checkpoints/sft/<run key>/checkpoints/checkpoint-<step>/``, outside git and DVC.
The sft stage exports each complete one, model files only, to ``models/sft_checkpoints/step-<step>/``
(a DVC output: a stable path whatever the run key), lists them with sizes and sha256 in
``metrics/sft/checkpoints.json`` (kept in git), and trims the resume state no re-run can use. The
overfit stage reads that list and those folders only.

Not in the training run key (``abel.training.launch.RUN_CODE``): editing this never retrains.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from abel.io import relative_to_root, replace_dir, sha256_file
from abel.modelio import complete_checkpoints

CHECKPOINT_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
                    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                    "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", "trainer_state.json")
_SHARD = re.compile(r"model-\d+-of-\d+\.safetensors")


class MissingCheckpoint(FileNotFoundError):
    """A checkpoint the manifest lists is not in the workspace (or not the bytes it lists)."""


def checkpoint_folder_name(step: int) -> str:
    return f"step-{step:06d}"


def export_checkpoints(run_dir: Path, dest: Path, root: Path) -> dict[str, Any]:
    """Hard-link (else copy) the model files of every complete checkpoint of ``run_dir`` into ``dest/step-<step>/``
    (replacing ``dest`` whole, atomically) and return the manifest: run folder, and per step its
    folder (relative to ``root``) and each file's size and sha256."""
    steps = []
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for step, src in complete_checkpoints(run_dir / "checkpoints"):
        if not (src / "config.json").is_file():
            continue
        out = tmp / checkpoint_folder_name(step)
        out.mkdir()
        files = {}
        for path in sorted(src.iterdir()):
            if path.is_file() and not path.is_symlink() and (path.name in CHECKPOINT_FILES or _SHARD.fullmatch(path.name)):
                try:  # the run never rewrites a saved checkpoint's files: a hard link costs no copying time
                    os.link(path, out / path.name)  # (DVC then replaces it with a copy from its cache)
                except OSError:  # another filesystem, or links not supported
                    shutil.copyfile(path, out / path.name)
                files[path.name] = {"size": path.stat().st_size, "sha256": sha256_file(out / path.name)}
        if not ("model.safetensors" in files or any(_SHARD.fullmatch(name) for name in files)):
            shutil.rmtree(tmp, ignore_errors=True)
            raise MissingCheckpoint(f"{src} holds no safetensors weights (model.safetensors or model-*-of-*.safetensors) "
                                    f"to export: the overfit stage could not load it")
        steps.append({"step": step, "folder": (dest / out.name).relative_to(root).as_posix(), "files": files})
    replace_dir(tmp, dest)
    return {"run_dir": relative_to_root(run_dir, root), "checkpoints": steps}


def manifest_checkpoints(manifest: dict[str, Any], root: Path, verify: bool = False) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint the manifest lists, by step; ``MissingCheckpoint`` (saying
    how to get it) if any file is absent or of another size (or, with ``verify``, another sha256)."""
    out = []
    for entry in sorted(manifest["checkpoints"], key=lambda e: e["step"]):
        folder = root / entry["folder"]
        for name, want in entry["files"].items():
            path = folder / name
            got = path.stat().st_size if path.is_file() else None
            if got != want["size"] or (verify and sha256_file(path) != want["sha256"]):
                what = "missing" if got is None else f"{got} bytes, not the {want['size']} listed" if got != want["size"] \
                    else "not the bytes listed (sha256)"
                raise MissingCheckpoint(
                    f"SFT checkpoint at step {entry['step']}: {entry['folder']}/{name} is {what}. The manifest "
                    f"lists {len(manifest['checkpoints'])} checkpoint(s); fetch them with `dvc pull models/sft_checkpoints` "
                    f"(or re-run the sft stage, `dvc repro -f sft`: it resumes its run folder if this machine has it, "
                    f"else trains again from the start)")
        out.append((int(entry["step"]), folder))
    if not out:
        raise MissingCheckpoint("the SFT checkpoint manifest lists no checkpoint: the run saved none. Checkpoints are "
                                "saved every sft.save_steps optimizer steps and at the end; re-run the sft stage")
    return out


# what a checkpoint holds only to resume training from it: DeepSpeed's engine state (global_step*/), or
# the plain Trainer's optimizer, LR scheduler, grad scaler and RNG states
RESUME_STATE = ("global_step*", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth")


def has_resume_state(checkpoint: Path) -> bool:
    """Whether training can resume from ``checkpoint``: it still holds DeepSpeed's engine state or the
    Trainer's optimizer state (``trim_resume_state`` removes both from superseded checkpoints)."""
    return any(p.is_dir() for p in checkpoint.glob("global_step*")) or (checkpoint / "optimizer.pt").is_file()


def trim_resume_state(run_dir: Path) -> int:
    """Remove the resume state (``RESUME_STATE``: optimizer and engine state, GBs at 135M) from every
    complete checkpoint of ``run_dir`` but the newest, which is the only one a re-run resumes from
    (``abel.training.launch.prepare_resume``); their model files stay. Returns the bytes freed. Run by
    the sft stage once the run is complete and its checkpoints are exported."""
    freed = 0
    for _, path in complete_checkpoints(run_dir / "checkpoints")[:-1]:
        for pattern in RESUME_STATE:
            for state in sorted(path.glob(pattern)):
                if state.is_symlink() or not (state.is_dir() or state.is_file()):
                    continue
                if state.is_dir():
                    freed += sum(f.stat().st_size for f in state.rglob("*") if f.is_file() and not f.is_symlink())
                    shutil.rmtree(state)
                else:
                    freed += state.stat().st_size
                    state.unlink()
    return freed
