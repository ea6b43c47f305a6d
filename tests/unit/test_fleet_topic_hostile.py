"""Hostile messages on the fleet model topic (round 34, HOSTILE34).

A message of the fleet model topic is untrusted: whatever a producer writes there, the consumer
thread goes on (the next good version still loads) and a bad message is a ``bad_fleet_model`` or
``bad_progress`` dead letter. Before: a tombstone (null value) with the ``twin.progress`` header
raised a ``TypeError`` while its refusal was being worded, which ended the consumer's thread (no
later version loaded in that process); and a refused version's ``fleet.effective_from_s`` header
was read by ``float()``, which also takes ``" 12 "``, ``1_7`` or a trailing newline.
The real broker case: ``tests/integration/test_fleet_topic_hostile.py``.
"""

from __future__ import annotations

import math

import pytest

from flows.app.gate_link import EFFECTIVE_HEADER, take_progress, take_void
from flows.app.gate_link import refused_model_void as end_hold
from flows.dataflow.event_time_gate import EventTimeGate
from tests.unit.test_fleet_void import EFF_S, _held, _refused_version


@pytest.mark.parametrize("value", [None, b"", b"1", b"1 2 3", b"\xff \xfe", b"x" * 10_000])
def test_a_malformed_progress_message_is_refused_with_a_reason(value: bytes | None) -> None:
    gate = EventTimeGate(3600.0, process_id=0, processes=2)
    reason = take_progress(gate, value, timestamp_ms=2000, since_ms=1000)
    assert reason is not None and reason.startswith("progress message ") and len(reason) < 400


@pytest.mark.parametrize("text", [f" {EFF_S!r} ", f"{EFF_S!r}\n", "1_767_907_088.401855", f"+{EFF_S!r}",
                                  f"{EFF_S!r}0000000000000000000000000000000", "\u0661\u0662"])
def test_an_odd_effective_time_text_ends_no_hold(text: str) -> None:
    """``float()`` takes these; ``model_message`` writes none of them (``repr`` of a float): they name
    no hold, as an unreadable one; the exact ``repr`` still does."""
    board, gate = _held()
    key, headers = _refused_version()
    odd = [(k, text.encode() if k == EFFECTIVE_HEADER else v) for k, v in headers]
    assert not end_hold(board, gate, key, odd, timestamp_ms=2000, since_ms=1000)
    assert board.hold_s() == EFF_S and gate.limit_ms() == round(EFF_S * 1000)
    assert end_hold(board, gate, key, headers, timestamp_ms=2000, since_ms=1000)
    assert board.hold_s() == math.inf and gate.limit_ms() == math.inf


@pytest.mark.parametrize("value", [b"[" * 100_000, b'{"kind": "engine", "effective_from_s": ' + b"[" * 9_000])
def test_a_deeply_nested_void_is_refused_with_a_reason(value: bytes) -> None:
    """``json.loads`` raises RecursionError (not a ValueError) on deep nesting: it ended the consumer's
    thread before round 34."""
    board, gate = _held()
    reason = take_void(board, gate, value, timestamp_ms=2000, since_ms=1000)
    assert reason is not None and reason.startswith(f"fleet model void {value[:60]!r} is not")
    assert board.hold_s() == EFF_S
