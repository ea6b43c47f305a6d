"""The Kafka source's one pass per poll (kafka_entries) and its buffering of a poll at once (kafka_merge):
the same entries, the same buffers and the same source state as the message-by-message readers."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError

from flows.dataflow.sources.kafka import KafkaTelemetrySource
from flows.dataflow.sources.kafka_entries import (
    EVENT_TIME_HEADER,
    arrival_ms,
    event_time_ms,
    merge_key_of,
    read_poll,
)
from flows.dataflow.sources.kafka_merge import buffer_entries, buffer_message
from tests.kafka_fakes import FakeMessage as _Msg
from tests.kafka_fakes import FetchedQueue

H = EVENT_TIME_HEADER


class _Err:
    def __init__(self, code: int) -> None:
        self.code_ = code

    def code(self) -> int:
        return self.code_


def _eof(topic: str, offset: int) -> _Msg:
    return _Msg(topic, offset, None, error_=_Err(KafkaError._PARTITION_EOF))


VARIED = [
    _Msg("s", 0, [(H, b"1000")]),  # twinflow's producers: the header first
    _Msg("s", 1, [("trace", b"x"), (H, b"1001")]),  # not first
    _Msg("s", 2, [(H, b"soon")]),  # not an integer: the Kafka timestamp
    _Msg("s", 3, [(H, None)]),  # no value: the Kafka timestamp
    _Msg("s", 4, [("trace", b"x"), (H, b"x"), (H, b"7")]),  # the first one counts (not an integer)
    _Msg("w", 0, None, timestamp_=(TIMESTAMP_NOT_AVAILABLE, -1)),  # no headers, no timestamp
    _Msg("s", 5, [], value_=None, key_=None),  # a tombstone
    _Msg("w", 1, [(H, b" 42 ")]),  # int() takes it, the merge key does not (round 34): the timestamp
    _Msg("s", 6, [(H, b"-3")], timestamp_=(2, 77)),  # LogAppendTime
]


def test_a_poll_reads_as_the_message_by_message_readers() -> None:
    by_topic, stop = read_poll(VARIED, H)
    assert stop == len(VARIED)
    assert list(by_topic) == ["s", "w"]  # topics in their first message's order
    for topic, entries in by_topic.items():
        msgs = [m for m in VARIED if m.topic_ == topic]
        assert entries == [(event_time_ms(m), m.offset(), m.value() or b"", arrival_ms(m), m.key())
                           for m in msgs]
    assert [e[0] for e in by_topic["s"]] == [1000, 1001, 5000, 5000, 5000, 5000, -3]
    assert by_topic["w"][0][3] == -1
    assert by_topic["w"][1][0] == 5000


def test_merge_key_of_prefers_the_first_header_and_falls_back_to_the_timestamp() -> None:
    assert merge_key_of([("a", b"1"), (H, b"12")], 9, H) == 12
    assert merge_key_of([(H, b"x"), (H, b"12")], 9, H) == 9
    assert merge_key_of(None, 9, H) == 9


def test_a_poll_is_read_up_to_its_next_error_event() -> None:
    msgs = [_Msg("s", 0, [(H, b"1")]), _eof("w", 3), _Msg("s", 1, [(H, b"2")]), _Msg("w", 3, [(H, b"3")])]
    first, stop = read_poll(msgs, H)
    assert stop == 1
    assert {t: [e[1] for e in es] for t, es in first.items()} == {"s": [0]}
    rest, stop = read_poll(msgs, H, stop + 1)
    assert stop == len(msgs)
    assert {t: [e[1] for e in es] for t, es in rest.items()} == {"s": [1], "w": [3]}


def _entries(rng: random.Random, n: int, start: int) -> list[Any]:
    """Entries of a topic: mostly in order, some an hour ahead in runs of one asset or behind."""
    out = []
    t = start
    for off in range(n):
        t += rng.choice((0, 1, 1, 2))
        key = t
        roll = rng.random()
        if roll < 0.08:
            key = t + 3_600_000  # a clock ahead
        elif roll < 0.12:
            key = t - 50  # behind
        asset = rng.choice((b"a", b"a", b"b", None, b""))
        out.append((key, off, b"v%d" % off, t, asset))
    return out


def test_buffering_a_poll_at_once_is_buffering_its_messages_one_by_one() -> None:
    rng = random.Random(3)
    fast = 0
    for case in range(600):
        keyed = case % 3 != 0
        floor = rng.choice((float("inf"), 0.0, 1_000_000.0))
        before = _entries(rng, rng.randrange(0, 6), 0) if case % 2 else []
        poll = _entries(rng, rng.randrange(1, 30), 10) if case % 5 else \
            [(k, o, b"", k, b"a") for o, k in enumerate(range(20, 40))]  # in order: the fast path
        one, many = deque(before), deque(before)
        for entry in poll:
            buffer_message(one, entry, floor, keyed=keyed)
        buffer_entries(many, poll, floor, keyed=keyed)
        assert list(many) == list(one), (case, before, poll, floor, keyed)
        fast += sorted(e[0] for e in poll) == [e[0] for e in poll]
    assert fast > 100  # both ways were taken


def test_a_run_of_one_asset_stamped_ahead_is_lowered_when_buffered_at_once() -> None:
    buf: deque[Any] = deque([(100, 0, b"", 100, b"a")])
    buffer_entries(buf, [(9_000, 1, b"", 101, b"b"), (9_001, 2, b"", 102, b"b"), (102, 3, b"", 103, b"c")],
                   50.0)
    assert [e[0] for e in buf] == [100, 102, 102, 102]  # b's clock jumped: its run is lowered to c's key


def _source_part() -> Any:
    src = KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, ["s", "w"])
    part = src.build_part("telemetry_in", "0", None)
    part.consumer.close()
    return part


def test_an_end_of_partition_counts_where_it_came_in_the_poll() -> None:
    part = _source_part()
    part.consumer = FetchedQueue([_Msg("s", 0, [(H, b"1")]), _eof("s", 1), _eof("w", 0),
                                  _Msg("w", 0, [(H, b"2")])])
    assert part._poll()[0] == 4
    assert part.eof == {"s": True, "w": False}  # s reached its end after its message; w delivered after
    assert [e[1] for e in part.buffers["s"]] == [0]
    assert [e[1] for e in part.buffers["w"]] == [0]


def test_a_resumed_offset_is_checked_against_the_first_message_or_end_in_the_poll() -> None:
    src = KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, ["s", "w"])
    errors: list[str] = []
    src.on_error = errors.append
    part = src.build_part("telemetry_in", "0", {"s": 5, "w": 2})
    part.consumer.close()
    # s: the first message is at 9 (retention deleted 5-8); w: its end at 2, where it was
    part.consumer = FetchedQueue([_Msg("s", 9, [(H, b"1")]), _Msg("s", 10, [(H, b"2")]), _eof("w", 2)])
    part._poll()
    assert errors == ["offsets_deleted"]
    assert part.resumed == {}


def test_header_texts_repeated_across_a_poll_read_as_each_message_alone() -> None:
    """The integer of a header text is reused for the same text only (a fleet's records of one second)."""
    texts = [b"1000", b"1000", b"1001", b"x", b"1001", None, b"1001", b" 1001", b"1000", b"1000"]
    msgs = [_Msg("s", i, [(H, t)]) for i, t in enumerate(texts)]
    by_topic, _stop = read_poll(msgs, H)
    assert [e[0] for e in by_topic["s"]] == [event_time_ms(m) for m in msgs]
    assert [e[0] for e in by_topic["s"]] == [1000, 1000, 1001, 5000, 1001, 5000, 1001, 5000, 1000, 1000]


def test_a_null_header_first_in_a_poll_takes_the_kafka_timestamp() -> None:
    """Nothing is reused before a header text has been read as an integer (a null first text is
    not an earlier text of integer 0)."""
    msgs = [_Msg("s", 0, [(H, None)]), _Msg("s", 1, [(H, None)]), _Msg("s", 2, [(H, b"7")])]
    by_topic, _stop = read_poll(msgs, H)
    assert [e[0] for e in by_topic["s"]] == [event_time_ms(m) for m in msgs] == [5000, 5000, 7]
