"""The Kafka source's batch of several polls (``next_batch``, round 21): while polls come back full of
small messages (a backlog), the next poll's messages join the same batch, a topic's run going on
across polls; the messages and their order, the offsets and the buffers' bounds are those of one poll
per batch."""

from __future__ import annotations

import random
from itertools import pairwise
from typing import Any

import pytest
from confluent_kafka import KafkaError

from flows.dataflow.items import RawRecord, RawRun
from flows.dataflow.sources import kafka_entries as source
from flows.dataflow.sources.kafka import KafkaTelemetrySource
from tests.kafka_fakes import FakeMessage, FetchedQueue, StampedMessage


class _Err:
    def code(self) -> int:
        return KafkaError._PARTITION_EOF


def _eof(topic: str, offset: int) -> FakeMessage:
    return FakeMessage(topic, offset, None, error_=_Err())


class _Counting(FetchedQueue):
    """The stub consumer, counting its polls; a paused topic's messages stay fetched, not handed out,
    until it is resumed (as librdkafka: the topic's fetch stops, nothing is lost)."""

    def __init__(self, queue: list[Any]) -> None:
        super().__init__(queue)
        self.polls = 0
        self.paused: set[str] = set()

    def consume(self, n: int, timeout: float) -> list[Any]:
        self.polls += 1
        out = [m for m in self.queue if m.topic_ not in self.paused][:n]
        taken = set(map(id, out))
        self.queue = [m for m in self.queue if id(m) not in taken]
        return out

    def pause(self, tps: list[Any]) -> None:
        self.paused |= {tp.topic for tp in tps}

    def resume(self, tps: list[Any]) -> None:
        self.paused -= {tp.topic for tp in tps}


def _part(queue: list[Any], **kw: Any) -> Any:
    src = KafkaTelemetrySource({"bootstrap.servers": "127.0.0.1:1"}, ["s", "w"], tail=False, **kw)
    part = src.build_part("telemetry_in", "0", None)
    part.consumer.close()
    part.consumer = _Counting(queue)
    return part


def _offsets(items: list[RawRecord | RawRun]) -> list[tuple[tuple[str, int], ...]]:
    """Each item's (topic, offset)s: a run's, or a lone record's."""
    out: list[tuple[tuple[str, int], ...]] = []
    for item in items:
        if type(item) is RawRun:
            out.append(tuple((item.source, o) for o in item.offsets))
        else:
            out.append(((item.source, int(dict(item.headers)["source.offset"])),))
    return out


def _count(items: list[RawRecord | RawRun]) -> int:
    return sum(map(len, _offsets(items)))


def _drain(part: Any) -> tuple[list[list[tuple[str, int]]], int]:
    """Every batch to the end, and the most messages a topic's buffer held after a batch."""
    batches, peak = [], 0
    with pytest.raises(StopIteration):
        for _ in range(10_000):
            batches.append(_offsets(part.next_batch()))
            peak = max(peak, *map(len, part.buffers.values()))
    return batches, peak


def test_full_polls_of_small_messages_make_one_batch() -> None:
    msgs = [_eof("w", 0)] + [StampedMessage("s", o, 1000 + o) for o in range(35)]
    part = _part(msgs, batch_size=10)
    items = part.next_batch()
    assert part.consumer.polls == 4  # 10, 10, 10 (full), then 6: the backlog is through
    # before: the first poll's 9 messages, the rest in 3 more batches; now one run of all 35
    assert [item.offsets for item in items] == [tuple(range(35))]
    assert part.offsets["s"] == 35 and part.polled == 36
    assert part.next_awake() is None  # it brought messages: polled again at once


def test_a_batch_takes_at_most_batch_polls_polls() -> None:
    msgs = [_eof("w", 0)] + [StampedMessage("s", o, 1000 + o) for o in range(200)]
    part = _part(msgs, batch_size=10)
    first = part.next_batch()
    assert part.consumer.polls == source.BATCH_POLLS
    assert _count(first) == 10 * source.BATCH_POLLS - 1


def test_large_messages_take_one_poll_per_batch() -> None:
    big = b"x" * (source.BATCH_BYTES // 2)  # two of them fill a batch's bytes (waveform frames)
    msgs = [_eof("w", 0)] + [FakeMessage("s", o, [], value_=big, timestamp_=(1, 1000 + o)) for o in range(9)]
    part = _part(msgs, batch_size=2)
    assert _count(part.next_batch()) == 3  # the end of w + 1 message (0.5 MB), then 2 more: 1.5 MB
    assert part.consumer.polls == 2
    for _ in range(3):  # one full poll of two messages is 1 MB already: no second poll
        assert _count(part.next_batch()) == 2
    assert part.consumer.polls == 5


@pytest.mark.parametrize("seed", range(12))
def test_the_merged_order_and_offsets_are_those_of_one_poll_per_batch(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    msgs: list[Any] = []
    ts = {"s": 0, "w": 0}
    for topic in ("s", "w"):  # two topics, each in its own event-time order, interleaved by the fetch
        n = rng.randrange(20, 400)
        for o in range(n):
            ts[topic] += rng.choice((0, 1, 5, 50))
            msgs.append(StampedMessage(topic, o, 10_000 + ts[topic]))
        msgs.append(_eof(topic, n))
    rng.shuffle(msgs)  # the fetch order across topics; each topic's own order kept below
    for topic in ("s", "w"):
        mine = (m for m in msgs if m.topic_ == topic)
        own = iter(sorted(mine, key=lambda m: (m.error_ is not None, m.offset_)))
        msgs = [next(own) if m.topic_ == topic else m for m in msgs]
    kw = {"batch_size": rng.choice((3, 10, 64)), "max_buffered": rng.choice((20, 2000))}
    one = _part(list(msgs), **kw)
    monkeypatch.setattr(source, "BATCH_POLLS", 1)
    single, single_peak = _drain(one)
    monkeypatch.undo()
    many = _part(list(msgs), **kw)
    batches, peak = _drain(many)
    # the same messages in the same order; a batch's runs are those polls' runs, joined where a
    # topic's run went on in the next poll (each batch ends where some batch of one poll ends)
    flat = [m for b in batches for run in b for m in run]
    assert flat == [m for b in single for run in b for m in run]
    for b in batches:
        assert all(x[0][0] != y[0][0] for x, y in pairwise(b))  # runs of one topic are joined
    ends, n = set(), 0
    for b in single:
        n += sum(map(len, b))
        ends.add(n)
    n = 0
    for b in batches:
        n += sum(map(len, b))
        assert n in ends
    assert many.offsets == one.offsets
    assert peak <= max(single_peak, kw["max_buffered"] + kw["batch_size"])  # polls held back in between
    assert len(batches) <= len(single)
