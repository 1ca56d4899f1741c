"""hack/bench.py's pure parts: merging reports by N, the ratios, and rendering rows with missing figures."""

from __future__ import annotations

import importlib
from pathlib import Path

from tests.support.env import localenv  # noqa: F401 - puts hack/ on sys.path

bench = importlib.import_module("bench")  # hack/bench.py

MACHINE = {"cpus": 2, "cpu": "x", "memory_gib": 8, "os": "Linux", "python": "3.11", "kubernetes": "1.34",
           "etcd": "3.6", "kafka": "4.1"}


def kto(n: int, ready_s: float = 10.0, **extra) -> dict:
    return {"n": n, "apply_s": 1.0, "ready_s": ready_s, "topics_per_s": n / ready_s, "delete_s": 12.0,
            "idle": {"seconds": 90, "resync_interval_s": 30, "apiserver_requests": {"kto:WATCH": 1, "all:PUT": 9},
                     "apiserver_writes": 0, "kafka_admin_requests": 9, "kafka_admin_requests_per_resync": 3.0,
                     "kto_cpu_s": 0.3, "kto_rss_mib": 150.0},
            "kto_peak_rss_mib": 160.0, **extra}


def test_ratios_against_each_floor() -> None:
    row = bench.result_row(1000, kto(1000, ready_s=12.0), {"ready_s": 4.0}, {"ready_s": 8.0}, date="d")
    assert row["ratio"] == 3.0
    assert row["ratio_correct"] == 1.5
    assert row["date"] == "d"


def test_skipped_floors_leave_no_ratio() -> None:
    row = bench.result_row(50000, kto(50000), None, None)
    assert "floor" not in row and "ratio" not in row
    assert "correct_floor" not in row and "ratio_correct" not in row
    assert bench.ratio(1.0, None) is None and bench.ratio(None, 2.0) is None and bench.ratio(1.0, 0) is None


def test_merge_replaces_rows_of_the_same_n_and_keeps_the_others() -> None:
    old = {"date": "old-date", "machine": MACHINE, "resync_interval_s": 30, "idle_intervals": 3, "notes": "kept",
           "results": [{"n": 100, "kto": kto(100, 1.0)}, {"n": 1000, "kto": kto(1000, 13.0)}]}
    new = {"date": "new-date", "machine": {**MACHINE, "cpus": 4}, "resync_interval_s": 60, "idle_intervals": 3,
           "notes": "",
           "results": [{"n": 1000, "date": "new-date", "kto": kto(1000, 11.0)},
                       {"n": 50000, "date": "new-date", "kto": kto(50000, 900.0)}]}
    merged = bench.merge_reports(old, new)
    assert [r["n"] for r in merged["results"]] == [100, 1000, 50000]
    by_n = {r["n"]: r for r in merged["results"]}
    assert by_n[1000]["kto"]["ready_s"] == 11.0
    # Each row keeps its own run's date, machine and idle settings; the old rows get their report's.
    assert by_n[100]["date"] == "old-date" and by_n[100]["machine"]["cpus"] == 2
    assert by_n[100]["resync_interval_s"] == 30
    assert by_n[50000]["date"] == "new-date" and by_n[50000]["machine"]["cpus"] == 4
    assert by_n[50000]["resync_interval_s"] == 60
    assert merged["date"] == "new-date"
    assert merged["notes"] == "kept"  # no new notes: the report's stay
    assert bench.merge_reports(old, {**new, "notes": "new"})["notes"] == "new"
    assert bench.merge_reports({}, new)["results"][0]["n"] == 1000


def test_merge_keeps_the_lag_figures_of_a_replaced_row() -> None:
    lag = {"interval_s": 10, "groups": 3, "collections": 5, "kafka_requests_per_collection": 5.0,
           "collection_s": 0.55, "cpu_s_per_collection": 0.6}
    old = {"date": "old-date", "results": [{"n": 1000, "kto": kto(1000, lag=lag)}]}
    merged = bench.merge_reports(old, {"date": "new", "results": [{"n": 1000, "date": "new", "kto": kto(1000, 9.0)}]})
    row = merged["results"][0]
    assert row["kto"]["ready_s"] == 9.0 and row["date"] == "new"
    assert row["kto"]["lag"] == {"date": "old-date", **lag}
    assert bench.lag_rows(merged["results"])[1][1] == "old-date"
    fresh = {**lag, "date": "new", "collection_s": 0.4}
    merged = bench.merge_reports(old, {"results": [{"n": 1000, "date": "new", "kto": kto(1000, lag=fresh)}]})
    assert merged["results"][0]["kto"]["lag"] == fresh


