"""kto's log output (kto.logs) and the flags that choose it (``kto run --log-format/--log-level/-v``)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from kto.__main__ import parse_args
from kto.api.reasons import Reason
from kto.telemetry import logs


def _record(message: str = "Not ready", extra: dict | None = None, level: int = logging.INFO,
            exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            import sys

            exc_info = sys.exc_info()
    logger = logging.getLogger("kto.reconcile.engine")
    return logger.makeRecord(logger.name, level, __file__, 1, message, (), exc_info, extra=extra)


NOT_READY = logs.fields("KafkaTopic", ("team-a", "orders"), ("team-a", "kafka"), Reason.INVALID_CONFIG,
                        detail="creating topic orders: Unknown topic config name: retention.mss")
# kopf's per-object records carry the object's reference, not kto's fields.
KOPF = {"k8s_ref": {"apiVersion": "kafka.kto.dev/v1alpha1", "kind": "KafkaTopic", "name": "orders",
                    "namespace": "team-a", "uid": "u1"}, "k8s_skip": False}


@pytest.mark.parametrize(("extra", "fields"), [
    (None, {}),
    (NOT_READY, {"kind": "KafkaTopic", "resource": "team-a/orders", "cluster": "team-a/kafka",
                 "reason": "InvalidConfig",
                 "detail": "creating topic orders: Unknown topic config name: retention.mss"}),
    (logs.fields("KafkaUser", ("team-a", "app")), {"kind": "KafkaUser", "resource": "team-a/app"}),
    (logs.fields(resource=("", "cluster-wide")), {"resource": "cluster-wide"}),
    (logs.fields("KafkaTopic", ("a", "b"), reason="InvalidConfig", event_type="Warning", status=403),
     {"kind": "KafkaTopic", "resource": "a/b", "reason": "InvalidConfig", "event_type": "Warning", "status": 403}),
    (KOPF, {"kind": "KafkaTopic", "resource": "team-a/orders"}),
    # Only the known fields: whatever else an extra carries is never written.
    ({"password": "hunter2", "sasl.password": "hunter2", **logs.fields(kind="KafkaCluster")}, {"kind": "KafkaCluster"}),
])
def test_json_lines_carry_the_fields_as_keys(extra: dict | None, fields: dict) -> None:
    out = json.loads(logs.JsonFormatter().format(_record(extra=extra)))
    assert set(out) == {"timestamp", "severity", "logger", "message", *fields}
    assert {k: out[k] for k in fields} == fields
    assert (out["severity"], out["logger"], out["message"]) == ("info", "kto.reconcile.engine", "Not ready")
    assert out["timestamp"].endswith("+00:00")
    assert "hunter2" not in json.dumps(out)


@pytest.mark.parametrize(("extra", "line"), [
    (None, "Not ready"),
    (NOT_READY, "Not ready kind=KafkaTopic resource=team-a/orders cluster=team-a/kafka reason=InvalidConfig "
                "detail='creating topic orders: Unknown topic config name: retention.mss'"),
    (logs.fields("KafkaTopic", ("a", "b"), detail="x=y"), "Not ready kind=KafkaTopic resource=a/b detail='x=y'"),
    (logs.fields("KafkaTopic", ("a", "b"), detail=""), "Not ready kind=KafkaTopic resource=a/b detail=''"),
    (KOPF, "Not ready kind=KafkaTopic resource=team-a/orders"),
    ({"password": "hunter2"}, "Not ready"),
])
def test_plain_lines_are_the_message_then_key_value_fields(extra: dict | None, line: str) -> None:
    assert logs.PlainFormatter().format(_record(extra=extra)) == line


@pytest.mark.parametrize("formatter", [logs.PlainFormatter(), logs.JsonFormatter()])
def test_a_traceback_is_kept(formatter: logging.Formatter) -> None:
    text = formatter.format(_record(extra=logs.fields("KafkaTopic", ("a", "b")), level=logging.ERROR, exc=True))
    assert "RuntimeError: boom" in text
    if isinstance(formatter, logs.JsonFormatter):
        out = json.loads(text)
        assert out["severity"] == "error" and "RuntimeError: boom" in out["exc_info"]


def test_fields_refuses_an_unknown_key() -> None:
    with pytest.raises(ValueError, match="not a log field"):
        logs.fields("KafkaTopic", password="hunter2")


@pytest.mark.parametrize(("argv", "environ", "fmt", "level"), [
    ([], {}, "plain", logging.INFO),
    (["--log-format", "json"], {}, "json", logging.INFO),
    (["--log-level", "warning"], {}, "plain", logging.WARNING),
    (["--log-level", "ERROR"], {}, "plain", logging.ERROR),
    (["-v"], {}, "plain", logging.DEBUG),
    (["--verbose", "--log-level", "error"], {}, "plain", logging.DEBUG),  # -v is --log-level debug
    ([], {"KTO_LOG_LEVEL": "debug", "KTO_LOG_FORMAT": "json"}, "json", logging.DEBUG),
    ([], {"KTO_LOG_LEVEL": "Warning"}, "plain", logging.WARNING),
    ([], {"KTO_VERBOSE": "true"}, "plain", logging.DEBUG),
    (["--log-level", "info"], {"KTO_LOG_LEVEL": "error"}, "plain", logging.INFO),  # the flag wins
])
def test_log_flags(monkeypatch, argv: list[str], environ: dict, fmt: str, level: int) -> None:
    for key in ("KTO_LOG_LEVEL", "KTO_LOG_FORMAT", "KTO_VERBOSE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    args = parse_args(["run", "--no-leader-elect", *argv])
    assert (args.log_format, logs.level_of(args.log_level, args.verbose)) == (fmt, level)


@pytest.mark.parametrize(("argv", "environ"), [
    (["--log-level", "trace"], {}),
    (["--log-format", "xml"], {}),
    ([], {"KTO_LOG_LEVEL": "loud"}),
    ([], {"KTO_LOG_FORMAT": "xml"}),
])
def test_bad_log_flags_are_refused(monkeypatch, capsys, argv: list[str], environ: dict) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_:
        parse_args(["run", "--no-leader-elect", *argv])
    assert exit_.value.code == 1  # a usage error: 1, like every error (2 is "changes" to kto plan)
    assert "log" in capsys.readouterr().err


def test_configure_routes_every_logger_to_one_handler_at_the_level() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    try:
        logs.configure("json", logging.WARNING, stream)
        logging.getLogger("kto.reconcile.engine").info("hidden")
        logging.getLogger("kopf.objects").warning("Shown", extra=KOPF)
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(r["message"], r["severity"], r.get("resource")) for r in lines] == [
            ("Shown", "warning", "team-a/orders")]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
