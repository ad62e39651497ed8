"""DVC remotes for real: an SSH remote on a loopback OpenSSH server (tests/sshd.py, the ``sshd`` fixture,
skipped with the reason where sshd cannot start), through DVC's dvc-ssh plugin.

Fast tier: a small DVC repo pushes and pulls over SSH; a key the server refuses and a port nobody
listens on each end in one clear error; a push or pull killed halfway completes when re-run, with
every byte there. The tiny-profile pipeline pushed from one clone and pulled into a fresh one, where
``dvc status`` is clean, ``dvc repro`` does nothing and the report re-made from the pulled files is
byte-identical, is in tests/test_pipeline.py (it pushes a copy of the finished tiny pipeline).

The DVC commands that talk SSH run with HOME set to a temp folder: asyncssh checks host keys against
~/.ssh/known_hosts and reads ~/.ssh/config, so nothing of the user's is read or written.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sshd import LoopbackSSHD

BIN = Path(sys.executable).parent


def _env(home: Path) -> dict[str, str]:
    # COLUMNS: DVC wraps a table row at the terminal's width, and a long temp path would split across lines
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "HOME": str(home), "COLUMNS": "4096"}


def _dvc(cwd: Path, home: Path, *args: str, ok: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=_env(home), capture_output=True, text=True,
                          timeout=timeout)
    if ok:
        assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def use_ssh_remote(repo: Path, home: Path, server: LoopbackSSHD, store: Path, name: str = "ssh",
                   keyfile: Path | None = None, port: int | None = None) -> None:
    """``name`` as the default remote of ``repo``, in .dvc/config.local (what a user does)."""
    _dvc(repo, home, "remote", "add", "--local", "--force", "-d", name,
         f"ssh://{server.hosts[0]}:{port or server.port}{store}")
    _dvc(repo, home, "remote", "modify", "--local", name, "user", server.user)
    _dvc(repo, home, "remote", "modify", "--local", name, "keyfile", str(keyfile or server.identity))
    _dvc(repo, home, "remote", "modify", "--local", name, "timeout", "20")


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A git + DVC repo with one tracked folder of 120 random files (about 12 MB) and a 16 MB file."""
    repo, home = tmp_path / "origin", tmp_path / "home"
    repo.mkdir()
    home.mkdir()
    _git(repo, "init", "-q")
    _dvc(repo, home, "init", "-q")
    rng = __import__("random").Random(0)
    (repo / "d").mkdir()
    for i in range(120):
        (repo / "d" / f"f{i:03d}").write_bytes(rng.randbytes(100_000))
    (repo / "big").write_bytes(rng.randbytes(16_000_000))
    _dvc(repo, home, "add", "d", "big")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "data")
    return repo, home


def _kill_when(proc: subprocess.Popen[str], ready, timeout_s: float = 60.0) -> bool:
    """SIGKILL ``proc``'s process group as soon as ``ready()``; False if it finished first."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.01)
    proc.wait()
    return False


def _files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


@pytest.mark.slow  # a real sshd started by the test (DESIGN: the slow tier)
def test_ssh_push_and_pull_survive_a_kill_halfway(sshd: LoopbackSSHD, small_repo: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    repo, home = small_repo
    store = tmp_path / "store"
    use_ssh_remote(repo, home, sshd, store)
    # a push killed once some files are on the remote ...
    push = subprocess.Popen([str(BIN / "dvc"), "push", "--jobs", "1"], cwd=repo, env=_env(home), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed = _kill_when(push, lambda: _files(store / "files") >= 10)
    partial = _files(store / "files")
    print(f"push killed: {killed}, {partial} of 122 files on the remote")
    # ... re-run: completes, and sends only what was missing
    out = _dvc(repo, home, "push").stdout
    if killed:
        assert partial < 122, "the kill came after the push had finished"
        assert "files pushed" in out, out
    assert "in sync" in _dvc(repo, home, "status", "-c").stdout
    # a fresh clone: a pull killed halfway, re-run, has every byte
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    use_ssh_remote(clone, home, sshd, store)
    pull = subprocess.Popen([str(BIN / "dvc"), "pull", "--jobs", "1"], cwd=clone, env=_env(home), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cache = clone / ".dvc" / "cache" / "files"
    killed = _kill_when(pull, lambda: _files(cache) >= 10)
    print(f"pull killed: {killed}, {_files(cache)} of 122 files in the cache")
    _dvc(clone, home, "pull")
    assert _digest(clone / "d") == _digest(repo / "d")
    assert (clone / "big").read_bytes() == (repo / "big").read_bytes()
    status = _dvc(clone, home, "status").stdout
    assert "up to date" in status, status


@pytest.mark.slow  # a real sshd started by the test (DESIGN: the slow tier)
def test_a_refused_key_is_one_clear_error(sshd: LoopbackSSHD, small_repo: tuple[Path, Path], tmp_path: Path) -> None:
    repo, home = small_repo
    other = tmp_path / "not_authorized"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, capture_output=True)
    use_ssh_remote(repo, home, sshd, tmp_path / "store", keyfile=other)
    proc = _dvc(repo, home, "push", ok=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and f"Permission denied for user {sshd.user} on host 127.0.0.1" in errors[0], proc.stderr


@pytest.mark.slow  # a real sshd started by the test (DESIGN: the slow tier)
def test_an_unreachable_remote_is_one_clear_error(sshd: LoopbackSSHD, small_repo: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    from tests.sshd import free_port

    repo, home = small_repo
    use_ssh_remote(repo, home, sshd, tmp_path / "store", port=free_port())  # nobody listens there
    started = time.monotonic()
    proc = _dvc(repo, home, "push", ok=False)
    assert proc.returncode != 0 and time.monotonic() - started < 60
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "Connect call failed" in errors[0], proc.stderr


def test_the_shipped_default_remote_is_a_folder_beside_the_repo(small_repo: tuple[Path, Path], tmp_path: Path) -> None:
    """No account, nothing to set up: this repo's .dvc/config in a clone, `dvc push`, and the data sits in
    ../abel-dvc-storage; a fresh clone pulls it from there; .dvc/config.local overrides it."""
    import shutil

    repo, home = small_repo
    shutil.copy2(Path(__file__).resolve().parents[1] / ".dvc" / "config", repo / ".dvc" / "config")
    listed = _dvc(repo, home, "remote", "list").stdout.split()
    assert listed[:3] == ["local", str(tmp_path / "abel-dvc-storage"), "(default)"], listed
    assert "files pushed" in _dvc(repo, home, "push").stdout
    assert _files(tmp_path / "abel-dvc-storage" / "files") == 122
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "default remote")
    clone = tmp_path / "elsewhere" / "clone"  # its own ../abel-dvc-storage does not exist: -r picks origin's
    clone.parent.mkdir()
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    _dvc(clone, home, "remote", "add", "--local", "-d", "mine", str(tmp_path / "abel-dvc-storage"))
    assert "mine" in _dvc(clone, home, "remote", "default").stdout
    _dvc(clone, home, "pull")
    assert _digest(clone / "d") == _digest(repo / "d")
