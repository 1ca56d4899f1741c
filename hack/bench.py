#!/usr/bin/env python3
"""`make bench`: how fast kto converges N topics, what it costs idle, and how close it is to the floors.

For each N: start kto, create N KafkaTopics at once (1 partition, replication factor 1) and time until all
are Ready; stay idle for a few resync intervals and count what kto costs (API server requests by verb,
Kafka admin requests, CPU, memory); delete them all and time it. CPU seconds of kto, kube-apiserver, etcd and
Kafka are measured over each phase. Then, with kto stopped, the floors (--floors): the status-only floor (the
same N topics created by direct batched AdminClient calls, plus N direct status patches) and the correct floor
(an in-process ideal operator: finalizer, batched CreateTopics, status, fed as the N objects are created).
Reports tables, a JSON file, optionally merged into an existing one (--merge), and (with --markdown)
docs/benchmarks.md rendered from it.

    .venv/bin/python hack/bench.py --sizes 100,1000,10000 [--json bench-results/latest.json] [--markdown]
    .venv/bin/python hack/bench.py --sizes 50000 --floors none --merge docs/benchmarks.json --markdown

With --lag-interval S, after the idle phase each N also measures the consumer-lag and topic-size collection
(kto restarted with --lag-interval S, one message per topic, 3 consumer groups committed on every topic): kto's
CPU seconds and Kafka admin requests per collection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localenv

REPO = localenv.REPO
GROUP, VERSION = "kafka.kto.dev", "v1alpha1"
CONCURRENCY = 16  # client threads creating objects / patching status (kto's own status concurrency too)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Clients
# ------------------------------------------------------------------------------------------------


class Kube:
    def __init__(self, env: dict[str, str]):
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=env["KUBECONFIG"], client_configuration=cfg)
        cfg.connection_pool_maxsize = CONCURRENCY * 4  # the correct floor's three stages
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.objects = client.CustomObjectsApi(self.api)
        self.env = env

    def apiserver_requests(self) -> dict[str, float]:
        """apiserver_request_total summed by verb (all resources), and by verb for kto's resources."""
        req = urllib.request.Request(f"{self.env['KTO_APISERVER_URL']}/metrics",
                                     headers={"Authorization": f"Bearer {self.env['KTO_ADMIN_TOKEN']}"})
        import ssl

        ctx = ssl.create_default_context(cafile=self.env["KTO_CA_FILE"])
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            value = float(line.rsplit(" ", 1)[1])
            out[f"all:{labels.get('verb')}"] = out.get(f"all:{labels.get('verb')}", 0) + value
            if labels.get("resource") in ("kafkatopics", "kafkaclusters", "events", "secrets", "configmaps"):
                key = f"kto:{labels.get('verb')}"
                out[key] = out.get(key, 0) + value
        return out


def writes_of(requests: dict[str, int]) -> int:
    """The writes among ``apiserver_requests`` deltas on kto's resources (and its ledger's ConfigMaps)."""
    return sum(v for k, v in requests.items()
               if k.startswith("kto:") and k[4:] in ("POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE"))


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    return {k: int(after.get(k, 0) - before.get(k, 0)) for k in sorted(set(after) | set(before))
            if after.get(k, 0) - before.get(k, 0) > 0}


def kafka_admin(env: dict[str, str]):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": env["KTO_BOOTSTRAP_PLAINTEXT"]})


def proc_stats(pid: int) -> dict[str, float]:
    """CPU seconds, resident and peak resident memory (MiB) of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    out = {"cpu_s": (int(stat[11]) + int(stat[12])) / ticks}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            out["rss_mib"] = int(line.split()[1]) / 1024
        if line.startswith("VmHWM:"):
            out["peak_rss_mib"] = int(line.split()[1]) / 1024
    return out


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


CPU_GROUPS = ("kto", "kube-apiserver", "etcd", "kafka")  # "kafka": every broker (and ZooKeeper) process


def process_groups(root: Path, kto_pid: int | None) -> dict[str, list[int]]:
    """The pids of each CPU group: kto, the environment's processes (localenv's state), and the bench itself
    (its client threads; in the correct floor also the in-process ideal operator)."""
    groups: dict[str, list[int]] = {g: [] for g in CPU_GROUPS}
    if kto_pid:
        groups["kto"].append(kto_pid)
    for p in localenv.load_state(root):
        group = "kafka" if p.name.startswith("kafka") or p.name == "zookeeper" else p.name
        if group in groups:
            groups[group].append(p.pid)
    groups["bench"] = [os.getpid()]
    return groups


class CpuMeter:
    """CPU seconds per group over a phase: ``CpuMeter(root, pid)`` at its start, ``.stop()`` at its end."""

    def __init__(self, root: Path, kto_pid: int | None = None):
        self.groups = process_groups(root, kto_pid)
        self.before = self._snapshot()

    def _snapshot(self) -> dict[str, float]:
        return {g: sum(process_cpu_s(pid) for pid in pids) for g, pids in self.groups.items()}

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        return {g: round(after[g] - self.before[g], 2) for g in after}


def kto_metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        return r.read().decode()


def kto_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of one metric in a scrape, with its labels."""
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            out.append((labels, float(line.rsplit(" ", 1)[1])))
    return out


# ------------------------------------------------------------------------------------------------
# kto
# ------------------------------------------------------------------------------------------------


class Kto:
    def __init__(self, env: dict[str, str], logdir: Path):
        self.env = env
        self.health, self.metrics = localenv.free_ports(2)
        self.log = logdir / "kto.log"
        self.proc: subprocess.Popen | None = None
        # Lag collection is measured on its own (--lag-interval): off in the other phases.
        self.args: list[str] = ["--lag-interval", "0"]

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kto", "run", "--health-address", "127.0.0.1", "--health-port",
                 str(self.health), "--metrics-port", str(self.metrics), *self.args],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "KUBECONFIG": self.env["KUBECONFIG"]})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
                    if r.status == 200 and body["leader"] and body["started"]:  # leads, and has started
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"kto did not become healthy; see {self.log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


