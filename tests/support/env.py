"""The environment the tests run against: reuse a running one, or start one for the session.

A running environment is found through ``$KTO_ENV_DIR`` or the checkout's ``.kto/`` (written by
``make env-up``). Without one, the session starts its own under a temporary folder and stops it,
by process id, at the end.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

import localenv  # noqa: E402


@dataclass(frozen=True)
class KafkaEndpoints:
    """How to reach one Kafka cluster of the environment."""

    nodes: int
    version: str
    plaintext: str
    sasl: str
    sasl_ssl: str
    username: str
    password: str
    ca_file: str
    authorizer: bool = False
    mode: str = "kraft"

    def client_config(self, listener: str = "PLAINTEXT", mechanism: str = "SCRAM-SHA-512",
                      password: str | None = None) -> dict[str, str]:
        """A confluent-kafka configuration for one of the three listeners."""
        if listener == "PLAINTEXT":
            return {"bootstrap.servers": self.plaintext}
        conf = {
            "bootstrap.servers": self.sasl if listener == "SASL_PLAINTEXT" else self.sasl_ssl,
            "security.protocol": listener,
            "sasl.mechanism": mechanism,
            "sasl.username": self.username,
            "sasl.password": self.password if password is None else password,
        }
        if listener == "SASL_SSL":
            conf["ssl.ca.location"] = self.ca_file
        return conf


@dataclass
class LocalEnv:
    """The running environment: the apiserver (as admin) and the Kafka cluster(s)."""

    root: Path
    variables: dict[str, str]
    kafka: KafkaEndpoints
    owned_procs: list[localenv.Proc] = field(default_factory=list)

    @property
    def kubeconfig(self) -> str:
        return self.variables["KUBECONFIG"]

    @property
    def apiserver_url(self) -> str:
        return self.variables["KTO_APISERVER_URL"]

    @property
    def ca_file(self) -> str:
        return str(self.root / "pki" / "ca.crt")

    def kubectl(self) -> list[str]:
        return [str(localenv.kubernetes_bin("kubectl")), "--kubeconfig", self.kubeconfig]

    def stop(self) -> None:
        localenv.stop_procs(self.owned_procs)


def endpoints_from(variables: dict[str, str]) -> KafkaEndpoints:
    return KafkaEndpoints(
        nodes=int(variables["KTO_KAFKA_NODES"]),
        version=variables["KTO_KAFKA_VERSION"],
        plaintext=variables["KTO_BOOTSTRAP_PLAINTEXT"],
        sasl=variables["KTO_BOOTSTRAP_SASL"],
        sasl_ssl=variables["KTO_BOOTSTRAP_SASL_SSL"],
        username=variables["KTO_SCRAM_USERNAME"],
        password=variables["KTO_SCRAM_PASSWORD"],
        ca_file=variables["KTO_CA_FILE"],
        authorizer=variables.get("KTO_KAFKA_AUTHORIZER") == "true",
        mode=variables.get("KTO_KAFKA_MODE") or "kraft",
    )


def running_env_dir() -> Path | None:
    """The folder of an environment started by ``make env-up`` that is still running, if any."""
    candidates = [Path(os.environ["KTO_ENV_DIR"])] if os.environ.get("KTO_ENV_DIR") else [REPO / ".kto"]
    for root in candidates:
        if localenv.is_running(root):
            return root
    return None


def acquire_env(tmp_root: Path) -> LocalEnv:
    """Reuse the running environment, or start a single-node one under ``tmp_root``."""
    root = running_env_dir()
    if root is not None:
        variables = localenv.read_env_file(root / "env.sh")
        return LocalEnv(root=root, variables=variables, kafka=endpoints_from(variables))
    kube = localenv.start_kube(tmp_root)
    try:
        kafka = localenv.start_kafka(tmp_root, nodes=1, version=os.environ.get("KAFKA_VERSION") or None,
                                     mode=os.environ.get("KAFKA_MODE") or "kraft")
    except BaseException:
        localenv.stop_procs(kube.procs)
        raise
    variables = localenv.env_vars(kube, kafka)
    localenv.write_env_file(tmp_root, variables)
    return LocalEnv(root=tmp_root, variables=variables, kafka=endpoints_from(variables),
                   owned_procs=kube.procs + kafka.procs)


def start_kafka_cluster(tmp_root: Path, nodes: int, authorizer: bool = False, version: str | None = None,
                        mode: str = "kraft") -> tuple[KafkaEndpoints, list]:
    """A separate Kafka cluster for tests that need another shape (three nodes, an authorizer, a version, a mode)."""
    kafka = localenv.start_kafka(tmp_root, nodes=nodes, version=version or os.environ.get("KAFKA_VERSION") or None,
                                 authorizer=authorizer, mode=mode)
    return endpoints_from(localenv.env_vars(None, kafka)), kafka.procs
