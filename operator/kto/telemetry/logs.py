"""kto's log output: plain text or JSON lines, the fields of a log call (``extra=fields(...)``) as keys.

Only the fields named in ``FIELDS`` are written, whatever else a record carries: a credential handed to a log
call by mistake, or by a library, never reaches the output through an ``extra``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

# The keys a log call may set, in the order they are written.
FIELDS = ("kind", "resource", "cluster", "reason", "detail", "event_type", "status")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
FORMATS = ("plain", "json")


def _ref(key: tuple[str, str] | str | None) -> str | None:
    if key is None or isinstance(key, str):
        return key
    return f"{key[0]}/{key[1]}" if key[0] else key[1]


def fields(kind: str | None = None, resource: tuple[str, str] | str | None = None,
           cluster: tuple[str, str] | str | None = None, reason: object = None, **more: Any) -> dict[str, Any]:
    """The ``extra`` of a log call: ``resource`` and ``cluster`` as ``namespace/name``, ``None`` left out."""
    unknown = set(more) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log field: {sorted(unknown)} (kto.logs.FIELDS)")
    out = {"kind": kind, "resource": _ref(resource), "cluster": _ref(cluster),
           "reason": None if reason is None else str(reason), **more}
    return {k: v for k, v in out.items() if v is not None}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The known fields of a record; kopf's per-object records (``k8s_ref``) give kind and resource too."""
    out = {k: getattr(record, k) for k in FIELDS if getattr(record, k, None) is not None}
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, Mapping):
        out.setdefault("kind", ref.get("kind"))
        out.setdefault("resource", _ref((ref.get("namespace") or "", ref.get("name") or "")))
    return {k: v for k, v in out.items() if v is not None}


def _plain_value(value: Any) -> str:
    text = str(value)
    return text if text and not any(c.isspace() or c in "\"'=" for c in text) else repr(text)


class PlainFormatter(logging.Formatter):
    """``Message key=value ...``: the message, then the fields (quoted when they hold blanks)."""

    def format(self, record: logging.LogRecord) -> str:
        line = record.getMessage()
        pairs = " ".join(f"{k}={_plain_value(v)}" for k, v in record_fields(record).items())
        out = f"{line} {pairs}" if pairs else line
        if record.exc_info:
            out += "\n" + self.formatException(record.exc_info)
        return out


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, severity, logger, message, then the fields as top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "severity": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)  # the key kopf's JSON logs used
        return json.dumps(out, default=str)


def level_of(name: str, verbose: bool = False) -> int:
    """``--log-level``; ``-v`` is ``debug``."""
    return logging.DEBUG if verbose else LEVELS[name]


def configure(log_format: str, level: int, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger (kto's, kopf's) to one handler on the root logger, in ``log_format``."""
    handler: logging.Handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # asyncio's own messages only when debugging, as kopf.configure does.
    debugging = level <= logging.DEBUG
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.propagate = debugging
    asyncio_log.handlers[:] = [] if debugging else [logging.NullHandler()]
    return handler