# ------------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------------


def topic_body(name: str, cluster: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaTopic", "metadata": {"name": name},
            "spec": {"clusterRef": {"name": cluster}, "partitions": 1, "replicationFactor": 1}}


class ReadyWatcher:
    """Counts Ready topics of a namespace from a watch stream (no polling of big lists)."""

    def __init__(self, kube: Kube, ns: str):
        self.kube, self.ns = kube, ns
        self.ready: set[str] = set()
        self.present: set[str] = set()
        self.changed = threading.Condition()
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _is_ready(obj: dict) -> bool:
        conds = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def _relist(self) -> str:
        """Every topic of the namespace, by pages (at the start, and if the watch's version expired)."""
        present: set[str] = set()
        ready: set[str] = set()
        cont = None
        while True:
            page = self.kube.objects.list_namespaced_custom_object(GROUP, VERSION, self.ns, "kafkatopics",
                                                                  limit=500, _continue=cont)
            for obj in page["items"]:
                present.add(obj["metadata"]["name"])
                if self._is_ready(obj):
                    ready.add(obj["metadata"]["name"])
            cont = page["metadata"].get("continue")
            if not cont:
                break
        with self.changed:
            self.present, self.ready = present, ready
            self.changed.notify_all()
        return page["metadata"]["resourceVersion"]

    def _apply(self, kind: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        with self.changed:
            if kind == "DELETED":
                self.present.discard(name)
                self.ready.discard(name)
            else:
                self.present.add(name)
                if self._is_ready(obj):
                    self.ready.add(name)
                else:
                    self.ready.discard(name)
            self.changed.notify_all()

    def _run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        rv = self._relist()
        while not self._stop:
            w = watch.Watch()
            try:
                for ev in w.stream(self.kube.objects.list_namespaced_custom_object, GROUP, VERSION, self.ns,
                                   "kafkatopics", resource_version=rv, timeout_seconds=60,
                                   allow_watch_bookmarks=True):
                    rv = ev["object"]["metadata"]["resourceVersion"]
                    if ev["type"] != "BOOKMARK":
                        self._apply(ev["type"], ev["object"])
                    if self._stop:
                        return
            except Exception as exc:  # noqa: BLE001 - a broken watch is restarted from the last version
                if isinstance(exc, ApiException) and exc.status == 410:
                    log("watch: version expired, listing again")
                    rv = self._relist()
                    continue
                log(f"watch restarted: {type(exc).__name__}")
                time.sleep(0.5)

    def wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"timed out waiting for {what} (ready {len(self.ready)}, "
                                     f"present {len(self.present)})")
                self.changed.wait(min(left, 1.0))

    def stop(self) -> None:
        self._stop = True


def create_all(kube: Kube, ns: str, bodies: list[dict]) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda b: kube.objects.create_namespaced_custom_object(GROUP, VERSION, ns, "kafkatopics", b),
                      bodies))
    return time.monotonic() - started


def delete_all(kube: Kube, ns: str, names: list[str]) -> None:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda n: kube.objects.delete_namespaced_custom_object(GROUP, VERSION, ns, "kafkatopics", n),
                      names))


def setup_namespace(kube: Kube, env: dict[str, str], ns: str, resync: int) -> None:
    kube.core.create_namespace({"metadata": {"name": ns}})
    kube.objects.create_namespaced_custom_object(GROUP, VERSION, ns, "kafkaclusters", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaCluster", "metadata": {"name": "bench"},
        "spec": {"bootstrapServers": env["KTO_BOOTSTRAP_PLAINTEXT"].split(","),
                 "resyncIntervalSeconds": resync}})


def topic_names(prefix: str, n: int, ns: str) -> list[str]:
    """N unique names: the index zero-padded to 5 digits (wider beyond 99,999), the run's namespace suffix."""
    width = max(5, len(str(n - 1)))
    return [f"{prefix}{n}-{i:0{width}d}-{ns[-6:]}" for i in range(n)]


