"""The benchmark script runs end to end (so it never rots); it asserts correctness, not speed."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.env import REPO


def test_bench_smoke(tmp_path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "hack" / "bench.py"), "--sizes", "20", "--resync", "10", "--idle-intervals", "1",
         "--lag-interval", "2", "--lag-collections", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    (row,) = report["results"]
    # Every topic became Ready and exists in Kafka (the script fails otherwise), and the figures are there.
    assert row["n"] == 20 and row["kto"]["in_kafka"] == 20
    assert row["kto"]["ready_s"] > 0 and row["floor"]["ready_s"] > 0 and row["ratio"] > 0
    assert row["kto"]["idle"]["apiserver_writes"] == 0
    assert "kto/floor" in result.stdout
    # The lag collection was measured: every topic's size and lag seen (the script fails otherwise).
    lag = row["kto"]["lag"]
    assert lag["collections"] >= 2 and lag["kafka_requests_per_collection"] >= 5
    assert "Kafka reqs/collection" in result.stdout
