#!/usr/bin/env python3
"""`make bench`: how fast kto converges N topics, what it costs idle, and how close it is to the floor.

For each N: start kto, create N KafkaTopics at once (1 partition, replication factor 1) and time until all
are Ready; stay idle for a few resync intervals and count what kto costs (API server requests by verb,
Kafka admin requests, CPU, memory); delete them all and time it. Then the floor, with kto stopped: the same
N topics created by direct batched AdminClient calls, plus N direct status patches. Reports a table, a JSON
file and (with --markdown) docs/benchmarks.md.

    .venv/bin/python hack/bench.py --sizes 100,1000,10000 [--json bench-results/latest.json] [--markdown]

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
        cfg.connection_pool_maxsize = CONCURRENCY * 2
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
            if labels.get("resource") in ("kafkatopics", "kafkaclusters", "events", "secrets"):
                key = f"kto:{labels.get('verb')}"
                out[key] = out.get(key, 0) + value
        return out


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

    def _run(self) -> None:
        from kubernetes import watch

        rv = self.kube.objects.list_namespaced_custom_object(GROUP, VERSION, self.ns, "kafkatopics",
                                                            limit=1)["metadata"]["resourceVersion"]
        while not self._stop:
            w = watch.Watch()
            try:
                for ev in w.stream(self.kube.objects.list_namespaced_custom_object, GROUP, VERSION, self.ns,
                                   "kafkatopics", resource_version=rv, timeout_seconds=60,
                                   allow_watch_bookmarks=True):
                    obj = ev["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    with self.changed:
                        if ev["type"] == "DELETED":
                            self.present.discard(name)
                            self.ready.discard(name)
                        else:
                            self.present.add(name)
                            conds = (obj.get("status") or {}).get("conditions") or []
                            if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                                self.ready.add(name)
                            else:
                                self.ready.discard(name)
                        self.changed.notify_all()
                    if self._stop:
                        return
            except Exception as exc:  # noqa: BLE001 - a broken watch is restarted from the last version
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


def run_kto(kube: Kube, env: dict[str, str], kto: Kto, n: int, resync: int, idle_intervals: int,
            then=None) -> dict:
    """Create, idle, (``then(ns, names, idle)``, e.g. the lag measurement), delete."""
    ns = f"bench-kto-{n}-{int(time.time())}"
    setup_namespace(kube, env, ns, resync)
    names = [f"b{n}-{i:05d}-{ns[-6:]}" for i in range(n)]
    watcher = ReadyWatcher(kube, ns)
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
    log(f"kto: creating {n} KafkaTopics")
    started = time.monotonic()
    apply_s = create_all(kube, ns, [topic_body(name, "bench") for name in names])
    watcher.wait(lambda: len(watcher.ready) >= n, timeout=max(600, n * 0.2), what=f"{n} topics Ready")
    ready_s = time.monotonic() - started
    log(f"kto: {n} Ready in {ready_s:.1f}s (creating the objects took {apply_s:.1f}s)")
    in_kafka = len(set(names) & set(kafka_admin(env).list_topics(timeout=60).topics))
    if in_kafka != n:
        raise SystemExit(f"only {in_kafka} of {n} Ready topics exist in Kafka")

    # The cluster writes the number of topics it serves at its next probe: let that happen first.
    deadline = time.monotonic() + resync * 2 + 60
    while time.monotonic() < deadline:
        got = kube.objects.get_namespaced_custom_object(GROUP, VERSION, ns, "kafkaclusters", "bench")
        if (got.get("status") or {}).get("topics") == n:
            break
        time.sleep(1)
    # Idle: nothing changes for a few resync intervals.
    before_api = kube.apiserver_requests()
    before_kafka = kto_metric(kto.metrics, "kto_kafka_admin_requests_total")
    before_cpu = proc_stats(kto.proc.pid)["cpu_s"]
    idle_s = resync * idle_intervals
    log(f"kto: idle for {idle_s}s ({idle_intervals} resync intervals)")
    time.sleep(idle_s)  # the measurement window itself, not a wait for a condition
    after = proc_stats(kto.proc.pid)
    api = delta(kube.apiserver_requests(), before_api)
    kafka_requests = kto_metric(kto.metrics, "kto_kafka_admin_requests_total") - before_kafka
    extra = then(ns, names, {"seconds": idle_s, "cpu_s": after["cpu_s"] - before_cpu}) if then else None

    log(f"kto: deleting {n} KafkaTopics")
    started = time.monotonic()
    delete_all(kube, ns, names)
    watcher.wait(lambda: not watcher.present, timeout=max(600, n * 0.2), what="all topics deleted")
    delete_s = time.monotonic() - started
    watcher.stop()
    sampling = False
    log(f"kto: deleted in {delete_s:.1f}s")
    return {
        "n": n, "in_kafka": in_kafka, "apply_s": round(apply_s, 2), "ready_s": round(ready_s, 2),
        "topics_per_s": round(n / ready_s, 1),
        "delete_s": round(delete_s, 2),
        "idle": {"seconds": idle_s, "resync_interval_s": resync, "apiserver_requests": api,
                 "apiserver_writes": sum(v for k, v in api.items()
                                         if k.startswith("kto:") and k[4:] in ("POST", "PUT", "PATCH", "DELETE",
                                                                                "APPLY", "CREATE", "UPDATE")),
                 "kafka_admin_requests": int(kafka_requests),
                 "kafka_admin_requests_per_resync": round(kafka_requests / idle_intervals, 1),
                 "kto_cpu_s": round(after["cpu_s"] - before_cpu, 2), "kto_rss_mib": round(after["rss_mib"], 1)},
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
        ops[labels["operation"]] = ops.get(labels["operation"], 0) + value
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
    return {"interval_s": interval, "groups": LAG_GROUPS, "collections": int(done), "window_s": round(window, 1),
            "kafka_requests": requests, "kafka_requests_per_collection": round(sum(requests.values()) / done, 1),
            "collection_s": round((after["collection_s"] - before["collection_s"]) / done, 2),
            "cpu_s": round(cpu, 2), "cpu_s_per_collection": round(max(net, 0) / done, 2)}


def lag_table(results: list[dict]) -> str:
    rows = [("N", "groups", "interval s", "collections", "Kafka reqs/collection", "collection s", "CPU s/collection")]
    for r in results:
        if "lag" in r["kto"]:
            g = r["kto"]["lag"]
            rows.append((str(r["n"]), str(g["groups"]), f"{g['interval_s']:g}", str(g["collections"]),
                         f"{g['kafka_requests_per_collection']:.1f}", f"{g['collection_s']:.2f}",
                         f"{g['cpu_s_per_collection']:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def run_floor(kube: Kube, env: dict[str, str], n: int) -> dict:
    """No operator: N topics by batched AdminClient calls + N status patches through the API."""
    from confluent_kafka.admin import NewTopic

    ns = f"bench-floor-{n}-{int(time.time())}"
    setup_namespace(kube, env, ns, 3600)
    names = [f"f{n}-{i:05d}-{ns[-6:]}" for i in range(n)]
    create_all(kube, ns, [topic_body(name, "bench") for name in names])  # not timed: the floor starts here
    admin = kafka_admin(env)
    started = time.monotonic()
    for i in range(0, n, 500):
        futures = admin.create_topics([NewTopic(t, 1, 1) for t in names[i:i + 500]], operation_timeout=60)
        for f in futures.values():
            f.result(120)
    kafka_s = time.monotonic() - started
    status = {"status": {"observedGeneration": 1, "topicName": "x", "partitions": 1, "replicationFactor": 1,
                         "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled",
                                         "message": "topic is in sync", "observedGeneration": 1,
                                         "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]}}
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda t: kube.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, "kafkatopics", t, status, _content_type="application/merge-patch+json"), names))
    total_s = time.monotonic() - started
    log(f"floor: {n} topics in Kafka in {kafka_s:.1f}s, + status patches = {total_s:.1f}s")
    # Clean up: the Kafka topics, then the objects (no finalizers: kto never saw them).
    for i in range(0, n, 500):
        for f in admin.delete_topics(names[i:i + 500], operation_timeout=60).values():
            f.result(120)
    delete_all(kube, ns, names)
    return {"n": n, "kafka_s": round(kafka_s, 2), "ready_s": round(total_s, 2), "topics_per_s": round(n / total_s, 1)}


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


def table(results: list[dict]) -> str:
    rows = [("N", "apply s", "kto Ready s", "topics/s", "floor s", "kto/floor", "delete s", "idle API writes",
             "idle API reqs", "Kafka reqs/resync", "idle CPU s", "RSS MiB", "peak RSS MiB")]
    for r in results:
        k, f = r["kto"], r["floor"]
        idle = k["idle"]
        rows.append((str(r["n"]), f"{k['apply_s']:.1f}", f"{k['ready_s']:.1f}", f"{k['topics_per_s']:.0f}",
                     f"{f['ready_s']:.1f}", f"{r['ratio']:.2f}", f"{k['delete_s']:.1f}",
                     str(idle["apiserver_writes"]), str(sum(v for key, v in idle["apiserver_requests"].items()
                                                            if key.startswith("kto:"))),
                     f"{idle['kafka_admin_requests_per_resync']:.1f}", f"{idle['kto_cpu_s']:.2f}",
                     f"{idle['kto_rss_mib']:.0f}", f"{k['kto_peak_rss_mib']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def lag_section(report: dict) -> str:
    results = [r for r in report["results"] if "lag" in r["kto"]]
    if not results:
        return ""
    return f"""