def wait_cluster_status(kube: Kube, ns: str, predicate, timeout: float, what: str) -> bool:
    """Poll the bench KafkaCluster's status until ``predicate(status)``; log (not fail) on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = kube.objects.get_namespaced_custom_object(GROUP, VERSION, ns, "kafkaclusters", "bench")
        if predicate(got.get("status") or {}):
            return True
        time.sleep(1)
    log(f"kto: {what} not seen within {timeout:.0f}s; going on")
    return False


def wait_timeout(n: int) -> float:
    """How long to wait for N topics to get Ready or gone: generous, growing with N."""
    return max(600, n * 0.2)


def run_kto(kube: Kube, env: dict[str, str], kto: Kto, n: int, resync: int, idle_intervals: int,
            root: Path, then=None) -> dict:
    """Create, idle, (``then(ns, names, idle)``, e.g. the lag measurement), delete."""
    ns = f"bench-kto-{n}-{int(time.time())}"
    setup_namespace(kube, env, ns, resync)
    names = topic_names("b", n, ns)
    watcher = ReadyWatcher(kube, ns)
    # The empty baseline: kto healthy, its cluster probed, no topic yet.
    wait_cluster_status(kube, ns, lambda st: "topics" in st, resync + 60, "the cluster's first probe")
    baseline_rss = proc_stats(kto.proc.pid)["rss_mib"]
    peak = {"rss": 0.0}
    sampling = True

    def sample() -> None:
        while sampling:
            try:  # kto is restarted for the lag phase: the old process may be exiting (no VmRSS) or gone
                peak["rss"] = max(peak["rss"], proc_stats(kto.proc.pid).get("rss_mib", 0.0))
            except FileNotFoundError:
                pass
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log(f"kto: creating {n} KafkaTopics (baseline RSS {baseline_rss:.0f} MiB)")
    cpu = {}
    meter = CpuMeter(root, kto.proc.pid)
    before_create = kube.apiserver_requests()
    started = time.monotonic()
    apply_s = create_all(kube, ns, [topic_body(name, "bench") for name in names])
    watcher.wait(lambda: len(watcher.ready) >= n, timeout=wait_timeout(n), what=f"{n} topics Ready")
    ready_s = time.monotonic() - started
    cpu["create"] = meter.stop()
    create_writes = writes_of(delta(kube.apiserver_requests(), before_create))
    log(f"kto: {n} Ready in {ready_s:.1f}s (creating the objects took {apply_s:.1f}s); CPU s {cpu['create']}; "
        f"API writes {create_writes} ({create_writes / n:.2f} per topic, the client's create included)")
    in_kafka = len(set(names) & set(kafka_admin(env).list_topics(timeout=max(60, n * 0.01)).topics))
    if in_kafka != n:
        raise SystemExit(f"only {in_kafka} of {n} Ready topics exist in Kafka")

    # The cluster writes the number of topics it serves at its next probe: let that happen first (a probe of
    # many topics takes a while: the timeout grows with N).
    wait_cluster_status(kube, ns, lambda st: st.get("topics") == n, resync * 2 + 60 + n * 0.01,
                        f"status.topics == {n}")
    # Idle: nothing changes for a few resync intervals.
    before_api = kube.apiserver_requests()
    before_kafka = kto_metric(kto.metrics, "kto_kafka_admin_requests_total")
    meter = CpuMeter(root, kto.proc.pid)
    idle_s = resync * idle_intervals
    log(f"kto: idle for {idle_s}s ({idle_intervals} resync intervals)")
    time.sleep(idle_s)  # the measurement window itself, not a wait for a condition
    cpu["idle"] = meter.stop()
    after = proc_stats(kto.proc.pid)
    api = delta(kube.apiserver_requests(), before_api)
    kafka_requests = kto_metric(kto.metrics, "kto_kafka_admin_requests_total") - before_kafka
    extra = then(ns, names, {"seconds": idle_s, "cpu_s": cpu["idle"]["kto"]}) if then else None

    log(f"kto: deleting {n} KafkaTopics")
    meter = CpuMeter(root, kto.proc.pid)
    started = time.monotonic()
    delete_all(kube, ns, names)
    watcher.wait(lambda: not watcher.present, timeout=wait_timeout(n), what="all topics deleted")
    delete_s = time.monotonic() - started
    cpu["delete"] = meter.stop()
    watcher.stop()
    sampling = False
    log(f"kto: deleted in {delete_s:.1f}s; CPU s {cpu['delete']}")
    return {
        "n": n, "in_kafka": in_kafka, "apply_s": round(apply_s, 2), "ready_s": round(ready_s, 2),
        "topics_per_s": round(n / ready_s, 1),
        "delete_s": round(delete_s, 2),
        "create_apiserver_writes": create_writes,
        "create_apiserver_writes_per_topic": round(create_writes / n, 3),
        "idle": {"seconds": idle_s, "resync_interval_s": resync, "apiserver_requests": api,
                 "apiserver_writes": writes_of(api),
                 "kafka_admin_requests": int(kafka_requests),
                 "kafka_admin_requests_per_resync": round(kafka_requests / idle_intervals, 1),
                 "kto_cpu_s": cpu["idle"]["kto"], "kto_rss_mib": round(after["rss_mib"], 1)},
        "cpu_s": cpu,
        "kto_cpu_s_per_1000_created": round(cpu["create"]["kto"] / n * 1000, 3),
        "kto_cpu_s_per_1000_deleted": round(cpu["delete"]["kto"] / n * 1000, 3),
        "kto_baseline_rss_mib": round(baseline_rss, 1),
        "kib_per_topic": round((after["rss_mib"] - baseline_rss) * 1024 / n, 1),
        "kto_peak_rss_mib": round(max(peak["rss"], after.get("peak_rss_mib", 0)), 1),
        **({"lag": extra} if extra else {}),
    }


# ------------------------------------------------------------------------------------------------
# Lag collection (kto run --lag-interval)
# ------------------------------------------------------------------------------------------------

LAG_GROUPS = 3  # consumer groups, each with a committed offset on every partition of the N topics
LAG_OPERATIONS = ("describe_log_dirs", "list_offsets", "list_consumer_groups", "list_group_offsets")


def prepare_lag(env: dict[str, str], ns: str, names: list[str]) -> None:
    """One message in each topic; LAG_GROUPS groups committed at offset 0 everywhere: a lag of 1 per topic."""
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
    from kafka.admin import KafkaAdminClient

    producer = Producer({"bootstrap.servers": env["KTO_BOOTSTRAP_PLAINTEXT"], "linger.ms": 50})
    for name in names:
        producer.produce(name, b"x" * 100)
    if producer.flush(120) != 0:
        raise SystemExit("producing one message per topic did not finish")
    admin = kafka_admin(env)
    reader = KafkaAdminClient(bootstrap_servers=env["KTO_BOOTSTRAP_PLAINTEXT"].split(","))
    try:
        for g in range(LAG_GROUPS):
            group = f"bench-{ns}-{g}"
            deadline = time.monotonic() + 120
            # On a fresh Kafka the first commit can vanish while __consumer_offsets is being created: until it shows.
            while committed_partitions(reader, group) < len(names):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the offsets of group {group} were not committed")
                request = ConsumerGroupTopicPartitions(group, [TopicPartition(n, 0, 0) for n in names])
                admin.alter_consumer_group_offsets([request], request_timeout=120)[group].result(180)
    finally:
        reader.close()


def committed_partitions(reader, group: str) -> int:
    try:
        return len(reader.list_group_offsets({group: None}).get(group, {}))
    except Exception as exc:  # noqa: BLE001 - e.g. the coordinator is not available yet: not committed yet
        log(f"lag: group {group} not readable yet: {type(exc).__name__}")
        return 0


def lag_counters(kto: Kto) -> dict[str, float]:
    """kto's lag counters and CPU, from one scrape (a scrape of N topics' lag series costs kto CPU too: the
    measurement scrapes once per half interval, about as often as Prometheus would)."""
    text = scrape(kto.metrics)
    ops: dict[str, float] = {}
    for labels, value in kto_samples(text, "kto_kafka_admin_requests_total"):
        ops[labels["api"]] = ops.get(labels["api"], 0) + value  # by Kafka API, not by port operation
    out = {op: ops.get(op, 0) for op in LAG_OPERATIONS}
    # A resync sends DescribeTopics and DescribeConfigs together; a lag collection sends DescribeTopics alone.
    out["describe_topics"] = ops.get("describe_topics", 0) - ops.get("describe_configs", 0)
    out["collections"] = sum(v for _, v in kto_samples(text, "kto_lag_collection_duration_seconds_count"))
    out["collection_s"] = sum(v for _, v in kto_samples(text, "kto_lag_collection_duration_seconds_sum"))
    sizes = kto_samples(text, "kto_topic_size_bytes")
    lags = kto_samples(text, "kto_consumer_group_lag")
    out["series"] = len(sizes) + len(lags)
    out["lag_sum"] = sum(v for _, v in lags)
    out["cpu_s"] = proc_stats(kto.proc.pid)["cpu_s"]
    return out


def lag_correct(counters: dict[str, float], n: int) -> bool:
    """The last collection saw every topic: N sizes and a lag of 1 per topic and group."""
    return counters["series"] == n + n * LAG_GROUPS and counters["lag_sum"] == n * LAG_GROUPS


def run_lag(env: dict[str, str], kto: Kto, ns: str, names: list[str], idle: dict, interval: float,
            collections: int) -> dict:
    """kto restarted with --lag-interval: its CPU and Kafka requests per collection of N topics, once steady.
    CPU net of the idle rate measured just before (the resyncs that run meanwhile)."""
    n = len(names)
    log(f"lag: {n} topics with one message each, {LAG_GROUPS} groups with a committed offset on each")
    prepare_lag(env, ns, names)
    kto.stop()
    kto.args = ["--lag-interval", str(interval)]
    kto.start()
    deadline = time.monotonic() + 600
    while not ((c := lag_counters(kto))["collections"] >= 2 and lag_correct(c, n)):
        if time.monotonic() > deadline:
            raise SystemExit("kto's lag collection never saw every topic")
        time.sleep(interval / 2)
    before, started = lag_counters(kto), time.monotonic()
    log(f"lag: measuring {collections} collections every {interval:g}s")
    while (after := lag_counters(kto))["collections"] < before["collections"] + collections:
        if time.monotonic() > started + collections * interval * 5 + 300:
            raise SystemExit("kto's lag collections stalled")
        time.sleep(interval / 2)
    window = time.monotonic() - started
    done = after["collections"] - before["collections"]
    requests = {op: int(after[op] - before[op]) for op in (*LAG_OPERATIONS, "describe_topics")}
    cpu = after["cpu_s"] - before["cpu_s"]
    net = cpu - idle["cpu_s"] / idle["seconds"] * window
    kto.stop()
    kto.args = ["--lag-interval", "0"]
    kto.start()
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "interval_s": interval, "groups": LAG_GROUPS,
            "collections": int(done), "window_s": round(window, 1),
            "kafka_requests": requests, "kafka_requests_per_collection": round(sum(requests.values()) / done, 1),
            "collection_s": round((after["collection_s"] - before["collection_s"]) / done, 2),
            "cpu_s": round(cpu, 2), "cpu_s_per_collection": round(max(net, 0) / done, 2)}


FINALIZER = "kto.dev/topic-protection"


def ready_status() -> dict:
    """The status a converged topic gets (what both floors patch)."""
    return {"status": {"observedGeneration": 1, "topicName": "x", "partitions": 1, "replicationFactor": 1,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled",
                                       "message": "topic is in sync", "observedGeneration": 1,
                                       "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]}}


def patch_status(kube: Kube, ns: str, name: str, status: dict) -> None:
    kube.objects.patch_namespaced_custom_object_status(GROUP, VERSION, ns, "kafkatopics", name, status,
                                                       _content_type="application/merge-patch+json")


def patch_finalizers(kube: Kube, ns: str, name: str, finalizers: list[str]) -> None:
    kube.objects.patch_namespaced_custom_object(GROUP, VERSION, ns, "kafkatopics", name,
                                                {"metadata": {"finalizers": finalizers}},
                                                _content_type="application/merge-patch+json")


def delete_kafka_topics(env: dict[str, str], names: list[str], batch: int = 1000) -> None:
    admin = kafka_admin(env)
    for i in range(0, len(names), batch):
        for f in admin.delete_topics(names[i:i + batch], operation_timeout=60).values():
            f.result(120)


def delete_namespace(kube: Kube, ns: str) -> None:
    try:  # not waited for: the objects are gone already
        kube.core.delete_namespace(ns)
    except Exception as exc:  # noqa: BLE001 - cleanup only
        log(f"deleting namespace {ns}: {type(exc).__name__}")


def run_floor(kube: Kube, env: dict[str, str], n: int, root: Path) -> dict:
    """No operator: N topics by batched AdminClient calls + N status patches through the API."""
    from confluent_kafka.admin import NewTopic

    ns = f"bench-floor-{n}-{int(time.time())}"
    setup_namespace(kube, env, ns, 3600)
    names = topic_names("f", n, ns)
    create_all(kube, ns, [topic_body(name, "bench") for name in names])  # not timed: the floor starts here
    admin = kafka_admin(env)
    meter = CpuMeter(root)
    started = time.monotonic()
    for i in range(0, n, 500):
        futures = admin.create_topics([NewTopic(t, 1, 1) for t in names[i:i + 500]], operation_timeout=60)
        for f in futures.values():
            f.result(120)
    kafka_s = time.monotonic() - started
    status = ready_status()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda t: patch_status(kube, ns, t, status), names))
    total_s = time.monotonic() - started
    cpu = meter.stop()
    log(f"floor: {n} topics in Kafka in {kafka_s:.1f}s, + status patches = {total_s:.1f}s; CPU s {cpu}")
    # Clean up: the Kafka topics, then the objects (no finalizers: kto never saw them).
    delete_kafka_topics(env, names, 500)
    delete_all(kube, ns, names)
    delete_namespace(kube, ns)
    return {"n": n, "kafka_s": round(kafka_s, 2), "ready_s": round(total_s, 2), "topics_per_s": round(n / total_s, 1),
            "cpu_s": cpu}


class IdealOperator:
    """What a correct operator must do at the least, in-process, fed each object as its create returns: its
    finalizer (a merge patch, CONCURRENCY threads), then the topic in Kafka (one CreateTopics per batch: a batch
    goes when 0.1 s has passed since its first name or at 1,000 names; one batch in flight, the next one
    gathering meanwhile), then the Ready status (CONCURRENCY threads)."""

    BATCH, WINDOW = 1000, 0.1

    def __init__(self, kube: Kube, env: dict[str, str], ns: str):
        self.kube, self.ns, self.admin = kube, ns, kafka_admin(env)
        self.status = ready_status()
        self.finalizers = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="finalizer")
        self.statuses = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="status")
        self.futures: list = []  # every patch's future: their errors are raised at the end
        self.pending: list[tuple[float, str]] = []  # finalized names waiting for a batch, with when they came
        self.cond = threading.Condition()
        self.creates_done = False
        self.batches = 0
        self.error: BaseException | None = None
        self.sender = threading.Thread(target=self._send_loop, daemon=True)
        self.sender.start()

    def created(self, name: str) -> None:
        """A create returned: patch its finalizer in."""
        self.futures.append(self.finalizers.submit(self._finalize, name))

    def _finalize(self, name: str) -> None:
        patch_finalizers(self.kube, self.ns, name, [FINALIZER])
        with self.cond:
            self.pending.append((time.monotonic(), name))
            self.cond.notify_all()

    def _next_batch(self) -> list[str] | None:
        with self.cond:
            while True:
                if len(self.pending) >= self.BATCH or (
                        self.pending and time.monotonic() - self.pending[0][0] >= self.WINDOW):
                    batch, self.pending = self.pending[:self.BATCH], self.pending[self.BATCH:]
                    return [name for _, name in batch]
                if self.creates_done and not self.pending:
                    return None
                self.cond.wait(self.WINDOW - (time.monotonic() - self.pending[0][0]) if self.pending else 1.0)

    def _send_loop(self) -> None:
        from confluent_kafka.admin import NewTopic

        try:
            while (batch := self._next_batch()) is not None:
                futures = self.admin.create_topics([NewTopic(t, 1, 1) for t in batch], operation_timeout=60)
                for f in futures.values():
                    f.result(120)
                self.batches += 1
                self.futures.extend(self.statuses.submit(patch_status, self.kube, self.ns, t, self.status)
                                    for t in batch)
        except BaseException as exc:  # noqa: BLE001 - raised in finish()
            self.error = exc

    def finish(self) -> None:
        """All creates have returned: wait for the finalizers, the batches, then the status patches."""
        self.finalizers.shutdown(wait=True)
        with self.cond:
            self.creates_done = True
            self.cond.notify_all()
        self.sender.join()
        self.statuses.shutdown(wait=True)
        if self.error:
            raise self.error
        for f in self.futures:
            f.result()


def run_correct_floor(kube: Kube, env: dict[str, str], n: int, root: Path) -> dict:
    """No kto: the bench creates the N objects as in kto's run and an in-process IdealOperator does the least
    a correct operator must (finalizer, batched CreateTopics, status); timed from the first create to the last
    status patch."""
    ns = f"bench-correct-{n}-{int(time.time())}"
    setup_namespace(kube, env, ns, 3600)
    names = topic_names("c", n, ns)
    bodies = [topic_body(name, "bench") for name in names]
    operator = IdealOperator(kube, env, ns)
    meter = CpuMeter(root)
    started = time.monotonic()

    def create(body: dict) -> None:
        kube.objects.create_namespaced_custom_object(GROUP, VERSION, ns, "kafkatopics", body)
        operator.created(body["metadata"]["name"])

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(create, bodies))
    apply_s = time.monotonic() - started
    operator.finish()
    ready_s = time.monotonic() - started
    cpu = meter.stop()
    log(f"correct floor: {n} topics in {ready_s:.1f}s ({operator.batches} CreateTopics; creating the objects "
        f"took {apply_s:.1f}s); CPU s {cpu}")
    # Clean up, untimed: the Kafka topics, then each object's finalizer and the object, then the namespace.
    delete_kafka_topics(env, names)

    def remove(name: str) -> None:
        patch_finalizers(kube, ns, name, [])
        kube.objects.delete_namespaced_custom_object(GROUP, VERSION, ns, "kafkatopics", name)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(remove, names))
    delete_namespace(kube, ns)
    return {"n": n, "apply_s": round(apply_s, 2), "ready_s": round(ready_s, 2),
            "topics_per_s": round(n / ready_s, 1), "kafka_batches": operator.batches, "cpu_s": cpu}


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def machine() -> dict:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    v = localenv.read_versions()
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(int(mem.split()[1]) / 1024 / 1024, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "kubernetes": v["KUBERNETES_VERSION"], "etcd": v["ETCD_VERSION"], "kafka": v["KAFKA_VERSION"]}


MISSING = "\u2013"  # en dash: a figure the row lacks (no floor at that size, a row older than the figure)


def get(row: dict, *path: str):
    """``row[path[0]][path[1]]...``, or None where any step is missing."""
    for key in path:
        if not isinstance(row, dict) or row.get(key) is None:
            return None
        row = row[key]
    return row


def fmt(value, spec: str = ".1f") -> str:
    return MISSING if value is None else format(value, spec)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def result_row(n: int, kto: dict, floor: dict | None, correct: dict | None, **info) -> dict:
    """One N's figures: kto's, the floors' (either may be skipped), the ratios, and ``info`` (date, machine...)."""
    row = {"n": n, **info, "kto": kto}
    if floor:
        row["floor"], row["ratio"] = floor, ratio(kto["ready_s"], floor["ready_s"])
    if correct:
        row["correct_floor"], row["ratio_correct"] = correct, ratio(kto["ready_s"], correct["ready_s"])
    return row


