"""A real single-host SLURM cluster for the tests: ``munged``, ``slurmctld`` and one ``slurmd`` per
emulated node (``slurmd -N nodeK``), all on localhost, configured and kept in a temp folder.

How it starts: ``SlurmCluster.start(folder, nodes=2)`` as root (``SlurmUser=root``: slurmd runs jobs as
their submitter); daemons run in the foreground as children of the test process (SIGTERM when it dies),
on free ports, with their own munge key and socket, state and spool folders, no cgroups
(``proctrack/linuxproc``, ``task/none``), no accounting. ``SLURM_CONF`` points the client commands at it.
What it needs: Debian's ``slurmctld``, ``slurmd``, ``slurm-client`` and ``munge`` packages (``.ci/run``
installs them). ``Unavailable`` says why it cannot start (not installed, not root, a daemon that exits).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from abel.procs import parent_death_signal

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "sinfo", "squeue", "scontrol", "scancel")
INSTALL = "apt-get install -y slurmctld slurmd slurm-client munge"


class Unavailable(RuntimeError):
    """The cluster cannot start here; the message says why."""


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SlurmCluster:
    def __init__(self, folder: Path, nodes: int, cpus: int) -> None:
        self.folder, self.nodes, self.cpus = folder, [f"node{i + 1}" for i in range(nodes)], cpus
        self.conf = folder / "slurm.conf"
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.partition = "debug"

    @classmethod
    def start(cls, folder: Path, nodes: int = 2, cpus: int | None = None, timeout_s: float = 90.0) -> SlurmCluster:
        missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).is_file()]
        if missing:
            raise Unavailable(f"{', '.join(missing)} not installed (Debian/Ubuntu: {INSTALL}; .ci/run does it as root)")
        if os.geteuid() != 0:
            raise Unavailable("slurmd runs jobs as their submitting user and needs root to start here "
                              "(SlurmUser=root); run the test as root")
        cluster = cls(folder, nodes, cpus or os.cpu_count() or 1)
        try:
            cluster._start(timeout_s)
        except BaseException:
            logs = cluster.logs()
            cluster.stop()
            raise Unavailable(f"the SLURM daemons did not come up:\n{logs}") from None
        return cluster

    def _daemon(self, name: str, args: list[str]) -> None:
        exe = shutil.which(args[0]) or str(Path("/usr/sbin", args[0]))
        log = (self.folder / "log" / f"{name}.out").open("ab")
        proc = subprocess.Popen([exe, *args[1:]], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=parent_death_signal, env={**os.environ, "SLURM_CONF": str(self.conf)})
        self.procs.append((name, proc))

    def _start(self, timeout_s: float) -> None:
        f = self.folder
        for sub in ("munge", "state", "spool", "log"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        (f / "munge").chmod(0o700)
        key = f / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        sock = f / "munge" / "munge.sock"
        ctld_port, *node_ports = _free_ports(1 + len(self.nodes))
        nodes = "\n".join(f"NodeName={n} NodeAddr=127.0.0.1 NodeHostname=localhost Port={port} CPUs={self.cpus} "
                          "State=UNKNOWN" for n, port in zip(self.nodes, node_ports))
        self.conf.write_text(f"""\
ClusterName=abeltest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={node_ports[0]}
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job may start again after 5 s, not SLURM's default 120 s
AuthInfo=socket={sock},cred_expire=5
SlurmUser=root
SlurmdUser=root
StateSaveLocation={f / 'state'}
SlurmdSpoolDir={f / 'spool'}/%n
SlurmctldPidFile={f / 'slurmctld.pid'}
SlurmdPidFile={f / 'spool'}/slurmd-%n.pid
SlurmctldLogFile={f / 'log' / 'slurmctld.log'}
SlurmdLogFile={f / 'log'}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
# the main scheduling pass every 2 s, not 60: a requeued job's BeginTime passes without an event to start it
SchedulerParameters=sched_interval=2
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=600
{nodes}
PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        self._daemon("munged", ["munged", "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
                                f"--log-file={f / 'log' / 'munged.log'}", f"--pid-file={f / 'munge' / 'munged.pid'}",
                                f"--seed-file={f / 'munge' / 'seed'}"])
        self._wait(lambda: sock.exists(), timeout_s, "munged's socket")
        self._daemon("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self.client(["sinfo", "--noheader"]).returncode == 0, timeout_s, "slurmctld to answer")
        for node in self.nodes:
            self._daemon(f"slurmd-{node}", ["slurmd", "-D", "-N", node, "-f", str(self.conf)])
        self._wait(self._idle, timeout_s, "every node idle")

    def _idle(self) -> bool:
        out = self.client(["sinfo", "--noheader", "--Node", "--format=%N %T"])
        states = dict(line.split() for line in out.stdout.splitlines() if line.strip())
        return out.returncode == 0 and all(states.get(n) == "idle" for n in self.nodes)

    def _wait(self, ready, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while not ready():
            dead = [name for name, proc in self.procs if proc.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout_s:.0f} s")
            time.sleep(0.5)

    def client(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "SLURM_CONF": str(self.conf)})

    def logs(self, lines: int = 30) -> str:
        out = []
        for path in sorted((self.folder / "log").glob("*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        """Cancel every job, then end the daemons (slurmds first, munged last)."""
        if any(name == "slurmctld" and proc.poll() is None for name, proc in self.procs):
            self.client(["scancel", f"--partition={self.partition}"])
            deadline = time.monotonic() + 30
            while self.client(["squeue", "--noheader"]).stdout.strip() and time.monotonic() < deadline:
                time.sleep(0.5)
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
