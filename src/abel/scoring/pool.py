"""Time-limited, memory-capped worker processes for the sympy paths.

Every answer that needs sympy (abel mode) or math-verify (strict LaTeX) runs in a worker process
(pebble ``ProcessPool``, spawn context). The limit per answer is **CPU time**, not wall time, so a
verdict does not depend on how busy the machine is. Before each task the worker arms two CPU-time
timers: ``ITIMER_PROF`` at the limit, whose handler raises inside the task (the worker survives,
the answer counts as a timeout), and ``ITIMER_VIRTUAL`` at the limit + ``HARD_GRACE_S`` with
``SIGVTALRM`` at its default action, so the kernel ends a worker stuck in one long C call that
never returns to Python; pebble replaces it and the answer is a timeout too. ``9^{9^{9}}`` or
``1000000!`` cost at most the limit and never stall a run. A wall-clock backstop
(``WALL_FACTOR`` x the limit + ``WALL_GRACE_S``) only catches a worker that stops using CPU
altogether.

Abel-mode workers put the paper-scorer folder (sympy 1.12 + antlr4 4.11, installed by
``abel install-paper-scorer``) first on ``sys.path`` before anything imports sympy; the main
environment keeps the antlr4 4.9 that DVC needs.
"""

from __future__ import annotations

import atexit
import math
import multiprocessing
import os
import resource
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAPER_SCORER_PINS = ("sympy==1.12", "antlr4-python3-runtime==4.11.1")
MAX_TIMEOUT_S = 600.0  # a per-answer limit must be finite: past this it is a mistake, not a limit
WALL_FACTOR, WALL_GRACE_S = 10.0, 5.0  # the wall-clock backstop: far above any CPU-time limit's wall time


def check_timeout(limit: float | None) -> float:
    """A finite, positive per-answer CPU-time limit of at most ``MAX_TIMEOUT_S`` seconds."""
    if limit is None or not isinstance(limit, (int, float)) or not math.isfinite(limit) or not 0 < limit <= MAX_TIMEOUT_S:
        raise ValueError(f"a positive, finite time limit per task of at most {MAX_TIMEOUT_S:g}s is required (got {limit!r})")
    return float(limit)


HARD_GRACE_S = 0.5


class CpuTimeExceeded(Exception):
    """A task used its CPU-time limit (raised in the worker, re-raised in the parent by pebble)."""


class _Interrupt(BaseException):  # BaseException: library code's ``except Exception`` cannot swallow it
    pass


def _interrupt(signum: int, frame: object) -> None:
    raise _Interrupt


def call_with_cpu_limit(fn: Callable[..., Any], cpu_limit_s: float, *args: Any) -> Any:
    """Run ``fn(*args)`` in this (worker) process under a CPU-time limit (see the module docstring)."""
    signal.signal(signal.SIGPROF, _interrupt)
    signal.signal(signal.SIGVTALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_VIRTUAL, cpu_limit_s + HARD_GRACE_S)
    signal.setitimer(signal.ITIMER_PROF, cpu_limit_s)
    try:
        try:
            return fn(*args)
        finally:
            _disarm()
    except _Interrupt:  # also when the signal lands in the finally above, before the timers are off
        _disarm()
        raise CpuTimeExceeded(f"over {cpu_limit_s:g}s CPU") from None


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_VIRTUAL, 0)


class PaperScorerMissing(RuntimeError):
    pass


def paper_scorer_dir() -> Path:
    """Where the abel-mode parser stack lives: $ABEL_PAPER_SCORER_DIR or <venv>/abel-paper-scorer."""
    env = os.environ.get("ABEL_PAPER_SCORER_DIR")
    return Path(env) if env else Path(sys.prefix) / "abel-paper-scorer"


def check_paper_scorer(path: Path) -> None:
    if not (path / "sympy" / "__init__.py").is_file() or not (path / "antlr4" / "__init__.py").is_file():
        raise PaperScorerMissing(
            f"abel mode needs the paper's parser stack ({', '.join(PAPER_SCORER_PINS)}) in {path}, "
            "kept apart from DVC's antlr4 4.9. Install it with `abel install-paper-scorer` "
            "(the Makefile does this), or point ABEL_PAPER_SCORER_DIR at an existing one."
        )


