"""The window step's packed archive numbers (``FeatureMap.tail``, issue 10 round 13).

The window step stamps each window's start/end (int microseconds), counts, input span and coded
asset id on its feature map; the features sink reads a flush's columns from those tails in one
pass instead of from the windows' objects. Each case checks the tails against the objects: the
same numbers, the same blocks, the same files as the row path, and no tail where it would not
be valid (another process, a window that does not fit).
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flows.dataflow.items import FrameFeatures, InputMark
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import OpenWindows, make_window_aggregator
from flows.dataflow.sinks import feature_blocks as fb
from flows.dataflow.window_tail import FIELDS, asset_ids, map_tails, pack, source_ids
from tests.unit.test_archive_features import _fleet
from tests.unit.test_feature_blocks import _mixed, _same_as_rows
from twin_models.feature_map import feature_map
from twin_models.records import AssetEvent, InputSpan, ScalarSample

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def _stamped(records: list[Any]) -> list[Any]:
    """``records`` with their tails, as the window step gives them (plain dict windows kept)."""
    return [r if type(r.features) is dict else replace(r, features=feature_map(dict(r.features), pack(
        r.asset_id, _us(r.window_start), _us(r.window_end), r.n_records, len(r.events), r.inputs)))
        for r in records]


def _numbers(r: Any) -> list[Any]:
    """What a window's tail must hold, read from its objects (codes as the values they code)."""
    one = len(r.inputs) == 1
    span = r.inputs[0] if one else InputSpan("", 0, 0)
    return [_us(r.window_start), _us(r.window_end), r.n_records, len(r.events), len(r.inputs),
            span.first, span.last, span.source if one else -1, r.asset_id]


def _decoded(tail: np.ndarray) -> list[Any]:
    row = tail.tolist()
    row[7] = source_ids()[row[7]] if row[7] >= 0 else -1
    row[8] = asset_ids()[row[8]]
    return row


def _one_span_fleet() -> list[Any]:
    """The fleet's windows with one input span each (two sources), as a live flush has them."""
    return [replace(r, inputs=(InputSpan(f"kafka:t:{i % 2}", 10 * i, 10 * i + 4),))
            for i, r in enumerate(_fleet())]


def test_a_tail_holds_the_windows_own_numbers() -> None:
    records = _stamped(_mixed() + _one_span_fleet())
    stamped = [r for r in records if getattr(r.features, "tail", b"")]
    assert len(stamped) >= len(records) - 2  # only the plain dict windows have none
    for r in stamped:
        got = map_tails([r.features])
        assert got is not None and got.shape == (len(FIELDS), 1)
        assert _decoded(got[:, 0]) == _numbers(r)


def test_blocks_from_tails_are_the_blocks_from_the_objects() -> None:
    for records in (_stamped(_one_span_fleet()), _stamped(_mixed()[:-2])):  # one span each; 0-2 spans
        shape = records[0].features.key_set
        same = [r for r in records if r.features.key_set is shape]
        maps = [r.features for r in same]
        assert map_tails(maps) is not None
        want, got = fb._object_block(same, maps, shape), fb._block(same, maps, shape)
        assert got.ids == want.ids and got.events == want.events and got.names == want.names
        assert got.span_sources == want.span_sources
        for name in ("codes", "start_us", "end_us", "n_records", "span_counts", "span_codes", "span_first",
                     "span_last"):
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
        assert np.array_equal(got.values, want.values, equal_nan=True)


@pytest.mark.parametrize("batch", [1, 7, 10_000])
def test_tailed_windows_write_the_row_paths_files(tmp_path: Path, batch: int) -> None:
    records = _stamped(_mixed() + _one_span_fleet())
    items = [b for i in range(0, len(records), batch) for b in fb.feature_blocks(records[i:i + batch])]
    _same_as_rows(tmp_path, records, items)


def test_a_window_that_does_not_fit_has_no_tail_and_is_read_from_its_objects(tmp_path: Path) -> None:
    records = _one_span_fleet()[:20]
    records[3] = replace(records[3], inputs=(InputSpan("file:a.csv", 1, 1 << 64),))  # beyond int64
    records = _stamped(records)
    assert records[3].features.tail == b"" and map_tails([r.features for r in records]) is None
    assert map_tails([r.features for r in records[4:]]) is not None
    _same_as_rows(tmp_path, records, records)


def test_a_pickled_window_has_no_tail_and_a_tail_changes_no_equality() -> None:
    (r,) = _stamped(_one_span_fleet()[:1])
    assert r.features.tail
    again = pickle.loads(pickle.dumps(r))  # a window from another worker or process
    assert again == r and type(again.features) is dict
    assert map_tails([again.features]) is None and map_tails([again.features, r.features]) is None
    plain = feature_map(dict(r.features))
    assert plain.tail == b"" and plain == r.features and pickle.dumps(plain) == pickle.dumps(r.features)


def test_the_window_step_stamps_its_windows() -> None:
    m = PipelineMetrics()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    aggregate = make_window_aggregator(900.0, m, OpenWindows(900.0, m), lambda: now)
    window_id = 2_000_000  # 2027
    start = EPOCH + window_id * timedelta(seconds=900)
    items: list[Any] = [InputMark("p7", start, "kafka:telemetry:3", 120, 180)]
    items += [ScalarSample("p7", "temperature", start + timedelta(seconds=10 * i), 40.0 + i)
              for i in range(5)]
    items.append(AssetEvent("p7", start + timedelta(seconds=30), "maintenance"))
    items += [FrameFeatures("p7", "vib", start + timedelta(seconds=s), {"rms": 0.1 * s}, ())
              for s in (5, 65)]
    fv = aggregate("p7", (window_id, items))
    got = map_tails([fv.features])
    assert got is not None  # its record count is the window's (frames, samples and events)
    assert _decoded(got[:, 0]) == _numbers(fv) == [
        _us(start), _us(start) + 900_000_000, 8, 1, 1, 120, 180, "kafka:telemetry:3", "p7"]
    plain = fv.plain() if hasattr(fv, "plain") else fv  # what the features sink gets
    assert map_tails([plain.features]) is not None
