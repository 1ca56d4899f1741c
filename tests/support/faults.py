"""Faults for real processes of the local environment: stop and continue, kill, restart the same process.

Every operation is by process id, on a ``localenv.Proc`` (a process the test harness started, or one found by
the ports it listens on), and checks first that the pid still runs what was recorded. A restart runs exactly
what ran before: the command line, environment and working directory read from ``/proc/<pid>`` while it was
alive, its output appended to the same log. The ``Proc`` record is updated in place, so whoever owns it (a
fixture's list, ``LocalEnv.owned_procs``) stops the new process at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.env import KafkaEndpoints, localenv
from tests.support.wait import wait_until

Proc = localenv.Proc


@dataclass(frozen=True)
class Recipe:
    """How a process was started: enough to start the same one again."""

    argv: list[str]
    env: dict[str, str]
    cwd: str


def recipe_of(proc: Proc) -> Recipe:
    """Read the running process' command line, environment and working directory from /proc."""
    if not proc.is_alive():
        raise AssertionError(f"{proc.name} (pid {proc.pid}) is not running")
    base = Path(f"/proc/{proc.pid}")
    argv = [a.decode() for a in base.joinpath("cmdline").read_bytes().split(b"\0") if a]
    env = {}
    for entry in base.joinpath("environ").read_bytes().split(b"\0"):
        if b"=" in entry:
            key, value = entry.split(b"=", 1)
            env[key.decode()] = value.decode()
    return Recipe(argv=argv, env=env, cwd=os.readlink(base / "cwd"))


def _signal(proc: Proc, sig: signal.Signals) -> None:
    if not proc.is_alive():
        raise AssertionError(f"{proc.name} (pid {proc.pid}) is not running; not sending {sig.name}")
    os.kill(proc.pid, sig)


def state_of(pid: int) -> str:
    """The process state letter from /proc (R, S, T for stopped, Z, ...), or '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def exited(pid: int) -> bool:
    """Whether the process has fully exited. Not ``Proc.is_alive``: a killed process loses its command line
    (its memory) before its other threads are gone and its files closed, and a listening port is free only
    then. A child of ours is reaped; another process counts as exited once it is a zombie or gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return state_of(pid) in ("", "Z", "X")


@contextlib.contextmanager
def stopped(proc: Proc) -> Iterator[Proc]:
    """SIGSTOP the process for the block; SIGCONT it afterwards, whatever happens in the block."""
    _signal(proc, signal.SIGSTOP)
    try:
        wait_until(lambda: state_of(proc.pid) in ("T", "t"), timeout=10, interval=0.02,
                   what=f"{proc.name} (pid {proc.pid}) to be stopped")
        yield proc
    finally:
        cont(proc)


def cont(proc: Proc) -> None:
    """SIGCONT, if the process still runs (continuing a running process is harmless)."""
    with contextlib.suppress(ProcessLookupError):
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGCONT)


def kill(proc: Proc, sig: signal.Signals = signal.SIGKILL, grace: float = 60) -> signal.Signals:
    """Send ``sig`` (SIGKILL by default; SIGTERM for a graceful stop) and wait until the process is gone; a
    process still there ``grace`` seconds after SIGTERM gets SIGKILL. Returns the signal that ended it."""
    _signal(proc, sig)
    cont(proc)  # a stopped process acts on SIGTERM only once continued

    def gone() -> bool:
        return exited(proc.pid)

    try:
        wait_until(gone, timeout=grace, interval=0.05, what=f"{proc.name} (pid {proc.pid}) to exit after {sig.name}")
        return sig
    except AssertionError:
        if sig == signal.SIGKILL:
            raise
    _signal(proc, signal.SIGKILL)
    wait_until(gone, timeout=30, interval=0.05, what=f"{proc.name} (pid {proc.pid}) to exit after SIGKILL")
    return signal.SIGKILL


def restart(proc: Proc, recipe: Recipe) -> Proc:
    """Start the process again from its recipe (same command line, environment, directory and log) and point
    ``proc`` at the new pid. The caller waits for readiness (``wait_kafka_started``, ``wait_apiserver_ready``)."""
    if not exited(proc.pid):
        raise AssertionError(f"{proc.name} (pid {proc.pid}) still runs; kill it before restarting it")
    with open(proc.log, "ab") as out:
        out.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} restarted by the fault-injection suite\n".encode())
        out.flush()
        child = subprocess.Popen(recipe.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=recipe.env, cwd=recipe.cwd)
    proc.pid = child.pid
    # Between fork and exec the child shows our own command line: wait for the exec.
    wait_until(lambda: proc.is_alive() or child.poll() is not None, timeout=10, interval=0.01,
               what=f"{proc.name} to exec")
    if not proc.is_alive():
        raise AssertionError(f"{proc.name} exited at once ({child.returncode}):\n{proc.log_tail()}")
    return proc


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_size(proc: Proc) -> int:
    try:
        return Path(proc.log).stat().st_size
    except OSError:
        return 0


