from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kto.api.conditions import build_condition, set_condition
from kto.api.reasons import Reason

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_transition_time_kept_while_status_unchanged() -> None:
    first = build_condition(None, True, Reason.RECONCILED, "in sync", 1, T0)
    assert first == {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z",
                     "reason": "Reconciled", "message": "in sync", "observedGeneration": 1}
    later = build_condition([first], True, Reason.RECONCILED, "still in sync", 2, T0 + timedelta(hours=1))
    assert later["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert later["observedGeneration"] == 2
    flipped = build_condition([later], False, Reason.KAFKA_ERROR, "boom", 2, T0 + timedelta(hours=2))
    assert flipped["lastTransitionTime"] == "2026-01-01T02:00:00Z"
    assert build_condition(None, None, Reason.PAUSED, "p", 1, T0)["status"] == "Unknown"


def test_long_messages_are_cut() -> None:
    cond = build_condition(None, False, Reason.KAFKA_ERROR, "x" * 5000, 1, T0)
    assert len(cond["message"]) == 2048 and cond["message"].endswith("...")


def test_set_condition_replaces_its_type_and_keeps_others() -> None:
    other = {"type": "Other", "status": "True"}
    old_ready = {"type": "Ready", "status": "False"}
    new_ready = {"type": "Ready", "status": "True"}
    assert set_condition([other, old_ready], new_ready) == [new_ready, other]
