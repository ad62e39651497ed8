"""Which ``malloc`` a CPU run's ranks use (``sft.cpu_allocator``): tcmalloc when it is installed, or the C library's.

Why: a CPU training step allocates and frees tensors larger than glibc's largest heap chunk (32 MB; SmolLM2's
logits are 75 MB a row, its embedding gradient 113 MB), so glibc maps fresh pages for them every micro-batch
and the kernel zeroes each page on first touch. tcmalloc keeps freed memory and reuses it.
``benchmarks/training_speed.py`` prints the page faults per step and the share of CPU time spent in the
kernel under either (``--allocator``), and the stage's tokens/s; ``benchmarks/README.md`` has the numbers.
It moves no number: where a tensor lives is not what is added to what, and PyTorch aligns every CPU buffer
to 64 bytes under either allocator (tests/training/test_multiprocess.py trains the same run under both and
compares the weights bit for bit).

It is preloaded (``LD_PRELOAD``) into the CPU processes the launcher starts on this machine; GPU runs and
runs that start their ranks elsewhere (a multi-node hostfile's nodes, a SLURM job) use their own allocator.
``in_use`` names every known malloc loaded, not which one serves ``malloc`` when a user preloads two; the
launcher always puts tcmalloc first. Each rank logs
the allocator it really got (``allocator`` in its begin event), read from its own memory map, and a rank
of a run that requires tcmalloc stops if it did not get it.
"""

from __future__ import annotations

import ctypes.util
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
    """A tcmalloc shared library for ``LD_PRELOAD``: this Python's own environment first (a conda env, or the
    conda a virtualenv was made from: ``sys.prefix``, ``sys.base_prefix``; another activated conda's would
    bring its own libstdc++ along), then what the dynamic linker's cache knows (``ctypes.util.find_library``).
    None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
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


# what `in_use` recognises, by library file name; anything else mapped is the C library's malloc
KNOWN = ("tcmalloc", "jemalloc", "mimalloc")
# tcmalloc writes a "large alloc" line to stderr for every allocation over 1 GiB by default: not worth a log line
QUIET = {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)}


def _malloc_of(entry: str) -> str | None:
    name = Path(entry).name
    return next((m for m in KNOWN if name.startswith(f"lib{m}")), None)


def preload(env: dict[str, str], lib: str | None, choice: str = "auto") -> dict[str, str]:
    """``env`` for the ranks of ``sft.cpu_allocator: choice``, ``lib`` being what ``resolve`` gave.

    ``lib`` goes first in ``LD_PRELOAD``, in place of any tcmalloc already there; under auto, a malloc the
    user preloads already (jemalloc, mimalloc) stands instead. ``system`` takes every tcmalloc out. Other
    preloads stay, in their order."""
    entries = [p for p in env.get("LD_PRELOAD", "").replace(" ", ":").split(":") if p]
    if choice == "auto" and any(_malloc_of(p) not in (None, "tcmalloc") for p in entries):
        return env
    if lib is None and choice != "system":
        return env
    rest = [p for p in entries if _malloc_of(p) != "tcmalloc"]
    out = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    if lib is not None:
        rest.insert(0, lib)
        out = {**QUIET, **out}
    if rest:
        out["LD_PRELOAD"] = ":".join(rest)
    return out


def in_use() -> str:
    """The malloc this process runs with, from the libraries mapped into it: tcmalloc, jemalloc or mimalloc
    (several joined by "+", in that order, when more than one is loaded), else system; unknown where there
    is no ``/proc/self/maps``."""
    try:
        maps = Path("/proc/self/maps").read_text(errors="replace")
    except OSError:
        return "unknown"
    mapped = {_malloc_of(line.rsplit(None, 1)[-1]) for line in maps.splitlines() if "/lib" in line}
    found = [m for m in KNOWN if m in mapped]
    return "+".join(found) if found else "system"