def log_since(proc: Proc, offset: int) -> str:
    with open(proc.log, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


# --- Kafka nodes ---------------------------------------------------------------------------------------------


def _ports(bootstrap: str) -> set[int]:
    return {int(hostport.rsplit(":", 1)[1]) for hostport in bootstrap.split(",") if hostport}


def kafka_nodes(kafka: KafkaEndpoints) -> dict[int, Proc]:
    """The running Kafka processes of one cluster, by node id: the ``kafka.Kafka`` processes whose properties
    file has a PLAINTEXT listener on one of the cluster's ports (never another cluster's processes)."""
    wanted = _ports(kafka.plaintext)
    nodes: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if "kafka.Kafka" not in argv or not argv[-1].endswith(".properties"):
            continue
        props = _properties(argv[-1])
        if props and plaintext_port(props) in wanted:
            node = int(props.get("node.id") or props["broker.id"])  # KRaft, or ZooKeeper mode
            log = Path(props["log.dirs"]).parent.parent / "logs" / f"kafka-{node}.log"
            nodes[node] = Proc(name=f"kafka-{node}", pid=int(entry.name), exe_hint="kafka.Kafka", log=str(log))
    if len(nodes) != kafka.nodes:
        raise AssertionError(f"found {len(nodes)} Kafka process(es) for {kafka.plaintext}, expected {kafka.nodes}")
    return nodes


def _properties(path: str) -> dict[str, str]:
    try:
        return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)
    except OSError:
        return {}


def plaintext_port(props: dict[str, str]) -> int | None:
    found = [int(x.rsplit(":", 1)[1]) for x in props.get("listeners", "").split(",") if x.startswith("PLAINTEXT://")]
    return found[0] if found else None


def quorum_leader(kafka: KafkaEndpoints, without: int | None = None) -> int:
    """The node id of the active KRaft controller (the metadata quorum's leader), asked through every node but
    ``without`` (a stopped node would only make the client wait)."""
    from kafka import KafkaAdminClient

    servers = kafka.plaintext.split(",")
    if without is not None:
        nodes = kafka_nodes_ports(kafka)
        servers = [f"127.0.0.1:{port}" for node, port in nodes.items() if node != without]
    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=15000)
    try:
        quorum = admin.describe_metadata_quorum()
    finally:
        admin.close()
    leader = _find_key(quorum, "leader_id")
    if leader is None or leader < 0:
        raise AssertionError(f"no quorum leader in {quorum!r}")
    return leader


def kafka_nodes_ports(kafka: KafkaEndpoints) -> dict[int, int]:
    """Node id -> PLAINTEXT port of the cluster's running nodes."""
    out = {}
    for node, proc in kafka_nodes(kafka).items():
        argv = [a.decode() for a in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0") if a]
        out[node] = plaintext_port(_properties(argv[-1]))
    return out


def _find_key(value, key: str):
    if isinstance(value, dict):
        if key in value:
            return value[key]
        values = value.values()
    elif isinstance(value, list | tuple):
        values = value
    else:
        return None
    for v in values:
        found = _find_key(v, key)
        if found is not None:
            return found
    return None


def wait_kafka_started(proc: Proc, offset: int, timeout: float = 180) -> None:
    """Until the node logs "Kafka Server started" after ``offset`` in its log (it does so once unfenced); fails
    at once, with its log's tail, when it exits meanwhile."""
    def started() -> str | bool:
        if not proc.is_alive():
            return "exited"
        text = log_since(proc, offset)
        return "Kafka Server started" in text or "] started (kafka.server.KafkaServer)" in text  # KRaft, ZooKeeper

    if wait_until(started, timeout=timeout, interval=0.2, what=f"{proc.name} to log 'Kafka Server started'") \
            == "exited":
        raise AssertionError(f"{proc.name} exited while starting:\n{proc.log_tail()}")


# --- kube-apiserver ----------------------------------------------------------------------------------------


def apiserver_of(procs: list[Proc]) -> Proc:
    found = [p for p in procs if p.name == "kube-apiserver"]
    if len(found) != 1:
        raise AssertionError(f"expected one kube-apiserver among {[p.name for p in procs]}")
    return found[0]


def wait_apiserver_ready(url: str, token: str, cafile: str, timeout: float = 120, proc: Proc | None = None) -> None:
    """Until GET /readyz answers 200 (as the environment's admin); fails at once, with its log's tail, when
    ``proc`` (the apiserver) exits meanwhile."""
    ctx = ssl.create_default_context(cafile=cafile)

    def ready() -> str | bool:
        if proc is not None and not proc.is_alive():
            return "exited"
        req = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            return resp.status == 200

    if wait_until(ready, timeout=timeout, interval=0.2, what=f"GET {url}/readyz") == "exited":
        raise AssertionError(f"{proc.name} exited while starting:\n{proc.log_tail()}")


# --- kto as a Deployment would run it --------------------------------------------------------------------------


class Kubelet:
    """Starts a kto process (``tests.support.operator.KtoProcess``) again whenever it exits on its own, as the
    kubelet restarts a container (without its back-off). kto exits by design when it loses its Lease; the exits
    are recorded (monotonic time, exit code). ``held()`` suspends this around deliberate stops."""

    def __init__(self, kto, interval: float = 0.2):
        self.kto = kto
        self.interval = interval
        self.exits: list[tuple[float, int | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)

    def __enter__(self) -> Kubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            yield

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self._lock.acquire(blocking=False):
                continue
            try:
                proc = self.kto.proc
                if proc is not None and proc.poll() is not None and not self._stop.is_set():
                    self.exits.append((time.monotonic(), proc.returncode))
                    self.kto.start(wait=False)
            finally:
                self._lock.release()