ROW_INFO = ("date", "machine", "resync_interval_s", "idle_intervals")  # what each row keeps from its own run


def merge_reports(old: dict, new: dict) -> dict:
    """``new``'s rows replace ``old``'s of the same N, ``old``'s other rows stay; every row keeps its own date,
    machine and idle settings (filled in from its report where an older row lacks them). A replaced row's lag
    figures stay if the new row has none."""
    def stamped(report: dict) -> dict[int, dict]:
        return {r["n"]: {**{k: report.get(k) for k in ROW_INFO}, **r} for r in report.get("results", [])}

    rows = stamped(old)
    for n, row in stamped(new).items():
        # A run without the lag measurement keeps the lag figures of the row it replaces (with their own date).
        lag = get(rows.get(n, {}), "kto", "lag")
        if lag and not get(row, "kto", "lag"):
            row = {**row, "kto": {**row["kto"], "lag": {"date": rows[n].get("date"), **lag}}}
        rows[n] = row
    merged = {**old, **new, "results": [rows[n] for n in sorted(rows)]}
    merged["notes"] = new.get("notes") or old.get("notes", "")
    return merged


def idle_cpu_per_resync(r: dict) -> float | None:
    idle = get(r, "kto", "idle") or {}
    if idle.get("kto_cpu_s") is None or not idle.get("seconds") or not idle.get("resync_interval_s"):
        return None
    return idle["kto_cpu_s"] / (idle["seconds"] / idle["resync_interval_s"])


