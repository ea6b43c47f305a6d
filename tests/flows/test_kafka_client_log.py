"""librdkafka's lines from the dataflow's own Kafka clients go through the project's logger, masked.

Round 13's dataflow clients (the telemetry source's consumers, the sinks' producers) let librdkafka print
``%3|1700000000.123|FAIL|<client.id>#consumer-1| ...`` raw on stderr: another format than the CLI's
clients, and unmasked (a secret's value in ``client.id``, say, printed as is). Real librdkafka clients
against a closed port (no broker needed): their connection failures are the lines checked.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from confluent_kafka import Producer

from flows.dataflow.sources.kafka import KafkaTelemetrySource
from flows.kafka.errors import guarded

SECRET = "s3cr3t-Vq7w"
CLOSED = "127.0.0.1:1"  # nothing listens: librdkafka logs "Connect to ... failed: Connection refused"


def _lines(caplog: pytest.LogCaptureFixture, poll: Any) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        poll()
        lines = [r.getMessage() for r in caplog.records if r.name == "flows.kafka.librdkafka"]
        if any("Connection refused" in ln for ln in lines):
            return lines
        time.sleep(0.1)
    return [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("security", [{}, {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                                           "sasl.username": "svc"}])
def test_the_source_consumer_logs_through_the_project_logger_and_masks_secrets(
        security: dict[str, str], caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    conf = {"bootstrap.servers": CLOSED, "client.id": f"twin-{SECRET}", "sasl.password": SECRET, **security}
    src = KafkaTelemetrySource(conf, ["t.scalars"], max_idle_s=60.0)
    part = src.build_part("kafka_in", "0", None)
    try:
        with caplog.at_level(logging.DEBUG, logger="flows.kafka.librdkafka"):
            lines = _lines(caplog, part.next_batch)
    finally:
        part.close()
    raw = capfd.readouterr().err
    refused = [ln for ln in lines if "Connection refused" in ln]
    assert refused, (lines, raw)
    assert refused[0].startswith("Kafka client twin-***#consumer-"), refused
    assert "(FAIL)" in refused[0], refused
    assert SECRET not in "\n".join(lines) + raw
    assert "%3|" not in raw and "|FAIL|" not in raw  # nothing printed raw by librdkafka


def test_a_sink_producer_logs_through_the_project_logger_and_masks_secrets(
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    producer = Producer(guarded({"bootstrap.servers": CLOSED, "client.id": SECRET, "sasl.password": SECRET}))
    with caplog.at_level(logging.DEBUG, logger="flows.kafka.librdkafka"):
        lines = _lines(caplog, lambda: producer.poll(0.1))
    raw = capfd.readouterr().err
    refused = [ln for ln in lines if "Connection refused" in ln]
    assert refused and refused[0].startswith("Kafka client ***#producer-"), lines
    assert SECRET not in "\n".join(lines) + raw and "|FAIL|" not in raw
