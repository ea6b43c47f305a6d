"""Dead letters (``dead_letter.v1``): a refused payload as JSON, with its reason and raw bytes.

The raw payload travels as base64, so a fixed reader (or better metadata) can replay it exactly.
"""

from __future__ import annotations

import base64
from datetime import datetime

from flows.codec.encode import dumps
from flows.codec.errors import DecodeError
from flows.codec.fields import format_timestamp

__all__ = ["dead_letter"]


def dead_letter(err: DecodeError, *, source: str, timestamp: datetime) -> bytes:
    """A DecodeError -> JSON (``dead_letter.v1``) carrying the raw payload as base64."""
    doc = {
        "reason": err.reason,
        "detail": err.detail,
        "source": source,
        "timestamp": format_timestamp(timestamp),
        "raw_size": len(err.raw),
        "raw_base64": base64.b64encode(err.raw).decode("ascii"),
    }
    return dumps(doc)
