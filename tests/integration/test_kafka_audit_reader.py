"""The audit topic's reader and the archive's judge an entry alike (round 28, part HOSTILE28): the
same entries, one with an actor holding a control character, listed by `twin commands list` from
the topic (a real broker) and from the archive give the same list and the same warning line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from flows.app.topics import TOPIC_ROLES, create_topics
from flows.cli.main import main
from flows.codec import encode_json
from flows.config.pipeline import KafkaConfig
from tests.flows.test_audit_readers import tampered_archive

pytestmark = pytest.mark.integration


def test_the_topic_s_reader_and_the_archive_s_list_a_tampered_log_alike(
        kafka_brokers: str, kafka_admin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Main: from the topic the tampered `sent` entry was dropped unsaid (state `approved`, no line on
    stderr); from the archive it was kept (state `sent`)."""
    entries = tampered_archive(tmp_path / "archive")
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"au-{uuid.uuid4().hex[:8]}.", partitions=1)
    create_topics(cfg)
    try:
        producer = Producer({"bootstrap.servers": kafka_brokers})
        for e in entries:
            producer.produce(cfg.topic("audit"), encode_json(e), e.asset_id.encode())
        assert producer.flush(30) == 0
        assert main(["commands", "list", "--all", "--json", "--brokers", kafka_brokers,
                     "--topic-prefix", cfg.topic_prefix]) == 0
        topic_out, topic_err = capsys.readouterr()
        assert main(["commands", "list", "--all", "--json", "--archive", str(tmp_path / "archive")]) == 0
        archive_out, archive_err = capsys.readouterr()
    finally:
        kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)
    assert [json.loads(line)["state"] for line in topic_out.splitlines()] == ["approved"]
    assert topic_out == archive_out
    why = ("left out (not audit entries: schema_violation 1; first: actor holds a control or invisible "
           "formatting character U+001B: 'twinflow\\x1b[31m\\u202e')\n")
    assert topic_err == f"twin: warning: 1 entry of the audit topic {cfg.topic('audit')} {why}"
    archive = tmp_path / "archive"
    assert archive_err == f"twin: warning: 1 entry of the archive's audit table in {archive} {why}"
