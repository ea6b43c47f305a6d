"""Why a payload is refused: the :data:`REASONS` codes, :class:`DecodeError` and the check failure.

A reason code is data, not an exception: it becomes a dead letter's ``reason`` and the ``reason``
label of ``twin_dead_letters_total``. Inside the codec a failed check raises :class:`Reject`
(via :func:`fail`); :func:`flows.codec.decode.decode_telemetry` turns it into a DecodeError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

__all__ = ["REASONS", "DecodeError", "Reject", "fail"]

REASONS: tuple[str, ...] = (
    "invalid_json",  # not UTF-8 JSON, or not an object
    "schema_violation",  # missing/unexpected field, wrong type, string length, bad UTF-8
    "non_finite",  # NaN/inf (or a float32 overflow) where a finite number is required
    "empty_frame",  # a waveform with no samples
    "truncated",  # payload shorter or longer than its binary header says
    "unknown_version",  # neither TWF v1 binary nor a JSON object
    "bad_sample_rate",  # sample rate outside [1, 1e6] Hz
    "future_timestamp",  # later than now + max_future_s
    "bad_timestamp",  # not an RFC 3339 UTC string
    "unknown_kind",  # unknown "type" or event "kind"
    "internal_error",  # a decoder bug; the payload still goes to the dead letters
)


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Why a payload could not be decoded: a machine ``reason``, human ``detail``, the bytes."""

    reason: str
    detail: str
    raw: bytes


class Reject(ValueError):
    """A check failed; ``reason`` is the :data:`REASONS` code, the message is the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the reason code beside the detail message."""
        super().__init__(detail)
        self.reason = reason


def fail(reason: str, detail: str) -> NoReturn:
    """Reject the payload being checked with a :data:`REASONS` code and a detail."""
    raise Reject(reason, detail)