def cpu_cell(cpu: dict | None, first: str = "kto") -> str:
    """'kto / apiserver / etcd / Kafka' CPU seconds of one phase (for a floor: the bench process first)."""
    if not cpu:
        return MISSING
    return " / ".join(fmt(cpu.get(g)) for g in (first, *CPU_GROUPS[1:]))


def time_rows(results: list[dict]) -> list[tuple[str, ...]]:
    rows = [("N", "apply s", "kto Ready s", "topics/s", "floor s", "correct floor s", "kto/floor",
             "kto/correct floor", "delete s", "delete/create")]
    for r in results:
        k = r["kto"]
        rows.append((str(r["n"]), fmt(k.get("apply_s")), fmt(k.get("ready_s")), fmt(k.get("topics_per_s"), ".0f"),
                     fmt(get(r, "floor", "ready_s")), fmt(get(r, "correct_floor", "ready_s")),
                     fmt(r.get("ratio"), ".2f"), fmt(r.get("ratio_correct"), ".2f"), fmt(k.get("delete_s")),
                     fmt(ratio(k.get("delete_s"), k.get("ready_s")), ".2f")))
    return rows


def cpu_rows(results: list[dict]) -> list[tuple[str, ...]]:
    rows = [("N", "kto CPU s/1,000 created", "kto CPU s/1,000 deleted", "create: kto / apiserver / etcd / Kafka",
             "delete: kto / apiserver / etcd / Kafka", "idle: kto / apiserver / etcd / Kafka",
             "floor: bench / apiserver / etcd / Kafka",
             "correct floor: bench / apiserver / etcd / Kafka", "idle CPU s/resync")]
    for r in results:
        k = r["kto"]
        rows.append((str(r["n"]), fmt(k.get("kto_cpu_s_per_1000_created"), ".2f"),
                     fmt(k.get("kto_cpu_s_per_1000_deleted"), ".2f"), cpu_cell(get(r, "kto", "cpu_s", "create")),
                     cpu_cell(get(r, "kto", "cpu_s", "delete")), cpu_cell(get(r, "kto", "cpu_s", "idle")),
                     cpu_cell(get(r, "floor", "cpu_s"), "bench"),
                     cpu_cell(get(r, "correct_floor", "cpu_s"), "bench"), fmt(idle_cpu_per_resync(r), ".2f")))
    return rows


