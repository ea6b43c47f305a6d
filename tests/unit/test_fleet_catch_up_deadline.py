"""The fleet model topic's catch-up (round 49, DOCS49) stopped by its deadline says so.

Round 50 (HOSTILE50): a topic not read to its end within ``kafka.connect_timeout_s`` (a large
uncompacted topic, a broker slow to fetch: on a topic written at ~100k messages/s the start took the
whole 8 s and left the rest) was left to the background thread without a word, so the late versions
the catch-up exists to prevent could come back unseen; a topic that could not be read at all was
already a warning.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from flows.app.fleet_topic import FleetModelConsumer
from flows.config.pipeline import KafkaConfig
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.metrics import PipelineMetrics


class _NeverDone:
    """A consumer whose partitions 0 and 2 hold messages that never arrive."""

    def get_watermark_offsets(self, part: Any, timeout: float) -> tuple[int, int]:
        return (0, 0 if part.partition == 1 else 10)

    def consume(self, n: int, timeout: float) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def test_a_catch_up_stopped_by_its_deadline_is_a_warning_naming_the_partitions(
        caplog: pytest.LogCaptureFixture) -> None:
    kafka = KafkaConfig(brokers="127.0.0.1:1", connect_timeout_s=0.2)
    consumer = FleetModelConsumer(kafka, "t.fleet", FleetBoard(), PipelineMetrics())
    consumer.consumer.close()  # never used: no broker
    consumer.consumer = _NeverDone()
    with caplog.at_level(logging.WARNING, logger="flows.app.fleet_topic"):
        consumer._catch_up([0, 1, 2])  # noqa: SLF001
    said = [r.getMessage() for r in caplog.records if r.name == "flows.app.fleet_topic"]
    assert said == ["twin: the fleet model topic t.fleet was not read to its end before the start within "
                    "0.2 s (kafka.connect_timeout_s; partitions 0, 2 left to the background): versions "
                    "already on it may reach the board after windows they apply to"]  # the base: nothing
