"""SFT checkpoints as DVC outputs: the export the sft stage writes, the manifest the overfit stage reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from abel.checkpoint_export import MissingCheckpoint, export_checkpoints, manifest_checkpoints, trim_resume_state
from abel.modelio import CHECKPOINT_COMPLETE, complete_checkpoints


def _fake_run(run_dir: Path, steps: tuple[int, ...], complete: tuple[int, ...] | None = None) -> None:
    for step in steps:
        folder = run_dir / "checkpoints" / f"checkpoint-{step}"
        (folder / f"global_step{step}").mkdir(parents=True)  # DeepSpeed's resume state: never exported
        (folder / f"global_step{step}" / "optim_states.pt").write_bytes(b"o" * 64)
        for name, data in (("config.json", "{}"), ("model.safetensors", f"weights {step}"), ("tokenizer.json", "{}"),
                           ("rng_state_0.pth", "rng"), ("scheduler.pt", "s"), ("optimizer.pt", "adam" * 8),
                           ("training_args.bin", "pickle"), ("trainer_state.json", "{}")):
            (folder / name).write_text(data)
        if complete is None or step in complete:
            (folder / CHECKPOINT_COMPLETE).write_text("")


def test_exported_checkpoints_hold_model_files_only_and_the_manifest_lists_them(tmp_path: Path) -> None:
    run_dir, dest = tmp_path / "checkpoints/sft/0123456789abcdef", tmp_path / "models/sft_checkpoints"
    _fake_run(run_dir, (4, 8, 12), complete=(4, 8))  # 12: killed mid-save, never exported
    (run_dir / "checkpoints" / "checkpoint-x").mkdir()
    dest.mkdir(parents=True)
    (dest / "step-000002").mkdir()  # a previous run's: replaced whole
    manifest = export_checkpoints(run_dir, dest, tmp_path)
    assert manifest["run_dir"] == "checkpoints/sft/0123456789abcdef"
    assert sorted(p.name for p in dest.iterdir()) == ["step-000004", "step-000008"]
    assert sorted(p.name for p in (dest / "step-000004").iterdir()) == ["config.json", "model.safetensors", "tokenizer.json",
                                                                    "trainer_state.json"]
    assert [(e["step"], e["folder"]) for e in manifest["checkpoints"]] == [
        (4, "models/sft_checkpoints/step-000004"), (8, "models/sft_checkpoints/step-000008")]
    assert manifest["checkpoints"][0]["files"]["model.safetensors"]["size"] == len("weights 4")
    assert manifest_checkpoints(manifest, tmp_path, verify=True) == [(4, dest / "step-000004"), (8, dest / "step-000008")]
    assert not list(tmp_path.glob("models/*.tmp")) and not list(tmp_path.glob("models/*.old"))


def test_a_listed_checkpoint_missing_is_an_error_naming_dvc_pull_never_a_shorter_curve(tmp_path: Path) -> None:
    run_dir, dest = tmp_path / "run", tmp_path / "models/sft_checkpoints"
    _fake_run(run_dir, (4, 8))
    manifest = export_checkpoints(run_dir, dest, tmp_path)
    (dest / "step-000004" / "model.safetensors").unlink()
    with pytest.raises(MissingCheckpoint, match=r"step 4: models/sft_checkpoints/step-000004/model.safetensors is missing.*dvc pull"):
        manifest_checkpoints(manifest, tmp_path)
    (dest / "step-000004" / "model.safetensors").write_text("weights 5")  # same size, other bytes
    assert manifest_checkpoints(manifest, tmp_path)[0][0] == 4
    with pytest.raises(MissingCheckpoint, match="sha256"):
        manifest_checkpoints(manifest, tmp_path, verify=True)
    (dest / "step-000004" / "model.safetensors").write_text("weights 44")
    with pytest.raises(MissingCheckpoint, match="10 bytes, not the 9 listed"):
        manifest_checkpoints(manifest, tmp_path)
    shutil.rmtree(dest)
    with pytest.raises(MissingCheckpoint, match="dvc pull models/sft_checkpoints"):
        manifest_checkpoints(manifest, tmp_path)
    with pytest.raises(MissingCheckpoint, match="lists no checkpoint"):
        manifest_checkpoints({"checkpoints": []}, tmp_path)


def test_trimming_keeps_the_newest_checkpoints_resume_state_and_every_checkpoints_model(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _fake_run(run_dir, (4, 8, 12))
    # DeepSpeed's global_step*/ (64 bytes here) and the plain Trainer's optimizer (32), scheduler (1), RNG (3)
    assert trim_resume_state(run_dir) == 2 * (64 + 32 + 1 + 3)
    ckpts = run_dir / "checkpoints"
    assert [p.name for p in sorted(ckpts.glob("checkpoint-*/global_step*"))] == ["global_step12"]
    assert sorted(p.name for p in (ckpts / "checkpoint-4").iterdir()) == [
        CHECKPOINT_COMPLETE, "config.json", "model.safetensors", "tokenizer.json", "trainer_state.json", "training_args.bin"]
    assert {"optimizer.pt", "scheduler.pt", "rng_state_0.pth"} <= {p.name for p in (ckpts / "checkpoint-12").iterdir()}
    assert all((ckpts / f"checkpoint-{s}" / "model.safetensors").is_file() for s in (4, 8, 12))
    assert trim_resume_state(run_dir) == 0  # nothing left to trim
    # what a re-run resumes from (the newest complete one) is whole; the export still finds every checkpoint
    assert complete_checkpoints(ckpts)[-1] == (12, ckpts / "checkpoint-12")
    assert (ckpts / "checkpoint-12" / "global_step12" / "optim_states.pt").is_file()
    assert [e["step"] for e in export_checkpoints(run_dir, tmp_path / "out", tmp_path)["checkpoints"]] == [4, 8, 12]


def test_the_export_copies_where_hard_links_fail_and_never_follows_a_symlink(tmp_path: Path, monkeypatch) -> None:
    import os

    run_dir = tmp_path / "run"
    _fake_run(run_dir, (4,))
    (run_dir / "checkpoints/checkpoint-4/tokenizer.json").unlink()
    (run_dir / "checkpoints/checkpoint-4/tokenizer.json").symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text("not the run's")
    linked = export_checkpoints(run_dir, tmp_path / "a", tmp_path)
    assert os.path.samefile(tmp_path / "a/step-000004/model.safetensors", run_dir / "checkpoints/checkpoint-4/model.safetensors")
    assert "tokenizer.json" not in linked["checkpoints"][0]["files"]

    def no_links(*_: object, **__: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    copied = export_checkpoints(run_dir, tmp_path / "b", tmp_path)
    out = tmp_path / "b/step-000004/model.safetensors"
    assert out.read_text() == "weights 4" and not os.path.samefile(out, run_dir / "checkpoints/checkpoint-4/model.safetensors")
    assert [f for f in copied["checkpoints"][0]["files"]] == [f for f in linked["checkpoints"][0]["files"]]


def test_a_run_never_resumes_from_a_trimmed_checkpoint(tmp_path: Path) -> None:
    from abel.checkpoint_export import has_resume_state
    from abel.io import InputError
    from abel.training.launch import prepare_resume

    run_dir = tmp_path / "run"
    _fake_run(run_dir, (4, 8))
    trim_resume_state(run_dir)
    ckpts = run_dir / "checkpoints"
    assert not has_resume_state(ckpts / "checkpoint-4") and has_resume_state(ckpts / "checkpoint-8")
    shutil.rmtree(ckpts / "checkpoint-8")  # e.g. deleted by hand: the one left has model files only
    # the Trainer would skip the missing optimizer and scheduler files and go on with fresh ones: other weights,
    # no error. The launcher refuses instead, naming the fix
    with pytest.raises(InputError, match=r"checkpoint-4 holds model files only.*Delete the run folder"):
        prepare_resume(ckpts, run_dir / "logs")
    (ckpts / "checkpoint-4" / "optimizer.pt").write_bytes(b"")  # plain-Trainer resume state is enough to try
    assert has_resume_state(ckpts / "checkpoint-4")
