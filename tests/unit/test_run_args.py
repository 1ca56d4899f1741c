"""``kto run``'s listen addresses: /healthz and /metrics each on their own, one address for both unless told
apart (flags first, then the environment)."""

from __future__ import annotations

import pytest
from kto.__main__ import parse_args


@pytest.mark.parametrize(("argv", "environ", "health", "metrics"), [
    ([], {}, "0.0.0.0", "0.0.0.0"),
    (["--health-address", "127.0.0.1"], {}, "127.0.0.1", "127.0.0.1"),
    (["--metrics-address", "10.0.0.7"], {}, "0.0.0.0", "10.0.0.7"),
    (["--health-address", "127.0.0.1", "--metrics-address", "10.0.0.7"], {}, "127.0.0.1", "10.0.0.7"),
    ([], {"KTO_HEALTH_ADDRESS": "10.0.0.8", "KTO_METRICS_ADDRESS": "10.0.0.9"}, "10.0.0.8", "10.0.0.9"),
    ([], {"KTO_METRICS_ADDRESS": "10.0.0.9"}, "0.0.0.0", "10.0.0.9"),
    ([], {"KTO_HEALTH_ADDRESS": "10.0.0.8"}, "10.0.0.8", "10.0.0.8"),
    ([], {"KTO_METRICS_ADDRESS": ""}, "0.0.0.0", "0.0.0.0"),
    (["--metrics-address", "127.0.0.1"], {"KTO_METRICS_ADDRESS": "10.0.0.9"}, "0.0.0.0", "127.0.0.1"),
])
def test_health_and_metrics_addresses(monkeypatch, argv, environ, health, metrics) -> None:
    for key in ("KTO_HEALTH_ADDRESS", "KTO_METRICS_ADDRESS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    args = parse_args(["run", "--no-leader-elect", *argv])
    assert (args.health_address, args.metrics_address) == (health, metrics)