def memory_rows(results: list[dict]) -> list[tuple[str, ...]]:
    rows = [("N", "idle API writes", "idle API reqs", "Kafka reqs/resync", "idle CPU s/resync", "baseline RSS MiB",
             "RSS MiB", "KiB/topic", "peak RSS MiB")]
    for r in results:
        k, idle = r["kto"], r["kto"].get("idle") or {}
        reqs = idle.get("apiserver_requests")
        rows.append((str(r["n"]), fmt(idle.get("apiserver_writes"), "d"),
                     fmt(sum(v for key, v in reqs.items() if key.startswith("kto:")) if reqs is not None else None,
                         "d"),
                     fmt(idle.get("kafka_admin_requests_per_resync")), fmt(idle_cpu_per_resync(r), ".2f"),
                     fmt(k.get("kto_baseline_rss_mib"), ".0f"), fmt(idle.get("kto_rss_mib"), ".0f"),
                     fmt(k.get("kib_per_topic"), ".1f"), fmt(k.get("kto_peak_rss_mib"), ".0f")))
    return rows


def lag_rows(results: list[dict]) -> list[tuple[str, ...]]:
    rows = [("N", "measured", "groups", "interval s", "collections", "Kafka reqs/collection", "collection s",
             "CPU s/collection")]
    for r in results:
        if g := get(r, "kto", "lag"):
            rows.append((str(r["n"]), g.get("date") or r.get("date") or MISSING, fmt(g.get("groups"), "d"),
                         fmt(g.get("interval_s"), "g"),
                         fmt(g.get("collections"), "d"), fmt(g.get("kafka_requests_per_collection")),
                         fmt(g.get("collection_s"), ".2f"), fmt(g.get("cpu_s_per_collection"), ".2f")))
    return rows


