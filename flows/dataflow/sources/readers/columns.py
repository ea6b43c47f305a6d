"""Whole columns of a batch -> numpy arrays, vectorised with Arrow where it decides alike.

A CSV column arrives as text, a Parquet column typed. The fast path is an Arrow cast (ISO 8601
text with or without a zone, decimal numbers, NaN/inf); when Arrow refuses a column, or for types
it has no cast for, the column goes cell by cell through the ``as_*`` rules of :mod:`.cells`, which
accept exactly what the hand-written reader accepted (``1_000``, epoch seconds, ``2024-05-01``) and
word the error of the first bad cell. Errors are :class:`BadCell` (index in the batch + reason);
the table reader turns them into ``file line N, column 'c'`` messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from flows.dataflow.sources.readers.cells import (
    MAX_US,
    MIN_US,
    arrow_us,
    as_asset,
    as_kind,
    as_note,
    as_number,
    as_time_us,
)

_UTC_US = pa.timestamp("us", tz="UTC")
_NAIVE_US = pa.timestamp("us")


class BadCell(ValueError):  # noqa: N818 - a value problem, named after the cell
    """A cell that breaks a rule: ``index`` in the batch, ``detail`` the reason."""

    def __init__(self, index: int, detail: str) -> None:
        """Keep the place and the reason."""
        super().__init__(detail)
        self.index, self.detail = index, detail


def _each(arr: pa.Array, rule: Callable[[object], Any]) -> list[Any]:
    """Apply a cell rule to every value; the first refusal becomes a BadCell."""
    out: list[Any] = []
    for i, value in enumerate(arr.to_pylist()):
        try:
            out.append(rule(value))
        except ValueError as exc:
            raise BadCell(i, str(exc)) from None
    return out


def _is_text(arr: pa.Array) -> bool:
    return bool(pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type))


def _cast_text_times(arr: pa.Array) -> npt.NDArray[np.int64] | None:
    """ISO 8601 text, all with a zone or all without (= UTC) -> microseconds; None if Arrow refuses."""
    if arr.null_count:
        return None
    text = pc.utf8_trim_whitespace(arr)
    for typ in (_UTC_US, _NAIVE_US):
        try:
            us = np.asarray(text.cast(typ).cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if us.size and (us.min() < MIN_US or us.max() >= MAX_US):
            return None  # the cell rule words the range error
        return us
    return None


class _CellPlace:
    """Stands for the source where :func:`arrow_us` reports a cell: its error becomes a BadCell."""

    def error(self, detail: str, n: int | None = None, column: str | None = None) -> BadCell:
        """The cell at 1-based ``n`` of the batch."""
        return BadCell(0 if n is None else n - 1, detail)


def times_us(arr: pa.Array) -> npt.NDArray[np.int64]:
    """A timestamp column -> int64 microseconds since the epoch; every cell present and in range."""
    typed = arrow_us(_CellPlace(), "", arr)  # type: ignore[arg-type]
    if typed is not None:
        us, valid = typed
        if not valid.all():
            raise BadCell(int(np.argmin(valid)), "empty timestamp")
        return us
    fast = _cast_text_times(arr) if _is_text(arr) else None
    if fast is not None:
        return fast
    return np.asarray(_each(arr, as_time_us), dtype=np.int64)


_NAN_TEXT = pa.array(["nan", "+nan", "-nan"])


def _python_nans(text: pa.Array, values: pa.Array, empty: npt.NDArray[np.bool_]) -> bool:
    """Whether every NaN Arrow read is spelled as Python's float() reads it (Arrow also takes ``nan(1)``)."""
    nan = np.isnan(np.asarray(values.to_numpy(zero_copy_only=False))) & ~empty
    if not nan.any():
        return True
    spelled = pc.utf8_lower(text.filter(pa.array(nan)))
    return bool(pc.all(pc.is_in(spelled, value_set=_NAN_TEXT)).as_py())


def numbers(arr: pa.Array) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """A channel column -> (float64 values, empty mask); empty/null cells are NaN and marked empty."""
    fast: pa.Array | None = None
    if _is_text(arr) and not arr.null_count:
        text = pc.utf8_trim_whitespace(arr)
        empty = np.asarray(pc.equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)
        try:
            fast = pc.if_else(pa.array(empty), "nan", text).cast(pa.float64())
        except pa.ArrowInvalid:
            fast = None
        if fast is not None and not _python_nans(text, fast, empty):
            fast = None
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        empty = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        fast = arr.cast(pa.float64(), safe=False).fill_null(float("nan"))
    if fast is not None:
        return np.asarray(fast.to_numpy(zero_copy_only=False), dtype=np.float64), empty
    cells = _each(arr, as_number)
    empty = np.fromiter((v is None for v in cells), dtype=bool, count=len(cells))
    values = np.fromiter((np.nan if v is None else v for v in cells), dtype=np.float64, count=len(cells))
    return values, empty


def assets(arr: pa.Array) -> pa.Array:
    """An asset_id column -> checked text; the rule runs once per distinct value."""
    if arr.null_count or not (_is_text(arr) or pa.types.is_integer(arr.type)):
        return pa.array(_each(arr, as_asset), pa.string())
    encoded = arr.dictionary_encode()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    checked: list[str] = []
    for code, value in enumerate(encoded.dictionary.to_pylist()):
        try:
            checked.append(as_asset(value))
        except ValueError as exc:
            raise BadCell(int(np.argmax(codes == code)), str(exc)) from None
    return pa.DictionaryArray.from_arrays(encoded.indices, pa.array(checked, pa.string())).cast(pa.string())


def kinds(arr: pa.Array) -> pa.Array:
    """An event column -> install | maintenance | failure."""
    return pa.array(_each(arr, as_kind), pa.string())


def notes(arr: pa.Array) -> pa.Array:
    """A note column -> text of at most 4096 characters."""
    return pa.array(_each(arr, as_note), pa.string())
