"""Which ``malloc`` a CPU run's ranks use (``sft.cpu_allocator``): tcmalloc when it is installed, or the C library's.

Why: a CPU training step allocates and frees tensors larger than glibc's largest heap chunk (SmolLM2's
logits and its embedding gradient are 75-113 MB), so glibc maps fresh pages for them every micro-batch
and the kernel zeroes each page on first touch: 2.3M page faults in 16 micro-batches of SmolLM2 here, 7%
of the CPU time in the kernel. tcmalloc keeps freed memory and reuses it (0.2M faults, under 1% in the
kernel). It moves no number: where a tensor lives is not what is added to what, and PyTorch aligns every
CPU buffer to 64 bytes under either allocator (tests/training/test_multiprocess.py trains the same run
under both and compares the weights bit for bit). ``benchmarks/training_speed.py`` measures both.

It is preloaded (``LD_PRELOAD``) into the processes the launcher starts on this machine; runs that start
their ranks elsewhere (a hostfile's nodes, a SLURM job) use those machines' own allocator. Each rank logs
the allocator it really got (``allocator`` in its begin event), read from its own memory map.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

# Debian/Ubuntu: libtcmalloc-minimal4 (Ubuntu 24.04: libtcmalloc-minimal4t64); Fedora: gperftools-libs;
# conda: gperftools. The "minimal" build is tcmalloc without the heap profiler; either serves.
NAMES = ("tcmalloc_minimal", "tcmalloc")
INSTALL_HINT = ("apt-get install libtcmalloc-minimal4 (Ubuntu 24.04: libtcmalloc-minimal4t64), "
                "dnf install gperftools-libs, or conda install gperftools")


class AllocatorError(ValueError):
    """``sft.cpu_allocator: tcmalloc`` where tcmalloc cannot be used."""


def find_tcmalloc() -> str | None:
    """A tcmalloc shared library for ``LD_PRELOAD``: the active environment's own lib folder first (conda,
    a virtualenv), then what the dynamic linker's cache knows (``ctypes.util.find_library``). None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    for prefix in dict.fromkeys(p for p in (os.environ.get("CONDA_PREFIX"), os.environ.get("VIRTUAL_ENV"), sys.prefix) if p):
        for name in NAMES:
            found = sorted(Path(prefix, "lib").glob(f"lib{name}.so*"))
            if found:
                return str(found[0])
    for name in NAMES:
        found = ctypes.util.find_library(name)  # a soname such as libtcmalloc_minimal.so.4: ld.so searches its own paths
        if found:
            return found
    return None


def resolve(choice: str, local: bool) -> str | None:
    """The library to preload for ``sft.cpu_allocator: choice``, or None for the C library's malloc.

    ``local``: the launcher starts the ranks on this machine (one node, CPU). ``auto`` takes tcmalloc when it
    is there and the run is local; ``tcmalloc`` insists, with an error that says what to install or change."""
    if choice == "system":
        return None
    if choice not in ("auto", "tcmalloc"):
        raise AllocatorError(f"sft.cpu_allocator: {choice!r} is not one of auto, tcmalloc, system")
    if not local:
        if choice == "tcmalloc":
            raise AllocatorError("sft.cpu_allocator: tcmalloc is preloaded only into CPU runs whose ranks start on this "
                                 "machine (one node, no GPU); a GPU run, a hostfile's nodes or a SLURM job use their "
                                 "own allocator. Use auto or system.")
        return None
    lib = find_tcmalloc()
    if lib is None and choice == "tcmalloc":
        raise AllocatorError(f"sft.cpu_allocator: tcmalloc, but no libtcmalloc_minimal or libtcmalloc was found "
                             f"({INSTALL_HINT}); or use auto (tcmalloc when installed, else the C library's malloc)")
    return lib


def preload(env: dict[str, str], lib: str | None, choice: str = "auto") -> dict[str, str]:
    """``env`` for the ranks: ``lib`` first in ``LD_PRELOAD``, in place of any tcmalloc already there; with
    ``choice`` system, no tcmalloc at all. Other preloads stay, in their order."""
    entries = [p for p in env.get("LD_PRELOAD", "").replace(" ", ":").split(":") if p]
    if lib is None and choice != "system":
        return env
    rest = [p for p in entries if "libtcmalloc" not in Path(p).name]
    out = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    if lib is not None or rest:
        out["LD_PRELOAD"] = ":".join([lib, *rest] if lib is not None else rest)
    return out


def in_use() -> str:
    """The allocator this process runs with: tcmalloc if a tcmalloc library is mapped into it, else system
    (unknown where there is no ``/proc/self/maps``)."""
    try:
        maps = Path("/proc/self/maps").read_text(errors="replace")
    except OSError:
        return "unknown"
    return "tcmalloc" if "/libtcmalloc" in maps else "system"
