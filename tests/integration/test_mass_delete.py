"""Topics created while a KRaft broker still removes thousands of deleted ones (issue 28).

Measured beside Strimzi's topic operator, new KafkaTopics applied while a KRaft broker was removing 3,000
deleted topics were first marked ``TopicBeingDeleted`` with a hint about ZooKeeper: CreateTopics timed out on
the busy controller, the client's retry was answered "already exists", and the broker asked to describe the
topic had not caught up. On KRaft that is not a deletion in progress: kto looks again without a status write.
This reproduces the load and checks what every resource showed on its way to Ready."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka.admin import NewTopic

from tests.support.resources import GROUP, VERSION, kafka_topic, ready, unique
from tests.support.wait import wait_until

OLD, NEW = 2000, 500
CHUNK = 500


def _create_in_kafka(admin, names: list[str]) -> None:
    for i in range(0, len(names), CHUNK):
        futures = admin.create_topics([NewTopic(n, 1, 1) for n in names[i:i + CHUNK]], operation_timeout=60,
                                      request_timeout=90)
        for f in futures.values():
            f.result(120)


def _delete_in_kafka(admin, names: list[str]) -> list:
    """Sent, not waited for: the new KafkaTopics arrive while the broker is still removing these."""
    futures = []
    for i in range(0, len(names), CHUNK):
        futures += admin.delete_topics(names[i:i + CHUNK], operation_timeout=60, request_timeout=90).values()
    return futures


class Seen:
    """Every Ready reason each KafkaTopic of the namespace showed, from a poll every half second."""

    def __init__(self, ns) -> None:
        self.ns, self.reasons, self.stop = ns, {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            for item in self.items():
                cond = ready(item)
                if cond:
                    self.reasons.setdefault(item["metadata"]["name"], set()).add(cond.get("reason"))

    def items(self) -> list[dict]:
        return self.ns.objects.list_namespaced_custom_object(GROUP, VERSION, self.ns.ns, "kafkatopics")["items"]

    def ready_count(self) -> int:
        return sum(1 for i in self.items() if (ready(i) or {}).get("status") == "True")


def test_creates_during_mass_deletion_are_retried_not_reported_as_deletions(env, ns, cluster, kafka_view) -> None:
    assert env.kafka.mode == "kraft", "this reproduces the KRaft case; the ZooKeeper hint is unit-tested"
    prefix = unique("gone")
    old = [f"{prefix}-{i:05d}" for i in range(OLD)]
    admin = kafka_view.admin
    _create_in_kafka(admin, old)

    seen = Seen(ns)
    seen.thread.start()
    pending = _delete_in_kafka(admin, old)
    new = [unique("fresh") for _ in range(NEW)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: ns.topic(kafka_topic(n, cluster, partitions=1, replicationFactor=1)), new))
    try:
        wait_until(lambda: seen.ready_count() == NEW, timeout=600, interval=2,
                   what=f"all {NEW} KafkaTopics Ready while {OLD} topics are deleted")
    finally:
        seen.stop.set()
        seen.thread.join(5)
    for f in pending:
        f.result(300)

    being_deleted = sorted(n for n, reasons in seen.reasons.items() if "TopicBeingDeleted" in reasons)
    assert not being_deleted, f"{len(being_deleted)} new topics were reported as a deletion in progress on KRaft"
    events = ns.core.list_namespaced_event(ns.ns, field_selector="reason=TopicBeingDeleted").items
    assert not events, f"TopicBeingDeleted Events on KRaft: {[e.message for e in events[:3]]}"
    assert all(kafka_view.exists(n) for n in new[:20])
