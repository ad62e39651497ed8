"""Process hygiene: the work-folder lock, and the parent-death chain's first link."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abel.procs import WorkFolderBusy, work_lock


def test_a_second_run_in_a_locked_folder_waits_then_names_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from abel.procs import work_lock\n"
        f"with work_lock(Path({str(tmp_path)!r})):\n"
        "    print('locked', flush=True); time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with pytest.raises(WorkFolderBusy, match=f"pid {holder.pid}"):
            with work_lock(tmp_path, wait_s=1.0):
                pass
        assert time.monotonic() - start >= 1.0
    finally:
        holder.kill()
        holder.wait()
    with work_lock(tmp_path, wait_s=5.0):  # the holder is gone: the lock is free again
        pass


def test_a_child_with_parent_death_signal_ends_with_its_parent(tmp_path: Path) -> None:
    """The launcher's preexec_fn: when the process that started it is SIGKILLed, the child gets SIGTERM."""
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "from abel.procs import parent_death_signal\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], preexec_fn=parent_death_signal)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n")])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(pid_file.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone between open and read: ESRCH
        return False


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_a_stage_run_through_a_shell_ends_when_the_owner_is_killed(tmp_path: Path, shell: str) -> None:
    """dvc runs a stage as `$SHELL -c 'abel stage ...'` (/bin/sh when SHELL is unset); dash keeps the
    shell between dvc and the stage. SIGKILL to the owner (dvc here: a python process) must still end
    the stage and its children, whichever shell sits between."""
    pid_file = tmp_path / "stage.pid"
    grandchild_file = tmp_path / "grandchild.pid"
    stage = (
        "import subprocess, sys, time\n"
        "from abel.procs import end_tree_on_signals\n"
        "end_tree_on_signals()\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
        f"open({str(grandchild_file)!r}, 'w').write(str(child.pid))\n"
        "import os\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\n")
    script = tmp_path / "stage.py"
    script.write_text(stage)
    owner = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([{shell!r}, '-c', sys.executable + ' ' + {str(script)!r}])\n"
        "time.sleep(120)\n")])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stage_pid, grandchild = int(pid_file.read_text()), int(grandchild_file.read_text())
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    while (_alive(stage_pid) or _alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(stage_pid), "the stage outlived its owner"
    assert not _alive(grandchild), "the stage's child outlived the owner"
