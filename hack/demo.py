#!/usr/bin/env python3
"""`make demo`: a local control plane with real Kafka, kto running, and the Media Gateway topics applied.

Starts the environment (or reuses the running one), installs the CRDs, starts kto in the background,
applies the Media Gateway's development overlay (manifests/examples/media-gateway/overlays/development, rendered
with `kubectl kustomize`; its KafkaCluster pointed at the local SASL listener, its Secret filled with the local
SCRAM credentials), waits until every topic is Ready, then prints what Kubernetes and Kafka each report.
`make env-down` stops everything, kto included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localenv

OVERLAY = localenv.REPO / "manifests" / "examples" / "media-gateway" / "overlays" / "development"
NAMESPACE = "media-gateway"


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run([str(localenv.kubernetes_bin("kubectl")), *args], input=stdin, text=True,
                            capture_output=True, env={**os.environ, **env})
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def start_kto(root: Path, env: dict[str, str]) -> localenv.Proc:
    procs = [p for p in localenv.load_state(root) if p.name != "kto" or p.is_alive()]
    for p in procs:
        if p.name == "kto":
            localenv.say(f"kto already running (pid {p.pid}); restarting it with this checkout's code")
            p.stop()
    procs = [p for p in procs if p.name != "kto"]
    health, metrics = localenv.free_ports(2)
    kto = localenv.spawn("kto", [str(localenv.REPO / ".venv" / "bin" / "kto"), "run", "--health-address",
                                 "127.0.0.1", "--health-port", str(health), "--metrics-port", str(metrics)],
                         root / "logs" / "kto.log", env={"KUBECONFIG": env["KUBECONFIG"]})
    localenv.save_state(root, [*procs, kto])

    def healthy() -> bool:
        """kto leads (it holds its Lease) and has started."""
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2) as r:
            body = json.loads(r.read())
            return r.status == 200 and body["leader"] and body["started"]

    localenv.wait_for(kto, healthy, f"GET http://127.0.0.1:{health}/healthz", 60)
    localenv.say(f"kto running (pid {kto.pid}), health :{health}/healthz, metrics :{metrics}/metrics")
    return kto


def render_overlay(env: dict[str, str]) -> list[dict]:
    """The development overlay as `kubectl apply -k` would apply it, pointed at the local Kafka."""
    docs = [d for d in yaml.safe_load_all(kubectl(env, "kustomize", str(OVERLAY))) if d]
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["stringData"] = {"username": env["KTO_SCRAM_USERNAME"], "password": env["KTO_SCRAM_PASSWORD"]}
        if doc["kind"] == "KafkaCluster":
            doc["spec"]["bootstrapServers"] = env["KTO_BOOTSTRAP_SASL"].split(",")
    return docs


def kafka_report(env: dict[str, str], topics: list[str]) -> str:
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": env["KTO_BOOTSTRAP_SASL"], "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": env["KTO_SCRAM_USERNAME"],
                         "sasl.password": env["KTO_SCRAM_PASSWORD"]})
    described = admin.describe_topics(TopicCollection(topics), request_timeout=15)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    configs = admin.describe_configs(resources, request_timeout=15)
    lines = [f"{'TOPIC':24} {'PARTITIONS':>10} {'REPLICAS':>8} {'RETENTION.MS':>14} {'DAYS':>5}"]
    for topic, res in zip(topics, resources, strict=True):
        desc = described[topic].result(timeout=20)
        retention = configs[res].result(timeout=20)["retention.ms"].value
        lines.append(f"{topic:24} {len(desc.partitions):>10} {len(desc.partitions[0].replicas):>8} "
                     f"{retention:>14} {int(retention) // 86_400_000:>5}")
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    root = Path(os.environ.get("KTO_ENV_DIR", localenv.REPO / ".kto")).resolve()
    if localenv.is_running(root):
        localenv.say(f"reusing the running environment in {root}")
    else:
        localenv.up(root, kafka_nodes=int(os.environ.get("KAFKA_NODES") or 1),
                    kafka_version=os.environ.get("KAFKA_VERSION") or None)
    env = localenv.read_env_file(root / "env.sh")
    kubectl(env, "apply", "--server-side", "--force-conflicts", "-f", str(localenv.REPO / "crds"))
    kubectl(env, "wait", "--for=condition=Established", "crd/kafkatopics.kafka.kto.dev",
            "crd/kafkaclusters.kafka.kto.dev", "--timeout=60s")
    start_kto(root, env)
    docs = render_overlay(env)
    kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    localenv.say("waiting for the KafkaCluster and the 17 KafkaTopics to be Ready")
    kubectl(env, "wait", "-n", NAMESPACE, "--for=condition=Ready", "kafkacluster/media-gateway", "--timeout=120s")
    kubectl(env, "wait", "-n", NAMESPACE, "--for=condition=Ready", "kafkatopics", "--all", "--timeout=180s")
    print("\n$ kubectl get kafkaclusters,kafkatopics -n media-gateway")
    print(kubectl(env, "get", "kafkaclusters,kafkatopics", "-n", NAMESPACE))
    topics = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "KafkaTopic")
    print("What Kafka itself reports (its own admin client, SASL_PLAINTEXT + SCRAM-SHA-512):")
    print(kafka_report(env, topics))
    print(f"""
Ready in {time.monotonic() - started:.0f}s. Try it:
  source {root / 'env.sh'}
  kubectl get kafkatopics -A
  kubectl patch kafkatopic -n media-gateway playback-events --type merge -p '{{"spec":{{"partitions":8}}}}'
  kubectl describe kafkatopic -n media-gateway playback-events
kto's log: {root / 'logs' / 'kto.log'}
Stop everything (kto, Kafka, the apiserver, etcd): make env-down""")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except localenv.EnvError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