Consumer lag and topic size (`kto run --lag-interval`), measured after the idle phase with kto restarted to
collect every {results[0]['kto']['lag']['interval_s']:g} s, one message in each topic and
{results[0]['kto']['lag']['groups']} consumer groups with a committed offset on every topic:

| {lag_table(results).replace(chr(10), ' |' + chr(10) + '| ')} |

- **Kafka reqs/collection**: admin calls kto sent per collection (DescribeTopics, DescribeLogDirs,
  ListOffsets, ListGroups, OffsetFetch: each one request per broker, partition leader or group coordinator);
  **collection s**: how long one collection took; **CPU s/collection**: kto's CPU seconds over the
  measured collections, less its idle CPU rate (the resyncs that ran meanwhile), per collection.

"""


def write_markdown(report: dict, path: Path) -> None:
    m = report["machine"]
    text = f"""# Benchmarks

Latest figures from `make bench` ({report['date']}), on {m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB,
{m['os']}, Python {m['python']}; kube-apiserver {m['kubernetes']}, etcd {m['etcd']} and Kafka {m['kafka']}
(one broker, KRaft) on the same host, started by `hack/localenv.py`.

| {table(report['results']).replace(chr(10), ' |' + chr(10) + '| ')} |

- **N**: KafkaTopics created at once (1 partition, replication factor 1), through the API with {CONCURRENCY}
  client threads; **apply s**: how long creating the objects took the client.
- **kto Ready s**: from the first create to the last topic Ready (watched, not polled); **topics/s** = N / that.
- **floor s**: the same N topics created by direct batched AdminClient calls (500 per request) plus N direct
  status patches ({CONCURRENCY} threads), no operator; **kto/floor** = kto Ready s / floor s.
- **delete s**: deleting all N resources until they are gone (kto deletes the Kafka topics first).
- **idle**: with the N topics in place and nothing changing, over {report['idle_intervals']} resync intervals of
  {report['resync_interval_s']} s: API server requests on kto's resources (kafkatopics, kafkaclusters,
  events, secrets) from `apiserver_request_total`, of which writes; Kafka admin requests kto sent, per
  resync; kto's CPU seconds and resident memory. **peak RSS**: kto's peak resident memory during the run.