def test_missing_figures_render_as_a_dash() -> None:
    old_row = {"n": 10000, "kto": kto(10000), "floor": {"ready_s": 55.5}, "ratio": 2.68}  # an old JSON's row
    results = [old_row, bench.result_row(50000, kto(50000), None, None)]
    time_rows = bench.time_rows(results)
    header = time_rows[0]
    old, big = dict(zip(header, time_rows[1], strict=True)), dict(zip(header, time_rows[2], strict=True))
    assert old["floor s"] == "55.5" and old["kto/floor"] == "2.68"
    assert old["correct floor s"] == bench.MISSING == "\u2013"
    assert big["floor s"] == big["kto/floor"] == big["kto/correct floor"] == bench.MISSING
    cpu = dict(zip(bench.cpu_rows(results)[0], bench.cpu_rows(results)[1], strict=True))
    assert cpu["kto CPU s/1,000 created"] == bench.MISSING
    assert cpu["create: kto / apiserver / etcd / Kafka"] == bench.MISSING
    assert cpu["idle CPU s/resync"] == "0.10"  # 0.3 s over 3 intervals
    mem = dict(zip(bench.memory_rows(results)[0], bench.memory_rows(results)[1], strict=True))
    assert mem["baseline RSS MiB"] == mem["KiB/topic"] == bench.MISSING
    assert mem["RSS MiB"] == "150" and mem["idle API reqs"] == "1"
    for rows in (time_rows, bench.cpu_rows(results), bench.memory_rows(results)):
        assert len({len(r) for r in rows}) == 1
        bench.render(rows, markdown=True)


def test_cpu_cells_and_per_topic_figures() -> None:
    cpu = {"kto": 12.0, "kube-apiserver": 30.5, "etcd": 4.0, "kafka": 2.25, "bench": 9.0}
    row = bench.result_row(1000, kto(1000, cpu_s={"create": cpu}, kto_cpu_s_per_1000_created=12.0,
                                     kto_baseline_rss_mib=100.0, kib_per_topic=51.2),
                           {"ready_s": 5.0, "cpu_s": cpu}, None)
    cells = dict(zip(bench.cpu_rows([row])[0], bench.cpu_rows([row])[1], strict=True))
    assert cells["create: kto / apiserver / etcd / Kafka"] == "12.0 / 30.5 / 4.0 / 2.2"
    assert cells["kto CPU s/1,000 created"] == "12.00"
    assert cells["floor: bench / apiserver / etcd / Kafka"] == "9.0 / 30.5 / 4.0 / 2.2"
    assert cells["correct floor: bench / apiserver / etcd / Kafka"] == bench.MISSING


def test_markdown_is_generated_entirely_from_the_report(tmp_path: Path) -> None:
    lag = {"interval_s": 10, "groups": 3, "collections": 5, "kafka_requests_per_collection": 5.0,
           "collection_s": 0.55, "cpu_s_per_collection": 0.6}
    report = {"date": "d2", "machine": MACHINE, "resync_interval_s": 30, "idle_intervals": 3, "notes": "A note.",
              "results": [{"n": 1000, "date": "d1", "machine": MACHINE, "kto": kto(1000, lag=lag)},
                          {"n": 50000, "date": "d2", "machine": MACHINE, "kto": kto(50000)}]}
    page = tmp_path / "benchmarks.md"
    bench.write_markdown(report, page)
    text = page.read_text()
    assert "- On 2 cores (x), 8 GiB, Linux, Python 3.11; kube-apiserver 1.34, etcd 3.6 and Kafka 4.1: " \
           "N = 1,000 (d1); 50,000 (d2)." in text
    assert "## Consumer lag and topic size" in text and "| 1000 | " in text
    assert "**Kafka reqs/collection**" in text
    assert text.rstrip().endswith("A note.")
    # No lag row, no lag section.
    bench.write_markdown({**report, "results": report["results"][1:]}, page)
    assert "Consumer lag" not in page.read_text()
