"""The controller's store of topics: the indexes by cluster and by claimed Kafka topic stay consistent."""

from __future__ import annotations

from kto.controller import Controller


def topic(name: str, ns: str = "a", cluster: str = "c", topic_name: str | None = None, created: str = "T1") -> dict:
    spec = {"clusterRef": {"name": cluster}}
    if topic_name:
        spec["topicName"] = topic_name
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": created, "generation": 1},
            "spec": spec}


class NoQueue:
    def enqueue(self, key, delay=0.0) -> None:
        pass


def controller() -> Controller:
    c = Controller(kube=None)  # type: ignore[arg-type] - the store needs no API
    c.queue = lambda ckey: NoQueue()  # type: ignore[method-assign]
    return c


def test_claims_follow_events() -> None:
    c = controller()
    c.topic_event(None, topic("x", topic_name="shared", created="T2"))
    c.topic_event("ADDED", topic("y", ns="b", cluster="c", topic_name="shared", created="T1"))
    c.topic_event("ADDED", topic("shared", ns="a"))  # metadata.name is the Kafka name: same claim
    claims = c.claims(("a", "c", "shared"))
    assert sorted(cl.name for cl in claims) == ["shared", "x"]
    assert [cl.name for cl in c.claims(("b", "c", "shared"))] == ["y"]
    c.topic_event("DELETED", topic("x", topic_name="shared"))
    assert [cl.name for cl in c.claims(("a", "c", "shared"))] == ["shared"]
    assert c.topics_by_cluster[("a", "c")] == {("a", "shared")}


def test_many_claims_are_indexed() -> None:
    c = controller()
    for i in range(20000):
        c.topic_event(None, topic(f"t{i}"))
    # One lookup touches only its own claimants.
    assert [cl.name for cl in c.claims(("a", "c", "t19999"))] == ["t19999"]
    assert len(c.topics_by_cluster[("a", "c")]) == 20000
