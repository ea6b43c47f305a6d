"""The Kafka broker that `make test` starts: real produce/consume, and restart durability."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer

if TYPE_CHECKING:
    from tests.integration.conftest import KafkaControl

pytestmark = pytest.mark.integration


def produce(brokers: str, topic: str, records: list[tuple[str, str]]) -> dict[str, int]:
    """Produce (key, value) records with acks=all; return value -> partition it was written to."""
    producer = Producer({
        "bootstrap.servers": brokers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    })
    delivered: dict[str, int] = {}
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            delivered[as_record(msg)[1]] = as_record(msg)[2]

    for key, value in records:
        producer.produce(topic, key=key.encode(), value=value.encode(), on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} messages not delivered within 30 s"
    assert not errors, errors[:5]
    assert len(delivered) == len(records)
    return delivered


Record = tuple[str, str, int, int]  # key, value, partition, offset


def as_record(msg: Message) -> Record:
    key, value, partition, offset = msg.key(), msg.value(), msg.partition(), msg.offset()
    assert key is not None and value is not None and partition is not None and offset is not None
    k = key.decode() if isinstance(key, bytes) else key
    v = value.decode() if isinstance(value, bytes) else value
    return k, v, partition, offset


def consume(
    brokers: str, topic: str, expected: int, group: str | None = None, timeout: float = 60.0,
) -> list[Record]:
    """Read `expected` messages, committing them; then poll a little longer so that any
    duplicate or stray message would be seen too."""
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": group or f"test-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    got: list[Record] = []

    def poll(timeout_s: float) -> None:
        msg = consumer.poll(timeout_s)
        if msg is None:
            return
        err = msg.error()
        if err is None:
            got.append(as_record(msg))
        elif err.code() != KafkaError._PARTITION_EOF:
            pytest.fail(f"consumer error: {err}")

    try:
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            poll(0.5)
        extra_deadline = time.monotonic() + 1.0
        while time.monotonic() < extra_deadline:
            poll(0.2)
        if got:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


def test_round_trip_300_keyed_messages_exactly_once(
    kafka_brokers: str, unique_topic: Callable[..., str],
) -> None:
    topic = unique_topic("roundtrip", partitions=3)
    keys = [f"twin-{k:02d}" for k in range(17)]
    records = [(keys[i % len(keys)], f"{keys[i % len(keys)]}:{i:04d}") for i in range(300)]

    delivered = produce(kafka_brokers, topic, records)
    got = consume(kafka_brokers, topic, expected=300)

    values = [v for _, v, _, _ in got]
    assert len(values) == 300, f"got {len(values)} messages, expected 300"
    assert len(set(values)) == 300, "duplicates"
    assert set(values) == {v for _, v in records}

    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    seq_by_key: dict[str, list[int]] = defaultdict(list)
    for key, value, partition, _offset in got:
        assert value.startswith(key + ":")
        assert partition == delivered[value], "read from another partition than written to"
        partitions_of_key[key].add(partition)
        seq_by_key[key].append(int(value.rsplit(":", 1)[1]))
    assert all(len(ps) == 1 for ps in partitions_of_key.values()), dict(partitions_of_key)
    assert len({p for ps in partitions_of_key.values() for p in ps}) > 1, "all keys on one partition"
    # one key -> one partition -> its messages come back in production order
    assert all(seq == sorted(seq) for seq in seq_by_key.values())
    # offsets are dense per partition: nothing lost, nothing written twice
    offsets: dict[int, list[int]] = defaultdict(list)
    for _, _, partition, offset in got:
        offsets[partition].append(offset)
    for partition, offs in offsets.items():
        assert sorted(offs) == list(range(len(offs))), f"partition {partition} offsets have gaps"


def test_messages_and_committed_offsets_survive_broker_restart(
    kafka_brokers: str, unique_topic: Callable[..., str], kafka_control: KafkaControl,
) -> None:
    topic = unique_topic("restart", partitions=2)
    group = f"restart-{uuid.uuid4().hex}"
    before = [(f"k{i % 5}", f"before-{i:03d}") for i in range(200)]
    produce(kafka_brokers, topic, before)
    got = consume(kafka_brokers, topic, expected=200, group=group)
    assert sorted(v for _, v, _, _ in got) == sorted(v for _, v in before)

    kafka_control.stop()
    assert not kafka_control.is_running()
    kafka_control.start()

    after = [(f"k{i % 5}", f"after-{i:03d}") for i in range(50)]
    produce(kafka_brokers, topic, after)
    # the same group resumes from its committed offsets: only the new messages
    resumed = consume(kafka_brokers, topic, expected=50, group=group)
    assert sorted(v for _, v, _, _ in resumed) == sorted(v for _, v in after)
    # a new group reads everything, from before and after the restart, exactly once
    everything = consume(kafka_brokers, topic, expected=250)
    values = [v for _, v, _, _ in everything]
    assert len(values) == len(set(values)) == 250
    assert set(values) == {v for _, v in before + after}
