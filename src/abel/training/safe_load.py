"""Checkpoints are untrusted input: nothing in one is unpickled unless it is plain data.

A checkpoint may come from another machine (a DVC remote, a colleague's folder). DeepSpeed and
transformers load its ``.pt`` / ``.pth`` files with ``torch.load``, DeepSpeed with
``weights_only=False``, which runs any code a planted pickle names. Before a run resumes,
``verify_checkpoint`` scans every pickle-based file of the checkpoint without unpickling it
(``torch.serialization.get_unsafe_globals_in_checkpoint`` reads the opcodes only) and refuses one
that names anything outside ``SAFE_GLOBALS``: the few plain-data classes real DeepSpeed ZeRO and
transformers checkpoints hold. ``enforce_weights_only`` then makes every ``torch.load`` in the
process use ``weights_only=True`` with that allowlist (``TORCH_FORCE_WEIGHTS_ONLY_LOAD``), whatever
its caller asked for. ``training_args.bin`` (a pickled ``TrainingArguments``) is never loaded on
resume and is not scanned.
"""

from __future__ import annotations

import os
from pathlib import Path

# module.qualname of every global a resumable checkpoint may name (see the module docstring)
SAFE_GLOBALS = (
    "deepspeed.runtime.zero.config.ZeroStageEnum",
    "deepspeed.utils.tensor_fragment.fragment_address",
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "numpy._core.multiarray._reconstruct",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.dtypes.UInt32DType",
)
NEVER_LOADED = ("training_args.bin",)
PICKLE_SUFFIXES = (".pt", ".pth", ".bin")


class UntrustedCheckpoint(RuntimeError):
    """A checkpoint file names code to run when unpickled; the message names the file."""


def verify_checkpoint(folder: Path) -> list[Path]:
    """Every pickle-based file under ``folder`` names only ``SAFE_GLOBALS``; returns the files checked."""
    from torch.serialization import get_unsafe_globals_in_checkpoint

    checked = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in PICKLE_SUFFIXES):
        if path.name in NEVER_LOADED:
            continue
        try:
            names = get_unsafe_globals_in_checkpoint(str(path))
        except Exception as exc:  # not a torch zip archive, truncated, ...
            raise UntrustedCheckpoint(f"{path}: not a readable torch checkpoint file ({type(exc).__name__}: {exc}); "
                                      "refusing to resume from it") from None
        unsafe = sorted(set(names) - set(SAFE_GLOBALS))
        if unsafe:
            raise UntrustedCheckpoint(
                f"{path} names {', '.join(unsafe)}: loading it could run code, so this run will not resume "
                f"from {folder}. Delete that checkpoint (training restarts from the previous one, if that one still holds its "
                f"resume state) or the run "
                "folder, if it did not come from a run you trust.")
        checked.append(path)
    return checked


def enforce_weights_only() -> None:
    """Every later ``torch.load`` in this process: ``weights_only=True``, ``SAFE_GLOBALS`` allowed."""
    import importlib

    import torch

    classes = []
    for name in SAFE_GLOBALS:
        module, _, attr = name.rpartition(".")
        try:
            classes.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError):
            continue  # a library version without it cannot have written it either
    torch.serialization.add_safe_globals(classes)
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
