"""The archive writer's Arrow conversion gives exactly the table of the per-cell construction.

Issue 10 (archive write rate): :func:`flows.dataflow.sinks.archive._table` converts a batch's rows
in one Arrow pass (a struct array) instead of a Python list per column. The files must not change:
same columns in the same order, same types, same values (nulls where a row lacks a key).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from flows.codec.archive_schema import arrow_type, file_columns, open_columns
from flows.dataflow.sinks.archive import _table, alert_row, feature_row, state_row
from tests.unit.test_serde import make_alert, make_feature_vector, make_snapshot

T = datetime(2026, 1, 8, tzinfo=UTC)


def _reference(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """The construction the writer used before: union of keys in order, a list per column
    (``asset_id`` first since issue 10's one-file-per-date layout)."""
    body = [{"asset_id": r["asset_id"], **{k: v for k, v in r.items() if k not in ("date", "asset_id")}}
            for r in rows]
    declared = {c.name: arrow_type(c) for c in file_columns(table)}
    keys = list(dict.fromkeys(k for row in body for k in row))
    spread = open_columns(table)
    declared = {"asset_id": pa.string(), **declared}
    cols = ([(k, declared.get(k, arrow_type(spread))) for k in keys] if spread is not None
            else list(declared.items()))
    schema = pa.schema(cols)
    return pa.Table.from_pydict({c: [row.get(c) for row in body] for c in schema.names}, schema=schema)


def _features() -> list[dict[str, Any]]:
    base = make_feature_vector()
    rows = []
    for i, feats in enumerate([
        {"temperature.mean": 40.0},  # a downtime window first: no vibration keys
        {"temperature.mean": 41, "vib.rms": 0.147, "vib.kurtosis": math.nan},  # int, NaN -> null
        {"vib.rms": 1e-300, "a.b": -0.0, "temperature.mean": math.inf},
        {},
    ]):
        fv = type(base)(f"p{i % 2}", T + timedelta(hours=i), T + timedelta(hours=i + 1), feats, i)
        rows.append(feature_row(fv))
    rows.append(feature_row(base))
    return rows


@pytest.mark.parametrize(("table", "rows"), [
    ("features", _features()),
    ("twin_state", [state_row(make_snapshot()), state_row(make_snapshot())]),
    ("alerts", [alert_row(make_alert())]),
])
def test_table_equals_the_per_cell_construction(table: str, rows: list[dict[str, Any]]) -> None:
    got, want = _table(table, rows), _reference(table, rows)
    assert got.schema == want.schema
    assert got.equals(want)
    assert got.to_pylist() == want.to_pylist()


def test_a_value_of_the_wrong_type_is_still_refused() -> None:
    rows = [{"asset_id": "p1", "date": "2026-01-08", "window_start": T, "n_records": "many"}]
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        _table("features", rows)
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        _reference("features", rows)
