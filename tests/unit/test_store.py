"""The store of one kind: the indexes by cluster and by claimed Kafka name stay consistent."""

from __future__ import annotations

from kto.api.objects import topic_name_of
from kto.reconcile.store import Store


def topic(name: str, ns: str = "a", cluster: str = "c", topic_name: str | None = None, created: str = "T1") -> dict:
    spec = {"clusterRef": {"name": cluster}}
    if topic_name:
        spec["topicName"] = topic_name
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": created, "generation": 1},
            "spec": spec}


def store() -> Store:
    return Store(topic_name_of)


def test_claims_follow_puts_and_pops() -> None:
    s = store()
    s.put(("a", "x"), topic("x", topic_name="shared", created="T2"))
    s.put(("b", "y"), topic("y", ns="b", cluster="c", topic_name="shared", created="T1"))
    s.put(("a", "shared"), topic("shared", ns="a"))  # metadata.name is the Kafka name: same claim
    assert sorted(cl.name for cl in s.claims(("a", "c", "shared"))) == ["shared", "x"]
    assert [cl.name for cl in s.claims(("b", "c", "shared"))] == ["y"]
    s.pop(("a", "x"))
    assert [cl.name for cl in s.claims(("a", "c", "shared"))] == ["shared"]
    assert s.of_cluster(("a", "c")) == [("a", "shared")]


def test_a_changed_topic_name_moves_its_claim() -> None:
    s = store()
    s.put(("a", "x"), topic("x", topic_name="one"))
    s.put(("a", "x"), topic("x", topic_name="two"))
    assert s.claims(("a", "c", "one")) == []
    assert [cl.name for cl in s.claims(("a", "c", "two"))] == ["x"]


def test_many_claims_are_indexed() -> None:
    s = store()
    for i in range(20000):
        s.put(("a", f"t{i}"), topic(f"t{i}"))
    # One lookup touches only its own claimants.
    assert [cl.name for cl in s.claims(("a", "c", "t19999"))] == ["t19999"]
    assert len(s.of_cluster(("a", "c"))) == 20000