{lag_section(report)}Reproduce: `make bench` (all sizes; about {report.get('duration_min', '?')} minutes here) or
`.venv/bin/python hack/bench.py --sizes 100,1000`. The run writes its raw figures to
`bench-results/latest.json`; those of this page are in `docs/benchmarks.json`.
"""
    if report.get("notes"):
        text += "\n## Notes\n\n" + report["notes"] + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--resync", type=int, default=30, help="resyncIntervalSeconds of the bench cluster")
    parser.add_argument("--idle-intervals", type=int, default=3)
    parser.add_argument("--json", default=str(REPO / "bench-results" / "latest.json"))
    parser.add_argument("--markdown", action="store_true", help="also write docs/benchmarks.md")
    parser.add_argument("--notes", default="", help="text for the Notes section of docs/benchmarks.md")
    parser.add_argument("--lag-interval", type=float, default=0,
                        help="also measure lag collection: kto restarted with this --lag-interval after the idle "
                             "phase, its CPU and Kafka requests per collection of the N topics (0: skip)")
    parser.add_argument("--lag-collections", type=int, default=5, help="collections measured")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="kto-bench-"))
    log(f"starting a fresh environment in {root}")
    # Answering DescribeConfigs and DescribeLogDirs for 10,000 topics at once exceeds the 512 MiB the tests give a
    # broker: the benchmark measures kto, so its broker gets room.
    os.environ.setdefault("KTO_KAFKA_HEAP", "1g")
    env = localenv.up(root)
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
        for n in sizes:
            kto = Kto(env, root / "logs")
            kto.start()
            then = (lambda ns, names, idle, kto=kto: run_lag(env, kto, ns, names, idle, args.lag_interval,
                                                             args.lag_collections)) if args.lag_interval else None
            k = run_kto(kube, env, kto, n, args.resync, args.idle_intervals, then)
            kto.stop()
            floor = run_floor(kube, env, n)
            results.append({"n": n, "kto": k, "floor": floor, "ratio": round(k["ready_s"] / floor["ready_s"], 2)})
    finally:
        if kto is not None:
            kto.stop()
        localenv.down(root)
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "resync_interval_s": args.resync, "idle_intervals": args.idle_intervals, "results": results,
              "duration_min": round((time.monotonic() - started) / 60), "notes": args.notes}
    print(table(results))
    if args.lag_interval:
        print(lag_table(results))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    log(f"wrote {args.json}")
    if args.markdown:
        (REPO / "docs").mkdir(exist_ok=True)
        write_markdown(report, REPO / "docs" / "benchmarks.md")
        log("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