def render(rows: list[tuple[str, ...]], markdown: bool = False) -> str:
    """A table, right-aligned; with ``markdown`` a GitHub table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if not markdown:
        lines.insert(1, "-|-".join("-" * w for w in widths))
        return "\n".join(lines)
    lines.insert(1, " | ".join("-" * (w - 1) + ":" for w in widths))
    return "\n".join(f"| {line} |" for line in lines)


def table(results: list[dict]) -> str:
    parts = [render(time_rows(results)), render(cpu_rows(results)), render(memory_rows(results))]
    if len(lag := lag_rows(results)) > 1:
        parts.append(render(lag))
    return "\n\n".join(parts)


def describe_machine(m: dict | None) -> str:
    if not m:
        return "an unrecorded machine"
    return (f"{m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}, Python {m['python']}; "
            f"kube-apiserver {m['kubernetes']}, etcd {m['etcd']} and Kafka {m['kafka']}")


def provenance(results: list[dict]) -> str:
    """Where and when each row was measured: one bullet per machine, each N with its date and duration."""
    groups: dict[str, list[str]] = {}
    for r in results:
        when = ", ".join(x for x in (r.get("date"), f"{r['duration_min']} min" if r.get("duration_min") else None) if x)
        brokers = (r.get("machine") or {}).get("kafka_nodes", 1)
        when = ", ".join(x for x in (when, f"{brokers} brokers" if brokers > 1 else None) if x)
        groups.setdefault(describe_machine(r.get("machine")), []).append(f"{r['n']:,} ({when or 'undated'})")
    return "\n".join(f"- On {where}: N = {'; '.join(ns)}." for where, ns in groups.items())


def lag_section(results: list[dict]) -> str:
    rows = lag_rows(results)
    if len(rows) == 1:
        return ""
    return f"""## Consumer lag and topic size

`kto run --lag-interval`, measured after the idle phase with kto restarted to collect every *interval* seconds,
one message in each topic and *groups* consumer groups with a committed offset on every topic (`make bench` measures
it when asked: `BENCH_LAG_INTERVAL=10 make bench`):

{render(rows, markdown=True)}

- **Kafka reqs/collection**: admin calls kto sent per collection: one each of DescribeTopics, DescribeLogDirs,
  ListOffsets, ListGroups and OffsetFetch (each one request per broker, partition leader or group coordinator),
  whatever the number of topics; **collection s**: how long one collection took.
- **CPU s/collection**: kto's CPU seconds over the measured collections, less its idle CPU rate (the resyncs that
  ran meanwhile), per collection. It includes setting the series (N sizes, N end offsets, N x groups lags) and
  serving the bench's scrapes of them (one per half interval).

"""


def write_markdown(report: dict, path: Path) -> None:
    """docs/benchmarks.md, entirely from the report (the JSON is the source of truth)."""
    results = report["results"]
    text = f"""# Benchmarks

Figures from `hack/bench.py` (`make bench`; rows of other sizes merged in with `--merge`), with kube-apiserver,
etcd and Kafka (KRaft; one broker unless a row says more) on the same host, started by `hack/localenv.py`:

{provenance(results)}

## Creating and deleting

{render(time_rows(results), markdown=True)}

- **N**: KafkaTopics created at once (1 partition, replication factor 1), through the API with {CONCURRENCY}
  client threads; **apply s**: how long creating the objects took the client.
- **kto Ready s**: from the first create to the last topic Ready (watched, not polled); **topics/s** = N / that.
- **floor s** (status only): the same N objects created first (untimed), then the N topics by direct batched
  AdminClient calls (500 per request) plus N direct status patches ({CONCURRENCY} threads), no operator.
- **correct floor s**: the least a correct operator must do, timed like kto from the first create: the bench
  creates the N objects as above while an in-process ideal operator takes each as its create returns, patches
  its finalizer in ({CONCURRENCY} threads), creates the topics in Kafka with one CreateTopics per batch (a batch
  goes 0.1 s after its first topic or at 1,000 topics, one in flight at a time), then patches each status
  ({CONCURRENCY} threads); it ends with the last status patch.
- **kto/floor**, **kto/correct floor**: kto Ready s divided by each floor; {MISSING} where a floor was not run.
- **delete s**: deleting all N resources until they are gone (kto deletes the Kafka topics first);
  **delete/create** = delete s / kto Ready s.

## Where the CPU goes

{render(cpu_rows(results), markdown=True)}

- CPU seconds (utime + stime from `/proc`) of kto, kube-apiserver, etcd and the Kafka processes, over each phase:
  **create** (first create to all Ready), **delete** (first delete to all gone), **idle** (the idle phase below),
  and each floor's timed phase, where kto is stopped and the first figure is the bench process instead (its
  client threads, and in the correct floor the in-process ideal operator too; `bench` in the JSON).
  **kto CPU s/1,000 created** (deleted) = kto's CPU in the create (delete) phase per 1,000 topics.
- **idle CPU s/resync**: kto's CPU in the idle phase divided by the number of resync intervals in it.

## Idle and memory

{render(memory_rows(results), markdown=True)}

