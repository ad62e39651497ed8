"""Every configured benchmark through one backend, resumable, in Abel's schema (the ``generate``
stage and ``abel eval`` both run this).

Work goes to ``checkpoints/generate/<run key>/`` (kept across a kill; the key hashes the
``generate`` params, the model's files, the generation code, the registry entries, the questions
asked, and for the vllm backend its environment's lock), and finished files are then
published to ``outputs/generations/<benchmark>.jsonl`` with each row's gold, answer kind and tags
joined in, so the score stage treats them like Abel's released files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from abel.config import Params
from abel.data import registry
from abel.fingerprint import Code, fingerprint
from abel.generation import runner, vllm_engine
from abel.generation.backends import Generate, backend, resolve_model
from abel.io import read_jsonl, write_jsonl
from abel.procs import work_lock


def model_fingerprint(spec: str, root: Path) -> str:
    """Content hash of a local model (its files, or its GGUF file), or the spec itself for a hub id."""
    try:
        where, gguf = resolve_model(spec, root)
    except Exception:  # noqa: BLE001 - reported properly when the backend loads it
        return spec
    folder = Path(where)
    model = folder / gguf if gguf else folder
    return fingerprint(spec, model) if model.exists() else spec


def run_key(params: Params, root: Path, items: dict[str, list[registry.Item]]) -> str:
    """Work files are reused only by a run with the same generate params, model, generation code,
    benchmark definitions and questions asked (ids and prompts: another copy of the data, or another
    subset, is another run, never a resume of this one)."""
    asked = {name: [(it.id, it.prompt) for it in its] for name, its in sorted(items.items())}
    engine = vllm_engine.pins() if params.generate.backend == "vllm" else "hf (the main environment's, in the lock file)"
    return fingerprint(params.generate, model_fingerprint(params.generate.model, root), Code("abel.generation", "abel.modelio"),
                       *(registry.get(name) for name in sorted(params.generate.benchmarks)), asked, engine, device())


def device() -> dict[str, str]:
    """Where the rows are generated, and in what precision (``precision: auto`` differs by device):
    a killed run resumed on another kind of machine starts over instead of mixing rows."""
    import torch

    gpu = torch.cuda.is_available()
    return {"device": "cuda" if gpu else "cpu"}


def generate_benchmarks(params: Params, root: Path, out_dir: Path, work_root: Path, *, progress: bool = True,
                        generate: Generate | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every benchmark of ``params.generate`` through its backend (resumable in ``work_root/<run key>/``),
    published to ``out_dir/<benchmark>.jsonl``; returns (summary, run facts: responses generated now per benchmark
    and in all, and seconds). What the stage and
    ``abel eval`` share: neither metrics nor provenance are written here."""
    gp = params.generate
    data_dir = params.data_dir(root)
    items = {name: registry.load(name, data_dir, limit or None, gp.seed) for name, limit in gp.benchmarks.items()}
    work = work_root / run_key(params, root, items)
    with work_lock(work):  # two runs never load a model for, or append to, the same work files
        info: dict[str, Any] = {}
        close = None
        if generate is None:  # a backend started here is ended here (the vLLM worker process)
            generate, info = backend(gp, root)
            close = getattr(generate, "close", None)
        summary: dict[str, Any] = {"profile": params.profile, "model": gp.model, **info, "samples": gp.samples,
                                   "temperature": gp.temperature, "max_new_tokens": gp.max_new_tokens, "benchmarks": {}}
        try:
            if (check := getattr(generate, "check", None)) is not None:  # every prompt fits, before any row is written
                check([it.prompt for its in items.values() for it in its])
            facts = _generate_all(params, root, items, work, generate, out_dir, summary, progress)
        finally:
            if close is not None:
                close()
    return summary, facts


def _generate_all(params: Params, root: Path, items: dict[str, Any], work: Path, generate: Generate, out_dir: Path,
                  summary: dict[str, Any], progress: bool) -> dict[str, Any]:
    """Generate every benchmark's missing rows (in shared requests across benchmarks: ``runner.run_files``),
    then publish each; fill ``summary`` (results) and return the run's facts (responses generated now rather
    than resumed, per benchmark and in all, and the seconds generation took)."""
    gp = params.generate
    start = time.perf_counter()
    new = runner.run_files({work / f"{name}.jsonl": [{"id": it.id, "prompt": it.prompt} for it in its]
                            for name, its in items.items()}, generate, samples=gp.samples, batch_size=gp.batch_size,
                           progress=progress)
    elapsed = time.perf_counter() - start
    for name, its in items.items():
        rows = read_jsonl(work / f"{name}.jsonl", required=("id", "sample", "prompt", "response"))
        by_id = {it.id: it for it in its}
        order = {rid: i for i, rid in enumerate(by_id)}
        rows.sort(key=lambda r: (order[r["id"]], r["sample"]))
        write_jsonl(out_dir / f"{name}.jsonl",
                    ({**r, "gold": by_id[r["id"]].gold, "kind": by_id[r["id"]].kind, "tags": by_id[r["id"]].tags}
                     for r in rows))
        summary["benchmarks"][name] = {"questions": len(its), "responses": len(rows),
                                       "mean_response_chars": round(sum(len(r["response"]) for r in rows) / max(1, len(rows)), 1)}
    return {"benchmarks": {name: {"generated_now": new[work / f"{name}.jsonl"]} for name in items},
            "generated_now": sum(new.values()), "seconds": round(elapsed, 1)}
