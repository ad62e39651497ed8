"""A throwaway OpenSSH server on loopback, for tests that need real SSH (multi-node training; a DVC SSH
remote would use it the same way).

How it starts: ``LoopbackSSHD(folder).start()`` (or the session fixture ``sshd`` in tests/conftest.py)
makes a host key and a client key in ``folder`` with ssh-keygen, writes an ``sshd_config`` that listens
on 127.0.0.1 and 127.0.0.2 (two addresses of this machine, so two "nodes") at one free port and lets in
only the current user with that client key, and runs ``/usr/sbin/sshd -D -e -f sshd_config`` until
``stop()``. Clients use ``ssh -F <client_config> 127.0.0.1`` (or 127.0.0.2): that file sets Port, User,
IdentityFile and no host-key checking, so nothing under ~/.ssh is read or written. The sftp subsystem
is on. ``log`` is sshd's own log (LogLevel VERBOSE: one "Connection from ... on <address> port <port>"
line per connection, so a test can see which address was reached).

What it needs: OpenSSH's server and client (``apt-get install openssh-server``); as root, sshd's
privilege-separation folder /run/sshd, made here when missing. ``unavailable()`` says why it cannot
start on this machine (for a skip); anything else that goes wrong is an error.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
HOSTS = ("127.0.0.1", "127.0.0.2")
PRIVSEP = Path("/run/sshd")


def unavailable() -> str | None:
    """Why a loopback sshd cannot start here, or None."""
    if not os.access(SSHD, os.X_OK):
        return f"no OpenSSH server at {SSHD} (apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH (apt-get install openssh-client)"
    if os.geteuid() == 0 and not PRIVSEP.is_dir():
        try:
            PRIVSEP.mkdir(mode=0o755, parents=True)
        except OSError as exc:
            return f"sshd needs its privilege-separation folder {PRIVSEP}, which cannot be made: {exc.strerror}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOSTS[0], 0))
        return int(s.getsockname()[1])


class LoopbackSSHD:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.user = getpass.getuser()
        self.hosts = HOSTS
        self.host_key = folder / "ssh_host_ed25519_key"
        self.identity = folder / "id_ed25519"  # the client key
        self.server_config = folder / "sshd_config"
        self.client_config = folder / "ssh_config"
        self.log = folder / "sshd.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def ssh_command(self, host: str, *command: str) -> list[str]:
        return ["ssh", "-F", str(self.client_config), host, *command]

    def _keys(self) -> None:
        for key in (self.host_key, self.identity):
            if not key.is_file():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "abel-test", "-f", str(key)],
                               check=True, capture_output=True)
        (self.folder / "authorized_keys").write_text(self.identity.with_suffix(".pub").read_text())

    def _configs(self) -> None:
        self.server_config.write_text("\n".join([
            *(f"ListenAddress {h}:{self.port}" for h in self.hosts),
            f"HostKey {self.host_key}",
            f"PidFile {self.folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",  # root: with the key only
            "StrictModes no",  # the keys live in a temp folder, not a 0700 ~/.ssh
            "UsePAM no", "PrintMotd no", "PrintLastLog no", "X11Forwarding no",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
        ]) + "\n")
        self.client_config.write_text("\n".join([
            f"Host {' '.join(self.hosts)}",
            f"  Port {self.port}",
            f"  User {self.user}",
            f"  IdentityFile {self.identity}",
            "  IdentitiesOnly yes",
            "  BatchMode yes",
            "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null",
            "  GlobalKnownHostsFile /dev/null",
            "  LogLevel ERROR",  # no "Permanently added ... to the list of known hosts" on every connection
        ]) + "\n")

    def start(self, attempts: int = 3, timeout_s: float = 15.0) -> LoopbackSSHD:
        self._keys()
        for _ in range(attempts):  # a free port can be taken between choosing it and sshd binding it
            self.port = free_port()
            self._configs()
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.server_config)],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout_s
            while self.proc.poll() is None and time.monotonic() < deadline:
                if all(self._accepts(h) for h in self.hosts):
                    return self
                time.sleep(0.1)
            self.stop()
            if "Address already in use" not in self.log.read_text(errors="replace"):
                break
        raise RuntimeError(f"sshd did not start ({SSHD} -D -e -f {self.server_config}); its log:\n"
                           f"{self.log.read_text(errors='replace')}")

    def _accepts(self, host: str) -> bool:
        try:
            with socket.create_connection((host, self.port), timeout=1.0) as s:
                return s.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LoopbackSSHD:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