def _init_worker(paper_scorer: str | None, memory_mb: int) -> None:
    import logging

    # math-verify warns that its own (signal) timeouts are off: this pool enforces the limit.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if paper_scorer:
        sys.path.insert(0, paper_scorer)
        import antlr4  # noqa: F401  (the 4.11 runtime, from the folder above)
        import sympy

        if sympy.__version__ != "1.12" or not sympy.__file__.startswith(paper_scorer):
            raise RuntimeError(f"paper-scorer worker loaded sympy {sympy.__version__} from {sympy.__file__}")
        from sympy.parsing.latex import parse_latex

        parse_latex("\\frac{1}{2}+x")  # warm the parser here, outside any answer's time limit
    else:
        from math_verify import parse, verify

        verify(parse("$\\frac{1}{2}$"), parse("$0.5$"))  # same: imports and caches before the first task


@dataclass(frozen=True)
class Outcome:
    value: Any  # the function's return value, or None
    status: str  # "ok", "timeout" or "error"
    error: str = ""


class WorkerPool:
    """Run ``fn(*args)`` for many argument tuples, each under a hard CPU-time limit."""

    def __init__(self, workers: int, timeout_s: float | None, memory_mb: int, paper_scorer: Path | None = None):
        if paper_scorer is not None:
            check_paper_scorer(paper_scorer)
        self.timeout_s = timeout_s
        self._workers = workers
        self._initargs = (str(paper_scorer) if paper_scorer else None, memory_mb)
        self._pool: Any = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure(self) -> Any:
        if self._pool is None:
            from pebble import ProcessPool

            self._pool = ProcessPool(
                max_workers=self._workers,
                initializer=_init_worker,
                initargs=self._initargs,
                context=multiprocessing.get_context("spawn"),
            )
        return self._pool

    def map(self, fn: Callable[..., Any], arglist: Sequence[tuple[Any, ...]],
            on_done: Callable[[], None] | None = None, timeout_s: float | None = None) -> list[Outcome]:
        if not arglist:
            return []
        limit = check_timeout(self.timeout_s if timeout_s is None else timeout_s)
        pool = self._ensure()
        wall = limit * WALL_FACTOR + WALL_GRACE_S
        futures = [pool.schedule(call_with_cpu_limit, args=(fn, limit, *args), timeout=wall) for args in arglist]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(Outcome(future.result(), "ok"))
            except FutureTimeout:
                outcomes.append(Outcome(None, "timeout", f"over {wall:g}s wall clock"))
            except CpuTimeExceeded as exc:
                outcomes.append(Outcome(None, "timeout", str(exc)))
            except Exception as exc:  # worker died (hard CPU limit, memory cap, recursion) or fn raised
                if getattr(exc, "exitcode", None) == -signal.SIGVTALRM:
                    outcomes.append(Outcome(None, "timeout", f"over {limit:g}s CPU (worker ended)"))
                else:
                    outcomes.append(Outcome(None, "error", f"{type(exc).__name__}: {exc}"[:200]))
            if on_done:
                on_done()
        return outcomes

    def close(self) -> None:
        if self._pool is not None:
            # close (not stop): a worker being started to replace a killed one finishes starting,
            # instead of dying mid-start on a semaphore the pool already removed.
            self._pool.close()
            self._pool.join(timeout=30)
            self._pool.stop()
            self._pool.join()
            self._pool = None


_SHARED: dict[tuple[int, int, str | None], WorkerPool] = {}


def shared_pool(workers: int, memory_mb: int, paper_scorer: Path | None = None) -> WorkerPool:
    """A pool kept warm for the life of this process (closed at exit).

    Starting a worker and warming sympy / math-verify costs far more than scoring one answer, so
    every ``score_rows`` call in a process (a stage scores several files in two modes) reuses the
    same workers. Killed workers are replaced by pebble; the time limit is set per call.
    """
    key = (workers, memory_mb, str(paper_scorer) if paper_scorer else None)
    if key not in _SHARED:
        _SHARED[key] = WorkerPool(workers, None, memory_mb, paper_scorer)  # the limit comes with each map()
    return _SHARED[key]


@atexit.register
def close_shared_pools() -> None:
    while _SHARED:
        _SHARED.popitem()[1].close()
