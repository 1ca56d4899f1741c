"""The local environment: etcd, kube-apiserver and Apache Kafka as local processes.

Standard library only, so it runs before kto's own dependencies are installed. Used by
``hack/env.py`` (``make env-up`` / ``make env-down``) and by the pytest fixtures.

Everything binds 127.0.0.1 on free ports; every process is started in its own session and
stopped by its own process id (recorded in ``<root>/state.json``). Several checkouts can each run
an environment at the same time: the state, the logs and the data live under the checkout's
``.kto/`` (or any other root given).
"""

from __future__ import annotations

import base64
import json
import os
import resource
import secrets
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HACK = REPO / "hack"


def read_versions() -> dict[str, str]:
    """The pinned versions in hack/versions.env."""
    versions: dict[str, str] = {}
    for line in (HACK / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            versions[key] = value
    return versions


def cache_dir() -> Path:
    return Path(os.environ.get("KTO_CACHE", Path.home() / ".cache" / "kto"))


def say(message: str) -> None:
    print(f"[env {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class EnvError(RuntimeError):
    """A component failed to build or start; the message names it and carries its log tail."""


# ---------------------------------------------------------------------------------------------
# Building (delegated to build-tools.sh, which caches per version)
# ---------------------------------------------------------------------------------------------


def ensure_built(component: str, version: str | None = None) -> None:
    cmd = ["bash", str(HACK / "build-tools.sh"), component]
    if version:
        cmd.append(version)
    started = time.monotonic()
    result = subprocess.run(cmd)
    if result.returncode != 0:
        raise EnvError(f"building {component} failed (exit {result.returncode}); see the output above")
    took = time.monotonic() - started
    if took > 5:
        say(f"{component} built in {took:.0f}s (cached in {cache_dir()} for next time)")


def kubernetes_bin(name: str) -> Path:
    return cache_dir() / f"kubernetes-{read_versions()['KUBERNETES_VERSION']}" / "bin" / name


def etcd_bin() -> Path:
    return cache_dir() / f"etcd-{read_versions()['ETCD_VERSION']}" / "bin" / "etcd"


def helm_bin() -> Path:
    return cache_dir() / f"helm-{read_versions()['HELM_VERSION']}" / "bin" / "helm"


def promtool_bin() -> Path:
    return cache_dir() / f"prometheus-{read_versions()['PROMETHEUS_VERSION']}" / "bin" / "promtool"


def kafka_libs(version: str) -> Path:
    return cache_dir() / f"kafka-{version}" / "libs"


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Proc:
    """A started process: its name, pid, the executable it must be, and its log."""

    name: str
    pid: int
    exe_hint: str
    log: str

    def is_alive(self) -> bool:
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return False
        except (OSError, IndexError):
            return False
        return self.exe_hint.encode() in cmdline

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = Path(self.log).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait, then SIGKILL; only if the pid still runs what we started."""
        if not self.is_alive():
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(self.pid)
            if not self.is_alive():
                return
            time.sleep(0.1)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.is_alive():
            _reap(self.pid)
            time.sleep(0.05)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


OPEN_FILES = 262_144  # a broker keeps a few files open per partition: 50,000 topics exceed a 20,000 limit


def _more_open_files() -> None:
    """In the child before exec: raise its open-file limit to OPEN_FILES (root may raise the hard limit too),
    else to the hard limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((max(OPEN_FILES, hard), max(OPEN_FILES, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return
        except (ValueError, OSError):
            continue


def spawn(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(argv)}\n".encode())
        out.flush()
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            preexec_fn=_more_open_files,
        )
    proc = Proc(name=name, pid=p.pid, exe_hint=Path(argv[0]).name if name != "kafka" else "kafka.Kafka", log=str(log))
    # Between fork and exec the child still shows our own command line: wait for the exec.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and p.poll() is None and not proc.is_alive():
        time.sleep(0.01)
    return proc


def wait_for(proc: Proc, check, what: str, timeout: float) -> None:
    """Poll ``check()`` until true; fail with the component's log tail on timeout or death."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if not proc.is_alive():
            raise EnvError(f"{proc.name} exited while waiting for {what}; last lines of {proc.log}:\n{proc.log_tail()}")
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure of a readiness probe means "not yet"
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise EnvError(
        f"{proc.name} was not ready ({what}) within {timeout:.0f}s"
        + (f" (last probe error: {last_error})" if last_error else "")
        + f"; last lines of {proc.log}:\n{proc.log_tail()}"
    )


# ---------------------------------------------------------------------------------------------
# PKI (openssl CLI)
# ---------------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise EnvError(f"openssl {' '.join(args[:2])} failed: {r.stderr.strip()}")


def make_pki(pki: Path) -> None:
    """A CA for this run, a serving certificate for 127.0.0.1/localhost and a service-account key."""
    if (pki / "server.pem").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "30", "-subj", "/CN=kto-local-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=pki)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=pki)
    (pki / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "30", "-extfile", "server.ext", cwd=pki)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.pk8", cwd=pki)
    # Kafka's PEM keystore: PKCS#8 key followed by the certificate chain, in one file.
    (pki / "server.pem").write_text(
        (pki / "server.pk8").read_text() + (pki / "server.crt").read_text() + (pki / "ca.crt").read_text()
    )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for f in pki.iterdir():
        f.chmod(0o600)


# ---------------------------------------------------------------------------------------------
# Kubernetes control plane: etcd + kube-apiserver
# ---------------------------------------------------------------------------------------------


@dataclass
class Kube:
    root: Path
    etcd_port: int = 0
    etcd_peer_port: int = 0
    apiserver_port: int = 0
    token: str = ""
    procs: list[Proc] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"


def _https_get(url: str, token: str, cafile: Path) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(cafile))
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def start_kube(root: Path, timeout: float = 120.0) -> Kube:
    """Start etcd and kube-apiserver; on failure stop whatever of them started."""
    ensure_built("etcd")
    ensure_built("kubernetes")
    kube = Kube(root=root)
    try:
        _start_kube(kube, timeout)
    except BaseException:
        stop_procs(kube.procs)
        raise
    return kube


def _start_kube(kube: Kube, timeout: float) -> None:
    root = kube.root
    pki = root / "pki"
    make_pki(pki)
    kube.etcd_port, kube.etcd_peer_port, kube.apiserver_port = free_ports(3)
    kube.token = secrets.token_hex(24)
    etcd_data = root / "data" / "etcd"
    etcd_data.mkdir(parents=True, exist_ok=True)
    peer = f"http://127.0.0.1:{kube.etcd_peer_port}"
    client = f"http://127.0.0.1:{kube.etcd_port}"
    etcd = spawn("etcd", [
        str(etcd_bin()), "--name", "kto", "--data-dir", str(etcd_data),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"kto={peer}", "--unsafe-no-fsync", "--log-level", "warn",
        "--quota-backend-bytes", str(8 * 1024**3),
    ], root / "logs" / "etcd.log")
    kube.procs.append(etcd)

    def etcd_healthy() -> bool:
        with urllib.request.urlopen(f"{client}/health", timeout=2) as resp:
            return json.loads(resp.read()).get("health") == "true"

    wait_for(etcd, etcd_healthy, f"GET {client}/health", timeout)

    (root / "tokens.csv").write_text(f'{kube.token},kto-admin,kto-admin,"system:masters"\n')
    (root / "tokens.csv").chmod(0o600)
    apiserver = spawn("kube-apiserver", [
        str(kubernetes_bin("kube-apiserver")),
        f"--etcd-servers={client}",
        f"--secure-port={kube.apiserver_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--cert-dir={root / 'apiserver-certs'}",
        f"--tls-cert-file={pki / 'server.crt'}",
        f"--tls-private-key-file={pki / 'server.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--token-auth-file={root / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--api-audiences=https://kubernetes.default.svc.cluster.local",
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--disable-admission-plugins=ServiceAccount",
        "--enable-priority-and-fairness=false",
        "--max-requests-inflight=2000",
        "--max-mutating-requests-inflight=1000",
        "--v=1",
    ], root / "logs" / "kube-apiserver.log")
    kube.procs.append(apiserver)
    cafile = pki / "ca.crt"
    wait_for(apiserver, lambda: _https_get(f"{kube.url}/readyz", kube.token, cafile)[0] == 200,
             f"GET {kube.url}/readyz", timeout)
    kube.kubeconfig.write_text(json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kto-local", "cluster": {"server": kube.url, "certificate-authority": str(cafile)}}],
        "users": [{"name": "kto-admin", "user": {"token": kube.token}}],
        "contexts": [{"name": "kto-local", "context": {"cluster": "kto-local", "user": "kto-admin"}}],
        "current-context": "kto-local",
    }, indent=2))
    kube.kubeconfig.chmod(0o600)


# ---------------------------------------------------------------------------------------------
# Apache Kafka: KRaft (combined broker+controller nodes) or, for 3.x, brokers on a ZooKeeper server
# ---------------------------------------------------------------------------------------------

LISTENERS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "CONTROLLER")
MODES = ("kraft", "zookeeper")
AUTHORIZERS = {
    "kraft": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "zookeeper": "kafka.security.authorizer.AclAuthorizer",
}
ZOOKEEPER_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"


@dataclass
class Kafka:
    root: Path
    version: str
    nodes: int
    username: str = "admin"
    password: str = ""
    authorizer: bool = False
    mode: str = "kraft"
    zookeeper_port: int = 0
    ports: list[dict[str, int]] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)

    @property
    def zookeeper(self) -> str:
        return f"127.0.0.1:{self.zookeeper_port}"

    def bootstrap(self, listener: str) -> str:
        return ",".join(f"127.0.0.1:{p[listener]}" for p in self.ports)


def _kafka_uuid() -> str:
    """A Kafka cluster id. Like Kafka's own Uuid.randomUuid, never one starting with '-': the storage tool
    would read it as an option (1 run in 64 failed with "--cluster-id: expected one argument")."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def _jaas_plain(user: str, password: str) -> str:
    return (f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{user}" '
            f'password="{password}" user_{user}="{password}";')


# Kafka 3.0 refuses a PEM key store whose key has no password (KAFKA-13293, fixed in 3.1): it gets the same
# key, encrypted with this throwaway password.
PEM_KEY_PASSWORD = "kto-local-only"


def _needs_key_password(version: str) -> bool:
    return version.startswith("3.0.")


def _encrypted_keystore(pki: Path) -> Path:
    path = pki / "server-encrypted.pem"
    if not path.exists():
        _openssl("pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-in", "server.key", "-out", "server-encrypted.pk8",
                 "-passout", f"pass:{PEM_KEY_PASSWORD}", cwd=pki)
        path.write_text((pki / "server-encrypted.pk8").read_text() + (pki / "server.crt").read_text()
                        + (pki / "ca.crt").read_text())
        path.chmod(0o600)
    return path


def _broker_properties(kafka: Kafka, node: int, data: Path, pki: Path) -> str:
    ports = kafka.ports[node - 1]
    voters = ",".join(f"{i + 1}@127.0.0.1:{p['CONTROLLER']}" for i, p in enumerate(kafka.ports))
    rf = min(kafka.nodes, 3)
    listeners = LISTENERS if kafka.mode == "kraft" else LISTENERS[:3]
    if kafka.mode == "kraft":
        props = {"process.roles": "broker,controller", "node.id": str(node), "controller.quorum.voters": voters,
                 "controller.listener.names": "CONTROLLER"}
    else:
        # No controlled shutdown: stopping the last brokers of a local cluster would wait for retries.
        props = {"broker.id": str(node), "zookeeper.connect": kafka.zookeeper, "controlled.shutdown.enable": "false"}
    props |= {
        "listeners": ",".join(f"{name}://127.0.0.1:{ports[name]}" for name in listeners),
        "advertised.listeners": ",".join(f"{name}://127.0.0.1:{ports[name]}" for name in LISTENERS[:3]),
        "listener.security.protocol.map": ",".join(
            f"{name}:{'PLAINTEXT' if name == 'CONTROLLER' else name}" for name in listeners),
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki / "server.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki / "ca.crt"),
        "log.dirs": str(data),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": str(rf),
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min(rf, 2)),
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(min(rf, 2)),
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "log.segment.bytes": str(16 * 1024 * 1024),
        "log.retention.check.interval.ms": "300000",
    }
    if _needs_key_password(kafka.version):
        props |= {"ssl.keystore.location": str(_encrypted_keystore(pki)), "ssl.key.password": PEM_KEY_PASSWORD}
    for listener in ("sasl_plaintext", "sasl_ssl"):
        props[f"listener.name.{listener}.plain.sasl.jaas.config"] = _jaas_plain(kafka.username, kafka.password)
        for mech in ("scram-sha-256", "scram-sha-512"):
            props[f"listener.name.{listener}.{mech}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
    if kafka.authorizer:
        # StandardAuthorizer is KRaft's; a ZooKeeper-mode broker configured with it hangs at start.
        props["authorizer.class.name"] = AUTHORIZERS[kafka.mode]
        # The admin user, plus the inter-broker and controller listeners (PLAINTEXT: ANONYMOUS).
        props["super.users"] = f"User:{kafka.username};User:ANONYMOUS"
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _kafka_java(kafka: Kafka, main: str, args: list[str], heap: str = "-Xmx512m") -> list[str]:
    logging_props = []
    if kafka.version.startswith("3."):
        cfg = kafka.root / "kafka-log4j.properties"
        cfg.write_text(
            "log4j.rootLogger=INFO, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.request.logger=WARN\nlog4j.logger.state.change.logger=WARN\n"
        )
        logging_props = [f"-Dlog4j.configuration=file:{cfg}"]
    else:
        cfg = kafka.root / "kafka-log4j2.properties"
        cfg.write_text(
            "status=warn\nappender.console.type=Console\nappender.console.name=STDOUT\n"
            "appender.console.layout.type=PatternLayout\nappender.console.layout.pattern=[%d] %p %m (%c)%n\n"
            "rootLogger.level=info\nrootLogger.appenderRef.stdout.ref=STDOUT\n"
            "logger.statechange.name=state.change.logger\nlogger.statechange.level=warn\n"
        )
        logging_props = [f"-Dlog4j2.configurationFile={cfg}"]
    return [
        "java", "-Xms128m", heap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={kafka.root / 'logs'}", *logging_props,
        "-cp", f"{kafka_libs(kafka.version)}/*", main, *args,
    ]


def start_kafka(root: Path, nodes: int = 1, version: str | None = None, authorizer: bool = False,
                timeout: float = 180.0, mode: str = "kraft") -> Kafka:
    """Start ``nodes`` Kafka nodes (KRaft: combined broker+controller nodes, formatted first; ZooKeeper: a
    ZooKeeper server, then the brokers); on failure stop what started."""
    version = version or read_versions()["KAFKA_VERSION"]
    if mode not in MODES:
        raise EnvError(f"unknown Kafka mode {mode!r}: one of {', '.join(MODES)}")
    if mode == "zookeeper" and not version.startswith("3."):
        raise EnvError(f"Kafka {version} has no ZooKeeper mode (ZooKeeper was removed in Kafka 4.0): use a 3.x version")
    ensure_built("kafka", version)
    kafka = Kafka(root=root, version=version, nodes=nodes, password=secrets.token_urlsafe(18), authorizer=authorizer,
                  mode=mode)
    try:
        _start_kafka(kafka, timeout)
    except BaseException:
        stop_procs(kafka.procs)
        raise
    return kafka


def _start_kafka(kafka: Kafka, timeout: float) -> None:
    root, nodes = kafka.root, kafka.nodes
    pki = root / "pki"
    make_pki(pki)
    all_ports = free_ports(len(LISTENERS) * nodes + 1)
    kafka.zookeeper_port = all_ports.pop()
    kafka.ports = [dict(zip(LISTENERS, all_ports[i * 4:(i + 1) * 4], strict=True)) for i in range(nodes)]
    for node in range(1, nodes + 1):
        data = root / "data" / f"kafka-{node}"
        data.mkdir(parents=True, exist_ok=True)
        props = root / f"kafka-{node}.properties"
        props.write_text(_broker_properties(kafka, node, data, pki))
        props.chmod(0o600)
    if kafka.mode == "kraft":
        _format_storage(kafka)
    else:
        _start_zookeeper(kafka, timeout)
        _add_scram_users_in_zookeeper(kafka)
    for node in range(1, nodes + 1):
        kafka.procs.append(start_kafka_node(kafka, node))
    for proc in kafka.procs:
        if proc.exe_hint == "kafka.Kafka":
            wait_for(proc, lambda p=proc: kafka_started(p), "'Kafka Server started' (or 'started') in its log", timeout)


def start_kafka_node(kafka: Kafka, node: int) -> Proc:
    """Start one Kafka node of ``kafka`` from its properties file (the caller waits for ``kafka_started``)."""
    # $KTO_KAFKA_HEAP: a broker's heap (512m; the benchmark's 10,000 topics with lag collection need more).
    heap = f"-Xmx{os.environ.get('KTO_KAFKA_HEAP') or '512m'}"
    proc = spawn("kafka", _kafka_java(kafka, "kafka.Kafka", [str(kafka.root / f"kafka-{node}.properties")], heap),
                 kafka.root / "logs" / f"kafka-{node}.log")
    proc.name = f"kafka-{node}"
    return proc


def kafka_started(proc: Proc) -> bool:
    """A KRaft node logs "Kafka Server started"; a ZooKeeper-mode broker "[KafkaServer id=N] started"."""
    text = Path(proc.log).read_text(errors="replace")
    return "Kafka Server started" in text or "] started (kafka.server.KafkaServer)" in text


def _scram_credentials(kafka: Kafka) -> list[str]:
    return [f"SCRAM-SHA-{bits}=[name={kafka.username},password={kafka.password}]" for bits in (256, 512)]


def _format_storage(kafka: Kafka) -> None:
    """KRaft: format each node's log directory with the cluster id and the admin's SCRAM credentials."""
    cluster_id = _kafka_uuid()
    for node in range(1, kafka.nodes + 1):
        props = kafka.root / f"kafka-{node}.properties"
        fmt_args = ["format", "-t", cluster_id, "-c", str(props), "--ignore-formatted"]
        for s in _scram_credentials(kafka):
            fmt_args += ["--add-scram", s]
        r = subprocess.run(_kafka_java(kafka, "kafka.tools.StorageTool", fmt_args, heap="-Xmx256m"),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise EnvError(f"kafka-{node}: formatting storage failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def _start_zookeeper(kafka: Kafka, timeout: float) -> None:
    """A standalone ZooKeeper server from the jars Kafka 3.x depends on, as its own process (stopped by pid
    after the brokers: ``stop_procs`` goes in reverse order)."""
    data = kafka.root / "data" / "zookeeper"
    data.mkdir(parents=True, exist_ok=True)
    argv = _kafka_java(kafka, ZOOKEEPER_MAIN, [str(kafka.zookeeper_port), str(data)], heap="-Xmx256m")
    # No admin HTTP server (it would bind 8080) and no four-letter words but the one the readiness check uses.
    argv[1:1] = ["-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=srvr"]
    proc = spawn("zookeeper", argv, kafka.root / "logs" / "zookeeper.log")
    proc.exe_hint = ZOOKEEPER_MAIN
    kafka.procs.append(proc)
    wait_for(proc, lambda: _zookeeper_serving(kafka.zookeeper_port), f"ZooKeeper to serve on {kafka.zookeeper}",
             timeout)


def _zookeeper_serving(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"srvr")
        return b"Mode:" in conn.recv(4096)


def _add_scram_users_in_zookeeper(kafka: Kafka) -> None:
    """ZooKeeper mode: the admin's SCRAM credentials go into ZooKeeper before the brokers start (kafka-configs
    --zookeeper, which Kafka 3.x keeps for exactly this bootstrap)."""
    config = ",".join(f"SCRAM-SHA-{bits}=[password={kafka.password}]" for bits in (256, 512))
    args = ["--zookeeper", kafka.zookeeper, "--alter", "--add-config", config, "--entity-type", "users",
            "--entity-name", kafka.username]
    r = subprocess.run(_kafka_java(kafka, "kafka.admin.ConfigCommand", args, heap="-Xmx256m"),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise EnvError(f"adding SCRAM credentials in ZooKeeper failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


# ---------------------------------------------------------------------------------------------
# The whole environment: up / down / env.sh
# ---------------------------------------------------------------------------------------------


def env_vars(kube: Kube | None, kafka: Kafka | None) -> dict[str, str]:
    v: dict[str, str] = {}
    if kube:
        v |= {
            "KUBECONFIG": str(kube.kubeconfig),
            "KTO_APISERVER_URL": kube.url,
            "KTO_ADMIN_TOKEN": kube.token,
            "KTO_ETCD_URL": f"http://127.0.0.1:{kube.etcd_port}",
        }
    if kafka:
        v |= {
            "KTO_KAFKA_VERSION": kafka.version,
            "KTO_KAFKA_NODES": str(kafka.nodes),
            "KTO_KAFKA_AUTHORIZER": "true" if kafka.authorizer else "false",
            "KTO_KAFKA_MODE": kafka.mode,
            "KTO_BOOTSTRAP_PLAINTEXT": kafka.bootstrap("PLAINTEXT"),
            "KTO_BOOTSTRAP_SASL": kafka.bootstrap("SASL_PLAINTEXT"),
            "KTO_BOOTSTRAP_SASL_SSL": kafka.bootstrap("SASL_SSL"),
            "KTO_SCRAM_USERNAME": kafka.username,
            "KTO_SCRAM_PASSWORD": kafka.password,
            "KTO_PLAIN_USERNAME": kafka.username,
            "KTO_PLAIN_PASSWORD": kafka.password,
            "KTO_CA_FILE": str(kafka.root / "pki" / "ca.crt"),
        }
    return v


def _tool_path() -> str:
    dirs = [str(kubernetes_bin("kubectl").parent), str(helm_bin().parent)]
    return ":".join(dirs)


def write_env_file(root: Path, variables: dict[str, str]) -> Path:
    lines = ["# Written by hack/env.py up; source it to use the running local environment.",
             f"export KTO_ENV_DIR={shlex.quote(str(root))}"]
    lines += [f"export {k}={shlex.quote(val)}" for k, val in variables.items()]
    lines.append(f'export PATH={shlex.quote(_tool_path())}:"$PATH"')
    path = root / "env.sh"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def read_env_file(path: Path) -> dict[str, str]:
    """The exported variables of an env.sh (without PATH)."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and not line.startswith("export PATH="):
            key, value = line[len("export "):].split("=", 1)
            out[key] = shlex.split(value)[0] if value else ""
    return out


def save_state(root: Path, procs: list[Proc]) -> None:
    (root / "state.json").write_text(json.dumps([p.__dict__ for p in procs], indent=2))


def load_state(root: Path) -> list[Proc]:
    try:
        return [Proc(**p) for p in json.loads((root / "state.json").read_text())]
    except (OSError, ValueError):
        return []


def is_running(root: Path) -> bool:
    procs = load_state(root)
    return bool(procs) and all(p.is_alive() for p in procs) and (root / "env.sh").exists()


def stop_procs(procs: list[Proc]) -> None:
    # Kafka first (it may talk to nothing else), then the apiserver, then etcd: reverse start order.
    for p in reversed(procs):
        p.stop()


def down(root: Path) -> None:
    for p in reversed(load_state(root)):
        if p.is_alive():
            say(f"stopping {p.name} (pid {p.pid})")
            p.stop()
    for name in ("state.json", "env.sh"):
        (root / name).unlink(missing_ok=True)


def up(root: Path, kafka_nodes: int = 1, kafka_version: str | None = None, authorizer: bool = False,
       with_kube: bool = True, with_kafka: bool = True, kafka_mode: str = "kraft") -> dict[str, str]:
    """Start the environment under ``root``; return its variables. Stops what it started on failure."""
    if load_state(root):
        down(root)
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("data", "logs"):
        subprocess.run(["rm", "-rf", str(root / sub)], check=True)
    started = time.monotonic()
    procs: list[Proc] = []
    kube = kafka = None
    try:
        if with_kube:
            kube = start_kube(root)
            procs += kube.procs
            save_state(root, procs)
            say(f"kube-apiserver ready at {kube.url}")
        if with_kafka:
            kafka = start_kafka(root, nodes=kafka_nodes, version=kafka_version, authorizer=authorizer,
                                mode=kafka_mode)
            procs += kafka.procs
            save_state(root, procs)
            say(f"kafka {kafka.version} ({kafka.mode}) ready: {kafka.nodes} node(s), "
                f"PLAINTEXT {kafka.bootstrap('PLAINTEXT')}")
    except BaseException:
        stop_procs(procs)
        (root / "state.json").unlink(missing_ok=True)
        raise
    variables = env_vars(kube, kafka)
    write_env_file(root, variables)
    say(f"environment up in {time.monotonic() - started:.1f}s; source {root / 'env.sh'}")
    return variables


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
