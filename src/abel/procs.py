"""Process hygiene: nothing of a stage outlives it, and two runs never share a work folder.

The chain a stage runs in is ``dvc`` -> ``abel stage`` -> Jupyter kernel (its own session) ->
``torchrun`` / ``deepspeed`` launcher -> training ranks. Each link ends when the one above it ends,
whatever signal ended that one (SIGKILL included):

- ``abel stage`` asks the kernel for SIGTERM when its parent dies (``parent_death_signal``), and
  watches dvc itself when a ``sh -c`` shell sits between them (dvc runs the command through
  ``$SHELL -c``, or ``/bin/sh -c`` when ``SHELL`` is unset; dash does not exec the command, so the
  shell, not dvc, is the parent); on SIGTERM / SIGHUP it ends its whole process tree
  (``terminate_tree``) before exiting;
- the kernel polls its parent (ipykernel's own ``JPY_PARENT_PID`` poller) and exits within ~1 s;
- the launcher and every rank get SIGTERM when their parent dies (``parent_death_signal``, set in the
  child before it runs), and torchrun stops its ranks on SIGTERM.

``work_lock`` is an exclusive ``flock`` on a folder's ``.lock`` file, held by the live run (and the
launcher it starts, which inherits it), so a second run in the same checkpoint folder waits for the
first to be gone, then refuses with the holder's pid rather than training beside it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# resolved here, in the parent: a preexec_fn runs between fork and exec, where loading a library is unsafe
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def parent_death_signal(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; elsewhere a no-op).

    Safe in a ``preexec_fn``. If the parent is already gone (the race before the call), exits.
    """
    if _PRCTL is None:
        return
    parent = os.getppid()
    if _PRCTL(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(128 + int(sig))


def terminate_tree(pid: int | None = None, grace_s: float = 10.0) -> int:
    """SIGTERM every descendant of ``pid`` (default: this process), SIGKILL those left after
    ``grace_s``; returns how many there were."""
    import psutil

    try:
        children = psutil.Process(pid or os.getpid()).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return len(children)


_SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish", "busybox"}


def command_owner() -> int | None:
    """The pid of the process that started this command: the parent, or past any ``<shell> -c``
    processes between them (they exist only to run this command). None when it cannot be read."""
    import psutil

    try:
        proc = psutil.Process(os.getppid())
        while proc.name() in _SHELLS and "-c" in proc.cmdline()[1:]:
            above = proc.parent()
            if above is None:
                break
            proc = above
        return proc.pid
    except psutil.Error:
        return None


def watch_process(pid: int, on_gone: Callable[[], None], every_s: float = 0.5) -> None:
    """Call ``on_gone()`` from a daemon thread once ``pid`` has ended (its start time is compared too,
    so a reused pid does not count as alive)."""
    import psutil

    def poll() -> None:
        try:
            watched = psutil.Process(pid)
            while watched.is_running() and watched.status() != psutil.STATUS_ZOMBIE:
                time.sleep(every_s)
        except psutil.NoSuchProcess:
            pass
        on_gone()

    threading.Thread(target=poll, name=f"watch-{pid}", daemon=True).start()


def end_tree_on_signals(cleanup: list[Path] | None = None, scratch: Path | None = None) -> None:
    """In a stage's top process: when the process that started it dies (the parent, or the one past a
    ``sh -c`` shell), or on SIGTERM / SIGHUP, end every descendant, remove the ``cleanup`` files and
    the ``scratch`` folder, and exit with 128 + the signal. Must be called from the main thread."""

    def handler(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)
        terminate_tree()
        for path in cleanup or []:
            path.unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        print(f"\nstopped by signal {signal.Signals(signum).name}: every process of this stage has ended "
              "(re-running resumes from what was saved)", file=sys.stderr, flush=True)
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)
    parent_death_signal(signal.SIGTERM)
    owner = command_owner()
    if owner is not None:
        # SIGTERM sent to the main thread itself: a process-directed signal may land on another thread,
        # and the main thread, blocked waiting for the kernel, would run the handler only when it wakes
        main = threading.main_thread().ident
        watch_process(owner, lambda: signal.pthread_kill(main, signal.SIGTERM))


def _holders(path: Path) -> list[str]:
    """Processes other than this one with ``path`` open (who holds the lock: the run or its launcher)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.pid == os.getpid():
            continue
        try:
            if any(f.path == str(path) for f in proc.open_files()):
                found.append(f"{proc.pid} ({proc.info['name']})")
        except (psutil.Error, OSError):
            continue
    return found


class WorkFolderBusy(RuntimeError):
    """Another live run holds the folder's lock."""


@contextmanager
def work_lock(folder: Path, wait_s: float = 60.0) -> Iterator[int]:
    """Hold an exclusive lock on ``folder/.lock`` (yields its file descriptor, inheritable, so a
    launcher started with ``pass_fds`` keeps holding it). A lock held by a run that is ending is
    waited for up to ``wait_s``; then WorkFolderBusy names the holder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                if time.monotonic() > deadline:
                    others = ", ".join(_holders(path)) or "none found"
                    raise WorkFolderBusy(
                        f"{folder} is in use by another run (started by pid {holder}; processes holding "
                        f"{path.name}: {others}); two runs never share a work folder. Wait for it to finish, "
                        "or stop those processes, then re-run.") from None
                if not told:
                    print(f"waiting for the run holding {path} (pid {holder}) to end ...", file=sys.stderr, flush=True)
                    told = True
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.set_inheritable(fd, True)
        yield fd
    finally:
        os.close(fd)  # releases the lock unless a child still holds the inherited descriptor
