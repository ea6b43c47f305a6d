"""The Kafka source's cheaper merge emits exactly what the per-message merge emitted (issue 10, SCALAR2).

The merge used to ask every topic whether it blocks and compare every head before each message;
it now asks only when a buffer runs empty, reads an event time once, and empties a lone topic in
one go. Over random buffers (unsorted event times, ties, topics at their end, idle, silent,
paused), run after run, the messages emitted, their order and the offsets must be the same.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import pytest

from flows.dataflow.sources.kafka import event_time_ms
from tests.flows.test_kafka_source_idle import _Msg, _partition

TOPICS = ["scalars", "waveforms"]


def _reference(part: Any, now: float) -> list[tuple[str, int]]:
    """The merge as it was (f076d7b): blocking asked and every head compared before each message."""
    out = []
    while any(part.buffers.values()) and not part._blocking(now):
        topic = min((t for t, b in part.buffers.items() if b),
                    key=lambda t: event_time_ms(part.buffers[t][0]))
        msg = part.buffers[topic].popleft()
        part.offsets[topic] = msg.offset() + 1
        out.append((topic, msg.offset()))
    return out


def _state(rng: random.Random, part: Any, next_offset: dict[str, int]) -> None:
    """Random new messages, end-of-partition flags, idle clocks and pauses."""
    for topic in TOPICS:
        for _ in range(rng.choice([0, 0, 1, 2, 5])):
            part.buffers[topic].append(_Msg(topic, next_offset[topic], rng.randrange(0, 40)))
            next_offset[topic] += 1
        part.eof[topic] = rng.random() < 0.3
        part.last_seen[topic] = rng.choice([0.0, 5.0, 9.5])
    part.last_activity = rng.choice([9.0, 9.9, -100.0])
    part.paused = {t for t in TOPICS if rng.random() < 0.1}


@pytest.mark.parametrize("seed", range(6))
def test_the_merge_emits_the_per_message_merges_records_in_the_same_order(seed: int) -> None:
    rng = random.Random(seed)
    new, _ = _partition(max_idle_s=2.0)
    old, _ = _partition(max_idle_s=2.0)
    next_offset = dict.fromkeys(TOPICS, 0)
    emitted = 0
    for _ in range(300):
        _state(rng, new, next_offset)
        # the same state for both (messages equal, not shared)
        old.buffers = {t: deque(_Msg(m.topic_, m.offset_, m.ts) for m in b) for t, b in new.buffers.items()}
        old.eof, old.last_seen = dict(new.eof), dict(new.last_seen)
        old.last_activity, old.paused = new.last_activity, set(new.paused)
        out: list[Any] = []
        new._merge(10.0, out)
        got = [(dict(r.headers)["source.topic"], int(dict(r.headers)["source.offset"])) for r in out]
        assert got == _reference(old, 10.0)
        assert new.offsets == old.offsets
        assert {t: [m.offset_ for m in b] for t, b in new.buffers.items()} == \
            {t: [m.offset_ for m in b] for t, b in old.buffers.items()}
        emitted += len(got)
    assert emitted > 200  # the random states let the merge emit
