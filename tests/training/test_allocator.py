"""sft.cpu_allocator: which malloc the launcher preloads into CPU ranks, and the errors when it cannot.
(That both allocators train the same weights: tests/training/test_multiprocess.py.)"""

from __future__ import annotations

import ctypes.util
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
        launch(sft, tmp_path, *curated, tmp_path / "model", runs_dir=tmp_path / "runs", gpus=0, progress=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "model").exists()


def test_the_allocator_is_not_part_of_the_run_key(tmp_path: Path, curated: tuple[Path, Path]) -> None:
    """It decides where tensors live, not their values: a run started under one resumes under the other."""
    keys = set()
    for choice in ("auto", "tcmalloc", "system"):
        sft = parse_params({"sft": {"cpu_allocator": choice}}).sft
        keys.add(run_key(sft, make_plan(sft, tmp_path, gpus=0), *curated))
    assert len(keys) == 1


def test_find_tcmalloc_looks_in_this_pythons_prefix_then_the_linker_cache(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    asked = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: asked.append(name) or None)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path / "conda"))
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "other-conda"))  # not this Python's: never searched
    (tmp_path / "other-conda" / "lib").mkdir(parents=True)
    (tmp_path / "other-conda" / "lib" / "libtcmalloc.so.4").touch()
    assert allocator.find_tcmalloc() is None and asked == ["tcmalloc_minimal", "tcmalloc"]
    (tmp_path / "conda" / "lib").mkdir(parents=True)
    (tmp_path / "conda" / "lib" / "libtcmalloc.so.4").touch()
    assert allocator.find_tcmalloc() == str(tmp_path / "conda" / "lib" / "libtcmalloc.so.4")
    (tmp_path / "conda" / "lib" / "libtcmalloc_minimal.so.4").touch()  # the minimal build first
    assert allocator.find_tcmalloc() == str(tmp_path / "conda" / "lib" / "libtcmalloc_minimal.so.4")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.4")
    (tmp_path / "conda" / "lib" / "libtcmalloc_minimal.so.4").unlink()
    (tmp_path / "conda" / "lib" / "libtcmalloc.so.4").unlink()
    assert allocator.find_tcmalloc() == "libtcmalloc_minimal.so.4"  # a soname: ld.so finds it on its own paths
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator.find_tcmalloc() is None


def test_preload_replaces_tcmalloc_and_keeps_other_preloads() -> None:
    lib = "/usr/lib/libtcmalloc_minimal.so.4"
    assert preload({"A": "1"}, lib) == {"A": "1", "LD_PRELOAD": lib, "TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": "1099511627776"}
    assert preload({"LD_PRELOAD": "/x/libfoo.so /y/libtcmalloc.so.4:/z/libbar.so"}, lib)["LD_PRELOAD"] == \
        f"{lib}:/x/libfoo.so:/z/libbar.so"
    jemalloc = {"LD_PRELOAD": "/j/libjemalloc.so.2"}
    assert preload(jemalloc, lib, "auto") is jemalloc  # the user's own malloc stands under auto
    assert preload(jemalloc, lib, "tcmalloc")["LD_PRELOAD"] == f"{lib}:/j/libjemalloc.so.2"  # asked for: first
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
    jemalloc = ctypes.util.find_library("jemalloc")
    cases = [(preload({}, lib), "tcmalloc"), ({}, "system")]
    if jemalloc:
        cases.append(({"LD_PRELOAD": jemalloc}, "jemalloc"))
    for env, want in cases:
        out = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", **env}, check=True,
                             capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2] / "src")
        assert out.stdout.strip() == want, out.stderr


@pytest.mark.slow
def test_a_rank_that_did_not_get_the_required_tcmalloc_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             curated: tuple[Path, Path]) -> None:
    """sft.cpu_allocator: tcmalloc and a library the dynamic linker cannot load (it says so and goes on without
    it): the rank sees its own malloc is not tcmalloc and stops before training, naming both."""
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: str(tmp_path / "libtcmalloc_minimal.so.4"))
    sft = parse_params({"sft": {"model": "tiny", "processes": 1, "global_batch_size": 4, "micro_batch_size": 4,
                                "max_steps": 2, "max_train_examples": 16, "max_val_examples": 4,
                                "cpu_allocator": "tcmalloc"}}).sft
    with pytest.raises(RuntimeError, match=r"(?s)cannot be preloaded.*sft.cpu_allocator: tcmalloc, but this rank runs "
                                           r"with system malloc"):
        launch(sft, Path(__file__).resolve().parents[2], *curated, tmp_path / "model", runs_dir=tmp_path / "runs",
               gpus=0, progress=False)
    assert not (tmp_path / "model").exists()
