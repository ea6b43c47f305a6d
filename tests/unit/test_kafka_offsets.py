"""The Kafka source's policy for a resumed offset retention deleted, and how it reads librdkafka's notice
of a deleted topic (no broker: the real-broker side is in tests/integration/test_kafka_offset_reset.py and
test_kafka_topic_deleted.py)."""

from __future__ import annotations

import logging

import pytest

from flows.dataflow.sources import kafka_offsets as gone


@pytest.mark.parametrize(("conf", "want"), [
    ({}, ("earliest", False)), ({"auto.offset.reset": "latest"}, ("latest", True)),
    ({"auto.offset.reset": "largest"}, ("latest", True)), ({"auto.offset.reset": "END"}, ("latest", True)),
    ({"auto.offset.reset": "smallest"}, ("earliest", True)),
    ({"auto.offset.reset": "error"}, ("error", True)),
])
def test_the_policy_in_force_names_librdkafkas_aliases(conf: dict[str, str], want: tuple[str, bool]) -> None:
    assert gone.reset_policy(conf) == want


def test_only_a_policy_that_can_skip_or_stop_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    gone._said.clear()
    with caplog.at_level(logging.INFO, logger="flows.dataflow.sources.kafka"):
        for conf in ({}, {"auto.offset.reset": "earliest"}, {"auto.offset.reset": "error"}, {}):
            gone.say_policy(conf)
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [lv for lv, _m in said] == [logging.INFO, logging.INFO, logging.WARNING]  # once per policy
    assert said[2][1].startswith("Kafka source: auto.offset.reset=error (from the settings): a resumed "
                                 "offset that retention deleted stops the run")


@pytest.mark.parametrize(("fac", "text", "topic"), [
    ("PARTCNT", "Topic t.scalar.v1 (id dQEzuVAlShKT4L6H6kuswQ) partition count changed from 4 to 0",
     "t.scalar.v1"),
    ("PARTCNT", "Topic t.scalar.v1 partition count changed from 1 to 0", "t.scalar.v1"),
    ("PARTCNT", "Topic t.scalar.v1 (id x) partition count changed from 4 to 8", None),  # grown: not gone
    ("OFFSET", "Topic t.scalar.v1 (id x) partition count changed from 4 to 0", None),
])
def test_a_deleted_topic_is_read_from_librdkafkas_notice(fac: str, text: str, topic: str | None) -> None:
    assert gone.deleted_topic(fac, text) == topic


def test_a_deleted_topic_is_said_and_counted_once(caplog: pytest.LogCaptureFixture) -> None:
    codes: list[str] = []
    deleted = gone.DeletedTopics(codes.append)
    with caplog.at_level(logging.WARNING, logger="flows.dataflow.sources.kafka"):
        for _ in range(3):  # every partition of the topic sees the notice
            deleted("t.scalar.v1")
    assert codes == ["topic_deleted"] and len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("Kafka topic t.scalar.v1 was deleted while twin run")


def test_a_deleted_topic_no_longer_holds_the_merge_back_and_a_replay_can_end() -> None:
    """Partition 0 of ``scalars`` and ``waveforms``: waveforms delivered and reached its end, scalars has
    delivered nothing. The merge waits for scalars (it may still deliver something older); once
    librdkafka's notice says scalars was deleted, the buffered waveforms go and an end-of-input
    source (``tail=False``) ends."""
    from tests.flows.test_kafka_source_idle import _partition
    from tests.kafka_fakes import StampedMessage

    part, broker = _partition(max_idle_s=60.0)
    part.src.tail = False
    codes: list[str] = []
    part.src.topic_deleted = gone.DeletedTopics(codes.append)
    broker.queue = [StampedMessage("waveforms", 0, 1000)]
    assert part.next_batch() == []  # held: scalars may still deliver something older
    part.eof["waveforms"] = True
    part._on_log("PARTCNT", "Topic scalars (id x) partition count changed from 1 to 0")
    assert codes == ["topic_deleted"] and part.eof["scalars"]
    assert len(part.next_batch()) == 1  # the waveform goes
    with pytest.raises(StopIteration):
        part.next_batch()
