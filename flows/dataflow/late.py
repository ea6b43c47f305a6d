"""The dead letters of records that came after their window closed (the window step's late stream).

A late record's ``late_record`` dead letter names where it was read when it came from Kafka
(``source.topic/partition/offset``): every late item read from Kafka knows it. A column piece
carries its offsets (``positions``); a Kafka scalar that may be late travels as a one-sample piece,
and the block builder makes a piece, not a block, of Kafka samples it judged one by one
(:mod:`flows.dataflow.located`); a Kafka frame's features and a Kafka event carry their message's
origin and offset (:class:`~flows.dataflow.items.FrameFeatures`,
:class:`~flows.dataflow.items.SourcedEvent`). Only a replay's records (files, the simulator) have
no ``source.*`` headers: they were not read from Kafka.
"""

from __future__ import annotations

from datetime import datetime

from flows import codec
from flows.dataflow.items import (
    DeadLetter,
    FrameFeatures,
    ScalarColumns,
    SourcedEvent,
    WindowItem,
    origin_headers,
)
from twin_models.records import AssetEvent, ScalarSample

__all__ = ["late_dead_letter", "late_sources"]


def late_dead_letter(item: WindowItem, now: datetime,
                     headers: tuple[tuple[str, str], ...] = ()) -> DeadLetter:
    """A record that arrived after its window closed; ``headers`` where it came from, when the
    late item carried it (:func:`late_sources`; a Kafka frame's features and a Kafka event carry
    their own). A Kafka event's detail and bytes are the plain event's."""
    if type(item) is FrameFeatures:
        headers = headers or item.sources()
    elif type(item) is SourcedEvent:
        headers, item = headers or item.sources(), item.plain()
    detail = (
        f"{type(item).__name__} of asset {item.asset_id!r} at {item.timestamp.isoformat()} "
        "arrived after its window closed (older than the allowed lateness)"
    )
    payload = b""
    if isinstance(item, ScalarSample | AssetEvent):
        payload = codec.encode_json(item)
    return DeadLetter("late_record", detail, "window", payload, now, headers)


def late_sources(piece: ScalarColumns) -> list[tuple[tuple[str, str], ...]]:
    """The ``source.*`` headers of each sample of a late column piece read from Kafka (its
    origin names the topic partition, its positions are the offsets; :func:`origin_headers`);
    none for a replay's piece."""
    if piece.positions is None:
        return [()] * len(piece)
    return [origin_headers(piece.origin, offset) for offset in piece.positions.tolist()]