- **idle**: with the N topics in place and nothing changing, over a few resync intervals (each row's
  `idle_intervals` x `resync_interval_s` in the JSON; 3 x 30 s unless `--idle-intervals` and `--resync` say
  otherwise): API server requests on kto's resources
  (kafkatopics, kafkaclusters, events, secrets) from `apiserver_request_total`, of which writes; Kafka admin
  requests kto sent, per resync; kto's CPU seconds per resync.
- **baseline RSS**: kto's resident memory once healthy, with its KafkaCluster probed and no topic yet;
  **RSS**: at the end of the idle phase; **KiB/topic** = (RSS - baseline) / N; **peak RSS**: kto's peak
  resident memory during the run.

{lag_section(results)}Reproduce: `make bench` (100, 1,000 and 10,000 topics, both floors; merges its rows into
`docs/benchmarks.json` and regenerates this page), `make bench-50k` (50,000 topics, no floors, merged in the same
way) or `.venv/bin/python hack/bench.py --sizes 100,1000 --json /tmp/bench.json`. The figures of this page are in
`docs/benchmarks.json`; each run also writes its own to `bench-results/latest.json`.
"""
    if report.get("notes"):
        text += "\n## Notes\n\n" + report["notes"].strip() + "\n"
    path.write_text(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated N (empty: run nothing, only "
                        "--merge and --markdown)")
    parser.add_argument("--kafka-nodes", type=int, default=1,
                        help="brokers (the topics' replicas are spread over them); a broker keeps an open file per "
                             "partition, so 50,000 topics need more than one where the open-file limit is 20,000")
    parser.add_argument("--floors", choices=("both", "status", "correct", "none"), default="both",
                        help="which floors to measure after kto (none: e.g. at 50,000 topics)")
    parser.add_argument("--resync", type=int, default=30, help="resyncIntervalSeconds of the bench cluster")
    parser.add_argument("--idle-intervals", type=int, default=3)
    parser.add_argument("--json", default=str(REPO / "bench-results" / "latest.json"), help="this run's report")
    parser.add_argument("--merge", metavar="PATH", help="merge this run's rows into the JSON report PATH (rows of "
                        "the same N replaced, the others kept) and write it back; --markdown then renders it")
    parser.add_argument("--markdown", action="store_true", help="also write the page (docs/benchmarks.md)")
    parser.add_argument("--markdown-path", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--notes", default="", help="text for the Notes section (default: the merged report's)")
    parser.add_argument("--lag-interval", type=float, default=0,
                        help="also measure lag collection: kto restarted with this --lag-interval after the idle "
                             "phase, its CPU and Kafka requests per collection of the N topics (0: skip)")
    parser.add_argument("--lag-collections", type=int, default=5, help="collections measured")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, sizes: list[int]) -> list[dict]:
    """Start a fresh environment; for each N: kto's run, then the floors asked for."""
    root = Path(tempfile.mkdtemp(prefix="kto-bench-"))
    log(f"starting a fresh environment in {root}")
    # Answering DescribeConfigs and DescribeLogDirs for 10,000 topics at once exceeds the 512 MiB the tests give a
    # broker: the benchmark measures kto, so its broker gets room.
    os.environ.setdefault("KTO_KAFKA_HEAP", "1g")
    env = localenv.up(root, kafka_nodes=args.kafka_nodes)
    results = []
    kto = None
    try:
        subprocess.run([str(localenv.kubernetes_bin("kubectl")), "--kubeconfig", env["KUBECONFIG"], "apply",
                        "--server-side", "-f", str(REPO / "crds")], check=True, capture_output=True)
        subprocess.run([str(localenv.kubernetes_bin("kubectl")), "--kubeconfig", env["KUBECONFIG"], "wait",
                        "--for=condition=Established", "crd/kafkatopics.kafka.kto.dev", "--timeout=60s"],
                       check=True, capture_output=True)
        env = {**env, "KTO_CA_FILE": str(root / "pki" / "ca.crt")}
        kube = Kube(env)
        info = {"machine": {**machine(), "kafka_nodes": args.kafka_nodes}, "resync_interval_s": args.resync,
                "idle_intervals": args.idle_intervals}
        for n in sizes:
            started = time.monotonic()
            kto = Kto(env, root / "logs")
            kto.start()
            then = (lambda ns, names, idle, kto=kto: run_lag(env, kto, ns, names, idle, args.lag_interval,
                                                             args.lag_collections)) if args.lag_interval else None
            k = run_kto(kube, env, kto, n, args.resync, args.idle_intervals, root, then)
            kto.stop()
            floor = run_floor(kube, env, n, root) if args.floors in ("both", "status") else None
            correct = run_correct_floor(kube, env, n, root) if args.floors in ("both", "correct") else None
            results.append(result_row(n, k, floor, correct, date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                                      duration_min=round((time.monotonic() - started) / 60, 1), **info))
    finally:
        if kto is not None:
            kto.stop()
        localenv.down(root)
    return results


def main() -> int:
    args = parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    started = time.monotonic()
    results = measure(args, sizes) if sizes else []
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "resync_interval_s": args.resync, "idle_intervals": args.idle_intervals, "results": results,
              "duration_min": round((time.monotonic() - started) / 60), "notes": args.notes}
    if results:
        print(table(results))
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.json}")
    if args.merge:
        merged = Path(args.merge)
        old = json.loads(merged.read_text()) if merged.exists() else {}
        report = merge_reports(old, report if results else ({"notes": args.notes} if args.notes else {}))
        merged.parent.mkdir(parents=True, exist_ok=True)
        merged.write_text(json.dumps(report, indent=2) + "\n")
        log(f"merged {len(results)} row(s) into {merged}: N = {[r['n'] for r in report.get('results', [])]}")
    if args.markdown:
        Path(args.markdown_path).parent.mkdir(parents=True, exist_ok=True)
        write_markdown(report, Path(args.markdown_path))
        log(f"wrote {args.markdown_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
