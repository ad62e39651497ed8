"""sft.cpu_allocator: which malloc the launcher preloads into CPU ranks, and the errors when it cannot.
(That both allocators train the same weights: tests/training/test_multiprocess.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from abel.config import parse_params
from abel.training import allocator
from abel.training.allocator import AllocatorError, in_use, preload, resolve
from abel.training.launch import PlanError, launch, run_key
from abel.training.launch import plan as make_plan


def test_auto_takes_tcmalloc_only_where_it_is_found_and_the_run_is_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: "/opt/lib/libtcmalloc_minimal.so.4")
    assert resolve("auto", local=True) == resolve("tcmalloc", local=True) == "/opt/lib/libtcmalloc_minimal.so.4"
    assert resolve("system", local=True) is None
    assert resolve("auto", local=False) is None  # a GPU run, a hostfile's nodes, a SLURM job: their own malloc
    with pytest.raises(AllocatorError, match=r"sft.cpu_allocator: tcmalloc is preloaded only into CPU runs .* Use auto or system"):
        resolve("tcmalloc", local=False)

    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    assert resolve("auto", local=True) is None
    with pytest.raises(AllocatorError, match=r"sft.cpu_allocator: tcmalloc, but no libtcmalloc.*apt-get install libtcmalloc-minimal4"):
        resolve("tcmalloc", local=True)


def test_a_missing_tcmalloc_is_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              curated: tuple[Path, Path]) -> None:
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    sft = parse_params({"sft": {"model": "tiny", "processes": 1, "global_batch_size": 4, "cpu_allocator": "tcmalloc"}}).sft
    with pytest.raises(PlanError, match="sft.cpu_allocator: tcmalloc, but no libtcmalloc"):
        launch(sft, tmp_path, *curated, tmp_path / "model", runs_dir=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "model").exists()


def test_the_allocator_is_not_part_of_the_run_key(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    """It decides where tensors live, not their values: a run started under one resumes under the other."""
    keys = set()
    for choice in ("auto", "tcmalloc", "system"):
        sft = parse_params({"sft": {"cpu_allocator": choice}}).sft
        keys.add(run_key(sft, make_plan(sft, tmp_path, gpus=0), *curated))
    assert len(keys) == 1


def test_preload_replaces_tcmalloc_and_keeps_other_preloads() -> None:
    lib = "/usr/lib/libtcmalloc_minimal.so.4"
    assert preload({"A": "1"}, lib) == {"A": "1", "LD_PRELOAD": lib}
    assert preload({"LD_PRELOAD": "/x/libfoo.so /y/libtcmalloc.so.4:/z/libbar.so"}, lib)["LD_PRELOAD"] == \
        f"{lib}:/x/libfoo.so:/z/libbar.so"
    assert preload({"LD_PRELOAD": "/y/libtcmalloc.so.4"}, None, "system") == {}
    assert preload({"LD_PRELOAD": "/y/libtcmalloc.so.4:/x/libfoo.so"}, None, "system") == {"LD_PRELOAD": "/x/libfoo.so"}
    env = {"LD_PRELOAD": "/y/libtcmalloc.so.4"}
    assert preload(env, None, "auto") is env  # auto with nothing found: the caller's own choice stands


def test_in_use_reads_the_process_memory_map() -> None:
    assert in_use() in {"system", "tcmalloc"}
    lib = allocator.find_tcmalloc()
    if lib is None:
        pytest.skip("no tcmalloc installed (apt-get install libtcmalloc-minimal4)")
    code = "from abel.training.allocator import in_use; print(in_use())"
    for env, want in ((preload({}, lib), "tcmalloc"), ({}, "system")):
        out = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", **env}, check=True,
                             capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2] / "src")
        assert out.stdout.strip() == want, out.stderr
