"""Checkpoint evaluation helpers: which checkpoints count, accuracy rows, mixed-kind scoring."""

from __future__ import annotations

from pathlib import Path

from abel.analysis.stats import accuracy_rows
from abel.generation import checkpoints as ck
from abel.modelio import CHECKPOINT_COMPLETE
from abel.scoring.runner import correct_by_kind


def test_only_complete_checkpoints_count(tmp_path: Path) -> None:
    for step, complete in ((4, True), (8, True), (12, False)):
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        if complete:
            (folder / CHECKPOINT_COMPLETE).write_text("")
    (tmp_path / "checkpoints" / "checkpoint-x").mkdir()
    assert [s for s, _ in ck.saved_checkpoints(tmp_path)] == [4, 8]


def test_accuracy_rows_per_step_and_split() -> None:
    rows = accuracy_rows({8: {"train": [True, True, False, True], "test": [False] * 4}}, ci=0.9)
    assert [(r["step"], r["split"], r["n"], r["accuracy"]) for r in rows] == [(8, "train", 4, 0.75), (8, "test", 4, 0.0)]
    assert rows[0]["ci_lo"] <= 0.75 <= rows[0]["ci_hi"] and rows[0]["ci"] == 0.9


def test_mixed_kinds_are_scored_each_with_its_own_kind() -> None:
    rows = [{"response": "#### 12", "gold": "12"}, {"response": "so \\boxed{\\frac{1}{2}}", "gold": "\\frac{1}{2}"},
            {"response": "#### 13", "gold": "12"}]
    assert correct_by_kind(rows, ["numeric", "latex", "numeric"], timeout_s=2.0, workers=1, progress=False) == [
        True, True, False]


def _fake_run(run_dir: Path, steps: tuple[int, ...]) -> None:
    for step in steps:
        folder = run_dir / "checkpoints" / f"checkpoint-{step}"
        (folder / f"global_step{step}").mkdir(parents=True)  # DeepSpeed's optimizer state: not exported
        (folder / f"global_step{step}" / "optim_states.pt").write_bytes(b"o" * 64)
        for name, data in (("config.json", "{}"), ("model.safetensors", f"weights {step}"), ("tokenizer.json", "{}"),
                           ("rng_state_0.pth", "rng"), ("scheduler.pt", "s"), ("training_args.bin", "pickle"),
                           (CHECKPOINT_COMPLETE, "")):
            (folder / name).write_text(data)


def test_exported_checkpoints_hold_model_files_only_and_the_manifest_lists_them(tmp_path: Path) -> None:
    from abel.modelio import export_checkpoints, manifest_checkpoints

    run_dir, dest = tmp_path / "checkpoints/sft/0123456789abcdef", tmp_path / "models/sft_checkpoints"
    _fake_run(run_dir, (4, 8))
    dest.mkdir(parents=True)
    (dest / "step-000002").mkdir()  # a previous run's: replaced whole
    manifest = export_checkpoints(run_dir, dest, tmp_path)
    assert manifest["run_dir"] == "checkpoints/sft/0123456789abcdef"
    assert sorted(p.name for p in dest.iterdir()) == ["step-000004", "step-000008"]
    assert sorted(p.name for p in (dest / "step-000004").iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert [(e["step"], e["folder"]) for e in manifest["checkpoints"]] == [
        (4, "models/sft_checkpoints/step-000004"), (8, "models/sft_checkpoints/step-000008")]
    assert manifest["checkpoints"][0]["files"]["model.safetensors"]["size"] == len("weights 4")
    assert manifest_checkpoints(manifest, tmp_path, verify=True) == [(4, dest / "step-000004"), (8, dest / "step-000008")]
    assert ck.listed_checkpoints(manifest, tmp_path) == [(4, dest / "step-000004"), (8, dest / "step-000008")]


def test_a_listed_checkpoint_missing_is_an_error_naming_dvc_pull_never_a_shorter_curve(tmp_path: Path) -> None:
    import pytest

    from abel.modelio import MissingCheckpoint, export_checkpoints, manifest_checkpoints

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
    import shutil
    shutil.rmtree(dest)
    with pytest.raises(MissingCheckpoint, match="dvc pull models/sft_checkpoints"):
        ck.listed_checkpoints(manifest, tmp_path)
    with pytest.raises(MissingCheckpoint, match="lists no checkpoint"):
        manifest_checkpoints({"checkpoints": []}, tmp_path)
