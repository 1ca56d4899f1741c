"""The local environment's pure pieces: versions, env.sh, broker configuration."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from tests.support.env import localenv


def test_versions_are_pinned() -> None:
    versions = localenv.read_versions()
    for key in ("KUBERNETES_VERSION", "ETCD_VERSION", "HELM_VERSION", "KAFKA_VERSION", "KAFKA_VERSION_3X"):
        assert versions[key][0].isdigit(), key
    assert versions["KAFKA_VERSION"].startswith("4.1.")
    assert versions["KAFKA_VERSION_3X"].startswith("3.9.")


def test_env_file_round_trips_and_sources(tmp_path: Path) -> None:
    values = {"KTO_SCRAM_PASSWORD": "p a$s'w\"rd", "KUBECONFIG": "/x y/kubeconfig"}
    path = localenv.write_env_file(tmp_path, values)
    assert localenv.read_env_file(path) == {"KTO_ENV_DIR": str(tmp_path), **values}
    out = subprocess.run(["bash", "-c", f"source {shlex.quote(str(path))}; printf %s \"$KTO_SCRAM_PASSWORD\""],
                         capture_output=True, text=True, check=True).stdout
    assert out == values["KTO_SCRAM_PASSWORD"]


def test_three_node_broker_properties(tmp_path: Path) -> None:
    kafka = localenv.Kafka(root=tmp_path, version="4.1.2", nodes=3, password="pw", authorizer=True)
    kafka.ports = [{"PLAINTEXT": 10 + i, "SASL_PLAINTEXT": 20 + i, "SASL_SSL": 30 + i, "CONTROLLER": 40 + i}
                   for i in range(3)]
    props = dict(line.split("=", 1) for line in
                 localenv._broker_properties(kafka, 2, tmp_path / "d", tmp_path / "pki").splitlines())
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:40,2@127.0.0.1:41,3@127.0.0.1:42"
    assert props["listeners"] == ("PLAINTEXT://127.0.0.1:11,SASL_PLAINTEXT://127.0.0.1:21,"
                                  "SASL_SSL://127.0.0.1:31,CONTROLLER://127.0.0.1:41")
    assert "CONTROLLER" not in props["advertised.listeners"]
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["super.users"] == "User:admin;User:ANONYMOUS"
    assert 'user_admin="pw"' in props["listener.name.sasl_ssl.plain.sasl.jaas.config"]


def test_free_ports_are_distinct() -> None:
    ports = localenv.free_ports(12)
    assert len(set(ports)) == 12
    assert all(1024 < p < 65536 for p in ports)
