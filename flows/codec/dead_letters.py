"""Dead letters (``dead_letter.v2``): a refused payload as JSON, with its reason and raw bytes.

The raw payload travels as base64, so a fixed reader (or better metadata) can replay it exactly.
A payload read from Kafka also carries its coordinates (``source_topic``, ``source_partition``,
``source_offset``: the ``source.*`` headers the dead-letter topic gives it), so a line of the
dead-letter file points at the same message a dead letter on the topic does.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flows.codec.encode import dumps
from flows.codec.errors import DecodeError
from flows.codec.fields import format_timestamp

__all__ = ["SOURCE_FIELDS", "dead_letter"]

SOURCE_FIELDS = {"source.topic": "source_topic", "source.partition": "source_partition",
                 "source.offset": "source_offset"}
"""A dead letter's Kafka source header -> its field in the JSON document (``dead_letter.v2``)."""


def _source_fields(headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The Kafka coordinates among ``headers``: all three (partition and offset as integers) or none."""
    got = {SOURCE_FIELDS[k]: v for k, v in headers if k in SOURCE_FIELDS}
    if len(got) != len(SOURCE_FIELDS):
        return {}
    try:
        part, offset = int(got["source_partition"]), int(got["source_offset"])
    except ValueError:
        return {}
    if not got["source_topic"] or part < 0 or offset < 0:
        return {}
    return {"source_topic": got["source_topic"], "source_partition": part, "source_offset": offset}


def dead_letter(err: DecodeError, *, source: str, timestamp: datetime,
                headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A DecodeError -> JSON (``dead_letter.v2``) carrying the raw payload as base64 and, where
    ``headers`` (a :class:`~flows.dataflow.items.DeadLetter`'s) hold them, its Kafka coordinates."""
    doc = {
        "reason": err.reason,
        "detail": err.detail,
        "source": source,
        **_source_fields(headers),
        "timestamp": format_timestamp(timestamp),
        "raw_size": len(err.raw),
        "raw_base64": base64.b64encode(err.raw).decode("ascii"),
    }
    return dumps(doc)
