"""Stand-ins for confluent-kafka's consumed messages and a consumer's fetched queue, shared by the
Kafka source's unit and flow tests (no broker: the integration tests use the real one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME

from flows.dataflow.sources.kafka import EVENT_TIME_HEADER

__all__ = ["FakeMessage", "FetchedQueue", "StampedMessage"]


@dataclass
class FakeMessage:
    """A consumed message as confluent-kafka hands it over (the methods the source calls)."""

    topic_: str
    offset_: int
    headers_: list[tuple[str, Any]] | None
    timestamp_: tuple[int, int] = (TIMESTAMP_CREATE_TIME, 5000)
    value_: bytes | None = b"{}"
    key_: bytes | None = b"asset-1"
    error_: Any = None

    def error(self) -> Any:
        return self.error_

    def topic(self) -> str:
        return self.topic_

    def offset(self) -> int:
        return self.offset_

    def partition(self) -> int:
        return 0

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> list[tuple[str, Any]] | None:
        return self.headers_

    def key(self) -> bytes | None:
        return self.key_

    def timestamp(self) -> tuple[int, int]:
        return self.timestamp_

    def __len__(self) -> int:  # confluent-kafka: the value's length (0 for a tombstone)
        return len(self.value_ or b"")


class StampedMessage(FakeMessage):
    """A message stamped ``ts`` ms (twinflow's event-time header), produced 5 ms later (its Kafka
    timestamp), keyed by one asset per offset (``asset-<offset % 7>``: a forward-jumped run in the
    tests is of one message)."""

    def __init__(self, topic: str, offset: int, ts: int) -> None:
        super().__init__(topic, offset, [(EVENT_TIME_HEADER, str(ts).encode())],
                         timestamp_=(TIMESTAMP_CREATE_TIME, ts + 5))
        self.ts = ts

    def key(self) -> bytes | None:
        return f"asset-{self.offset_ % 7}".encode()


@dataclass
class FetchedQueue:
    """What the broker has fetched so far, handed out by ``consume()`` (a stub consumer)."""

    queue: list[Any] = field(default_factory=list)

    def consume(self, n: int, _timeout: float) -> list[Any]:
        out, self.queue = self.queue[:n], self.queue[n:]
        return out

    def get_watermark_offsets(self, *_a: Any, **_k: Any) -> tuple[int, int]:
        return 0, 0

    def close(self) -> None:
        return None
