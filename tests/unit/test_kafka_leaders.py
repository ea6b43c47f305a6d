"""flows.kafka.clients.wait_for_leaders on a stand-in admin client (the real broker's case, topics
created and written to at once, is tests/integration/test_kafka_fresh_topics.py)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ClusterMetadata, PartitionMetadata, TopicMetadata

from flows.config.pipeline import KafkaConfig
from flows.kafka.clients import KafkaSetupError, wait_for_leaders

CFG = KafkaConfig(brokers="kafka-1:9092", connect_timeout_s=5.0)


def _meta(leaders: dict[str, list[int]]) -> ClusterMetadata:
    meta = ClusterMetadata()
    for name, per_partition in leaders.items():
        tm = TopicMetadata()
        tm.topic = name
        for p, leader in enumerate(per_partition):
            pm = PartitionMetadata()
            pm.id, pm.leader = p, leader
            tm.partitions[p] = pm
        meta.topics[name] = tm
    return meta


class Admin:
    """Answers the metadata of ``steps`` one after the other (the last one for ever); ListOffsets
    fails for the partitions in ``unserved`` the first ``unserved_times`` times."""

    def __init__(self, *steps: dict[str, list[int]], unserved: frozenset[tuple[str, int]] = frozenset(),
                 unserved_times: int = 0) -> None:
        self.steps = list(steps)
        self.unserved = unserved
        self.unserved_times = unserved_times
        self.calls = {"metadata": 0, "offsets": 0}

    def list_topics(self, timeout: float) -> ClusterMetadata:
        assert timeout > 0
        self.calls["metadata"] += 1
        return _meta(self.steps.pop(0) if len(self.steps) > 1 else self.steps[0])

    def list_offsets(self, parts: dict[Any, Any], request_timeout: float) -> dict[Any, Future[Any]]:
        assert request_timeout > 0
        self.calls["offsets"] += 1
        out = {}
        for tp in parts:
            fut: Future[Any] = Future()
            if (tp.topic, tp.partition) in self.unserved and self.calls["offsets"] <= self.unserved_times:
                fut.set_exception(KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)))
            else:
                fut.set_result(object())
            out[tp] = fut
        return out


def test_returns_once_every_partition_is_led_and_served() -> None:
    admin = Admin({"a": [-1, -1], "b": [1]}, {"a": [1, -1], "b": [1]}, {"a": [1, 1], "b": [1]},
                  unserved=frozenset({("a", 1)}), unserved_times=2)
    wait_for_leaders(admin, ["a", "b"], CFG)  # type: ignore[arg-type]
    assert admin.calls == {"metadata": 5, "offsets": 3}  # 2 without leaders, 2 not served, then all


def test_a_partition_without_a_leader_is_one_line_after_the_bound() -> None:
    admin = Admin({"a": [1, -1, 1], "b": [1]})
    with pytest.raises(KafkaSetupError) as err:
        wait_for_leaders(admin, ["a", "b"], CFG, timeout_s=0.3)  # type: ignore[arg-type]
    assert str(err.value) == (
        "Kafka at kafka-1:9092: no partition leader serving a[1] within 0.3 s; check the brokers "
        "(`twin topics describe`) and try again, or wait longer with --connect-timeout")
    assert admin.calls["offsets"] == 0


def test_a_leader_that_never_serves_its_partition_is_named() -> None:
    admin = Admin({"a": [1, 1]}, unserved=frozenset({("a", 0)}), unserved_times=10**6)
    with pytest.raises(KafkaSetupError, match=r"no partition leader serving a\[0\] within 0.3 s"):
        wait_for_leaders(admin, ["a"], CFG, timeout_s=0.3)  # type: ignore[arg-type]


def test_an_absent_topic_is_told_to_be_created() -> None:
    admin = Admin({"b": [1]})
    with pytest.raises(KafkaSetupError) as err:
        wait_for_leaders(admin, ["a", "b", "c"], CFG, timeout_s=0.3)  # type: ignore[arg-type]
    assert str(err.value) == ("Kafka at kafka-1:9092 has no topic a, c (create the topics with "
                              "`twin topics create`)")


def test_a_topic_just_created_is_waited_for_past_the_absent_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broker started moments ago lists the topics it has just created many seconds later (16-17 s
    measured in round 26): ``twin topics create`` (``created=True``) waits for them within its whole
    bound instead of telling the user to create the topics it has just created."""
    monkeypatch.setattr("flows.kafka.clients.ABSENT_GRACE_S", 0.0)
    unlisted = ({"b": [1]},) * 4
    admin = Admin(*unlisted, {"a": [1], "b": [1]})
    wait_for_leaders(admin, ["a", "b"], CFG, created=True)  # type: ignore[arg-type]
    assert admin.calls["metadata"] == 5
    with pytest.raises(KafkaSetupError, match="has no topic a "):  # a topic nobody created: the grace
        wait_for_leaders(Admin(*unlisted, {"a": [1], "b": [1]}), ["a", "b"], CFG)  # type: ignore[arg-type]


class _VirtualTime:
    """The clock of ``wait_for_leaders``: it moves only by its sleeps (a loaded machine's pauses
    between the stand-in's instant answers are not the bound's business)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_created_topic_never_listed_is_one_line_after_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # round 31: on the wall clock, a pause of 0.3 s after the first listing (CPU load) left one call
    monkeypatch.setattr("flows.kafka.clients.time", _VirtualTime())
    admin = Admin({"b": [1]})
    with pytest.raises(KafkaSetupError) as err:
        wait_for_leaders(admin, ["a", "b"], CFG, timeout_s=0.3, created=True)  # type: ignore[arg-type]
    assert str(err.value) == (
        "Kafka at kafka-1:9092 does not list the topic a it created within 0.3 s; check the brokers "
        "(`twin topics describe`) and try again, or wait longer with --connect-timeout")
    assert admin.calls["metadata"] > 1
