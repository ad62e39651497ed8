"""The nodes of a multi-node SFT run: the DeepSpeed hostfile, and a check that every node can be reached
the way the launcher will reach it, before anything starts.

How it starts: nothing here runs on its own. ``abel.training.launch`` reads the hostfile while it plans
(nodes x slots = the world) and, for more than one node, calls ``check_nodes`` before the run folder is
even made; the ``deepspeed`` launcher then starts ``deepspeed.launcher.launch`` on every node with
``pdsh`` over ``ssh``, which starts that node's ranks.

What it needs:

- here: ``pdsh`` (with its ssh module) and an ``ssh`` client (``apt-get install pdsh openssh-client``);
- on every node: an SSH server that lets this user in with a key, no password or prompt
  (``ssh -o BatchMode=yes <node> true`` succeeds), and this checkout and this Python environment at the
  same paths (a shared filesystem);
- ssh's options: ``sft.ssh_config`` (an ssh client config file, ``ssh -F``: Port, IdentityFile,
  HostName...) when set, else ssh's own (``~/.ssh/config``), plus whatever ``PDSH_SSH_ARGS_APPEND``
  already holds. The check runs ``ssh`` with exactly the options pdsh will be given, and as the user pdsh
  logs in as (``-l``, the local user unless the hostfile says ``user@host``).
"""

from __future__ import annotations

import getpass
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

EXAMPLE = "src/abel/training/deepspeed/hostfile.example"


class HostfileError(ValueError):
    """A hostfile that cannot work, or a node that cannot be reached; the message says how to fix it."""


def read_hostfile(path: Path) -> dict[str, int]:
    """Host -> slots (processes on it), in file order: ``<host> slots=<N>`` lines, ``#`` comments.
    Every node must have the same number of slots (the plan is nodes x processes per node)."""
    if not path.is_file():
        raise HostfileError(f"sft.hostfile: {path} does not exist; write one '<host> slots=<processes>' line per "
                            f"node (like {EXAMPLE}), or set sft.hostfile: '' to train on this machine only")
    hosts: dict[str, int] = {}
    lines: dict[str, int] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].startswith("slots=") or not parts[1][6:].isdigit() or int(parts[1][6:]) < 1:
            raise HostfileError(f"{path}:{n}: expected '<host> slots=<N>' with N >= 1, got {line!r}")
        if parts[0] in hosts:
            raise HostfileError(f"{path}:{n}: {parts[0]} is listed again (first on line {lines[parts[0]]}); "
                                f"name each node once, with all its processes in slots=")
        hosts[parts[0]], lines[parts[0]] = int(parts[1][6:]), n
    if not hosts:
        raise HostfileError(f"sft.hostfile: {path} lists no hosts; write one '<host> slots=<processes>' line per node")
    if len(set(hosts.values())) != 1:
        listed = ", ".join(f"{h} slots={s}" for h, s in hosts.items())
        raise HostfileError(f"sft.hostfile: every node needs the same number of slots (processes per node), {path} "
                            f"has {listed}; give every line the same slots= (at most the smallest node's "
                            f"{min(hosts.values())} GPUs), or leave the smaller nodes out")
    return hosts


def ssh_args(ssh_config: Path | None, append: str = "") -> list[str]:
    """The options pdsh adds to its ``ssh`` command (``PDSH_SSH_ARGS_APPEND``, which pdsh splits at
    spaces): ``-F <ssh_config>`` and whatever ``append`` (the caller's ``PDSH_SSH_ARGS_APPEND``) held."""
    return (["-F", str(ssh_config)] if ssh_config else []) + append.split()


def _probe(host: str, options: list[str], python: str, root: Path, timeout_s: float) -> tuple[str, str] | None:
    """None when ``host`` lets us in and has ``python`` and ``root``; else ("ssh" or "files", what is wrong)."""
    user = [] if "@" in host else ["-l", getpass.getuser()]  # as pdsh logs in (its -l%u)
    remote = f"test -x {shlex.quote(python)} || exit 65; test -d {shlex.quote(str(root))} || exit 66"
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", *options, *user, host, remote]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return "ssh", f"`{shlex.join(cmd)}` did not finish in {timeout_s:.0f} s"
    if done.returncode == 65:
        return "files", f"{python} is not there: every node needs this Python environment at the same path"
    if done.returncode == 66:
        return "files", f"{root} is not there: every node needs this checkout at the same path (a shared filesystem)"
    if done.returncode:
        said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return "ssh", f"`{shlex.join(cmd)}` failed: {said}"
    return None


def check_nodes(hosts: list[str], ssh_config: Path | None, append: str, python: str, root: Path,
                timeout_s: float = 30.0) -> None:
    """Before a multi-node launch: pdsh and ssh are here, and every node lets us in without a password and
    has ``python`` and ``root``. Raises HostfileError naming every node that does not."""
    if shutil.which("pdsh") is None:
        raise HostfileError(f"sft.hostfile: a run on {len(hosts)} nodes starts its ranks with pdsh, which is not "
                            "installed here; install it (apt-get install pdsh) or set sft.hostfile: '' to train "
                            "on this machine only")
    modules = subprocess.run(["pdsh", "-L"], capture_output=True, text=True).stdout
    if "rcmd/ssh" not in modules:
        raise HostfileError("sft.hostfile: this pdsh has no ssh module (`pdsh -L` lists no rcmd/ssh), and the "
                            "deepspeed launcher starts the nodes' ranks over ssh; install a pdsh built with ssh "
                            "(Debian/Ubuntu: apt-get install pdsh)")
    if shutil.which("ssh") is None:
        raise HostfileError("sft.hostfile: no ssh client here; install one (apt-get install openssh-client)")
    if ssh_config is not None and not ssh_config.is_file():
        raise HostfileError(f"sft.ssh_config: {ssh_config} does not exist; name an ssh client config file "
                            f"(ssh -F), or set sft.ssh_config: '' to use ~/.ssh/config")
    if ssh_config is not None and any(c.isspace() for c in str(ssh_config)):
        raise HostfileError(f"sft.ssh_config: pdsh splits its ssh options at spaces, so {ssh_config!r} would "
                            "reach ssh in pieces; move the file to a path without spaces")
    options = ssh_args(ssh_config, append)
    with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
        found = list(pool.map(lambda h: _probe(h, options, python, root, timeout_s), hosts))
    bad = [(host, why) for host, why in zip(hosts, found) if why]
    if bad:
        where = f"sft.ssh_config ({ssh_config})" if ssh_config else "sft.ssh_config (an ssh client config, ssh -F)"
        fixes = {"ssh": "passwordless ssh from this machine to every node (this user's public key in the node's "
                        f"~/.ssh/authorized_keys, the node's host key known here), or name in {where} the Port, "
                        "IdentityFile and HostName that reach them: `ssh -o BatchMode=yes <node> true` must succeed "
                        "without a prompt",
                 "files": f"the same checkout ({root}) and Python ({python}) at the same paths on every node"}
        raise HostfileError(
            f"sft.hostfile: {len(bad)} of {len(hosts)} nodes cannot start ranks:\n"
            + "".join(f"  {host}: {why}\n" for host, (_, why) in bad)
            + "".join(f"Fix: {fixes[kind]}\n" for kind in sorted({kind for _, (kind, _) in bad})).rstrip("\n"))
