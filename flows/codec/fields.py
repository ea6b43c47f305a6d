"""Field checks shared by every decoder and encoder: text, numbers, rates, timestamps, keys.

Each check returns the value in its record form or fails with a :data:`~flows.codec.errors.REASONS`
code (:class:`~flows.codec.errors.Reject`, a ``ValueError``) and a detail naming the field and
the value. The same checks guard the encoders, so the engine never writes what it would refuse.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from flows.codec.errors import fail
from flows.codec.show import show_value
from twin_models.records import MAX_ID_CHARS, ensure_utc

__all__ = [
    "MAX_RATE_HZ",
    "MIN_RATE_HZ",
    "check_asset_id",
    "check_finite",
    "check_integer",
    "check_keys",
    "check_number",
    "check_positive",
    "check_sample_rate",
    "check_shaft_speed",
    "check_text",
    "finite_samples",
    "format_timestamp",
    "not_future",
    "parse_timestamp",
]

MIN_RATE_HZ, MAX_RATE_HZ = 1.0, 1e6
_TS_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(?:Z|\+00:00)"
)


def check_text(name: str, value: Any, lo: int, hi: int) -> str:
    """A string of ``lo``..``hi`` characters that can be written as UTF-8."""
    if type(value) is not str:
        fail("schema_violation", f"{name} must be a string, got {show_value(value)}")
    if not lo <= len(value) <= hi:
        msg = f"{name} must have {lo}..{hi} characters, got {len(value)}: {show_value(value)}"
        fail("schema_violation", msg)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            msg = f"{name} is not valid Unicode (lone surrogate): {show_value(value)}"
            fail("schema_violation", msg)
    return value


def check_asset_id(value: Any) -> str:
    """asset_id: a string of 1..128 characters."""
    return check_text("asset_id", value, 1, MAX_ID_CHARS)


def check_number(name: str, value: Any) -> float:
    """A finite JSON number (int or float, never bool) as float."""
    if type(value) is not float and type(value) is not int:
        fail("schema_violation", f"{name} must be a number, got {show_value(value)}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        fail("non_finite", f"{name} must be finite, got {show_value(value)}")
    return out


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    out = check_number(name, value)
    if out <= 0:
        fail("schema_violation", f"{name} must be > 0, got {show_value(value)}")
    return out


def check_integer(name: str, value: Any, lo: int) -> int:
    """An integer >= lo; like JSON Schema, a float with no fraction (``9.0``) counts."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or value < lo:
        fail("schema_violation", f"{name} must be an integer >= {lo}, got {show_value(value)}")
    return value


def check_sample_rate(value: Any) -> float:
    """A sample rate in [1, 1e6] Hz (NaN included in ``bad_sample_rate``)."""
    if type(value) is not float and type(value) is not int:
        msg = f"sample_rate_hz must be a number, got {show_value(value)}"
        fail("schema_violation", msg)
    if not MIN_RATE_HZ <= value <= MAX_RATE_HZ:
        msg = f"sample_rate_hz must be in [{MIN_RATE_HZ:g}, {MAX_RATE_HZ:g}] Hz, got {value!r}"
        fail("bad_sample_rate", msg)
    return float(value)


def check_shaft_speed(value: Any) -> float | None:
    """``None`` (JSON null; NaN in the binary header) means absent; else a finite speed >= 0."""
    if value is None:
        return None
    out = check_number("shaft_speed_hz", value)
    if out < 0:
        fail("schema_violation", f"shaft_speed_hz must be >= 0, got {out!r}")
    return out


def check_finite(arr: npt.NDArray[np.float32]) -> None:
    """Reject NaN/inf samples, naming the first one."""
    finite = np.isfinite(arr)
    if not finite.all():
        i = int(np.argmin(finite))
        msg = f"samples[{i}] is {float(arr[i])!r}; samples must be finite"
        fail("non_finite", msg)


def finite_samples(arr: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Reject NaN/inf; return the (decoder-owned) array read-only."""
    check_finite(arr)
    arr.flags.writeable = False
    return arr


def check_keys(obj: Any, required: frozenset[str], optional: frozenset[str], what: str) -> None:
    """Every required key present and no key outside required | optional."""
    if not isinstance(obj, dict):
        fail("schema_violation", f"{what} must be an object, got {show_value(obj)}")
    keys = obj.keys()
    if missing := required - keys:
        fail("schema_violation", f"{what} is missing field {min(missing)!r}")
    if extra := keys - required - optional:
        fail("schema_violation", f"{what} has unexpected field {show_value(min(extra))}")


_last_parsed: tuple[str | None, datetime] = (None, datetime.min.replace(tzinfo=UTC))
"""The last string parsed and its datetime: a fleet's scalar records come in runs with the same
timestamp (every asset and channel read at the same second), so most parses are this lookup."""


def parse_timestamp(value: Any, name: str = "timestamp") -> datetime:
    """An RFC 3339 UTC string (``Z`` or ``+00:00``, up to ns digits, floored to us) -> datetime.

    Raises ``ValueError`` (reason ``bad_timestamp``) for anything else, naive times included.
    """
    global _last_parsed  # noqa: PLW0603 - a one-entry cache (datetimes are immutable)
    if type(value) is str and value == _last_parsed[0]:
        return _last_parsed[1]
    out = _parse_timestamp(value, name)
    _last_parsed = (value, out)
    return out


def _parse_timestamp(value: Any, name: str) -> datetime:
    m = _TS_RE.fullmatch(value) if type(value) is str else None
    if m is None:
        msg = f"{name} must be an RFC 3339 UTC string (...T12:00:00.5Z), got {show_value(value)}"
        fail("bad_timestamp", msg)
    y, mo, d, h, mi, s, frac = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    except ValueError as exc:
        fail("bad_timestamp", f"{name} {value!r} is not a valid time: {exc}")


def format_timestamp(ts: datetime) -> str:
    """Aware datetime -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width, sorts as text)."""
    return ensure_utc(ts).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def not_future(ts: datetime, limit: datetime) -> datetime:
    """``ts`` unless it is later than ``limit`` (now + max_future_s)."""
    if ts > limit:
        limit_s = format_timestamp(limit)
        msg = f"timestamp {format_timestamp(ts)} is later than now + max_future_s ({limit_s})"
        fail("future_timestamp", msg)
    return ts
