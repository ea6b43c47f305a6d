"""A window of one-reading scalar channels keeps its stats compact (:class:`OneReadings`, round 28):
the same mapping as the dict of ChannelStats it replaces, for every reader of a window's
``quality`` (the clock flags' ``update``, the monitor's judgement, equality, pickling)."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from twin_models.quality.clock import ClockSkew
from twin_models.quality.monitor import QualityMonitor
from twin_models.quality.stats import ChannelStats, OneReadings, one_reading_stats, window_stats
from twin_models.records import AssetMetadata, SensorSpec

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CHANNELS = ("a", "b", "t", "c")


def _columns(w: int, values: tuple[float, ...] = (10.0, -0.0, 300.0, 7.5)
             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    start = (T0 + timedelta(minutes=w)).timestamp()
    return {c: (np.array([start + 0.25 * k]), np.array([v * (1.0 + 0.01 * w)])) for k, (c, v) in
            enumerate(zip(CHANNELS, values, strict=True))}


def _dict(columns: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, ChannelStats]:
    """The stats as one ChannelStats per channel (the form before the compact one)."""
    return {c: one_reading_stats(float(t[0]), float(v[0])) for c, (t, v) in columns.items()}


def test_one_reading_channels_only_are_kept_compact() -> None:
    cols = _columns(0)
    assert type(window_stats(cols, [])) is OneReadings
    two = {**cols, "d": (np.array([1.0, 2.0]), np.array([3.0, 4.0]))}
    assert type(window_stats(two, [])) is dict  # a channel of two readings: as before
    assert type(window_stats(cols, [("v", 1.0, (0.1, 0.0, 0.0, 0.0, 25600.0, 0.08))])) is dict  # a frame
    assert window_stats({}, []) == {}


def test_the_compact_form_is_the_same_mapping_as_the_dict() -> None:
    cols = _columns(3)
    q, d = window_stats(cols, []), _dict(cols)
    assert q == d and d == q and list(q) == list(d) and len(q) == len(d)
    assert q["b"] == d["b"] and math.copysign(1.0, q["b"].vmin) == -1.0  # -0.0 kept
    assert "a" in q and "zz" not in q and q.get("zz") is None
    with pytest.raises(KeyError):
        q["zz"]  # noqa: B018
    assert q != _dict(_columns(4))
    with pytest.raises(ValueError, match="read-only"):
        q.tv[1, 0] = 1.0
    back = pickle.loads(pickle.dumps(q))  # noqa: S301 - ours
    assert type(back) is OneReadings and back == d and not back.tv.flags.writeable


def test_the_clock_flags_update_it_as_they_update_a_dict() -> None:
    cols = _columns(1)
    q, d = window_stats(cols, []), _dict(cols)
    flags = {"a|clock": ClockSkew("a", 7200.0, 3), "e|clock": ClockSkew("e", -600.0, 1)}
    q.update(flags)
    d.update(flags)
    assert q == d and list(q) == list(d) and len(q) == len(d) == 6
    assert list(q.values()) == list(d.values()) and q.materialise() == d
    assert pickle.loads(pickle.dumps(q)) == d  # noqa: S301 - ours
    q.update({"a": "replaced"})  # a key already there: its new value, in its place
    d.update({"a": "replaced"})
    assert list(q.items()) == list(d.items())


def test_the_monitor_judges_the_compact_form_as_the_dict() -> None:
    meta = AssetMetadata("e-1", "turbofan", sensors=(
        SensorSpec("a", "scalar", limits=(0.0, 100.0)), SensorSpec("b", "scalar"),
        SensorSpec("t", "scalar", "K"), SensorSpec("c", "scalar", cadence_s=60.0)))
    compact, plain = QualityMonitor(meta), QualityMonitor(meta)
    seen = set()
    for w in range(40):
        values = (10.0 if w % 9 else 500.0, 1.0 + w, 300.0 + 0.2 * w, 7.5 - w)  # spikes of "a"
        cols = _columns(w, values)
        if 20 <= w < 26:
            del cols["c"]  # a gap
        q, d = window_stats(cols, []), _dict(cols)
        if w == 30:
            q.update({"b|clock": ClockSkew("b", 3600.0, 2)})
            d.update({"b|clock": ClockSkew("b", 3600.0, 2)})
        end = T0 + timedelta(minutes=w + 1)
        judged = compact.judge(end, q)
        assert judged == plain.judge(end, d) and judged.marks
        seen |= {(c, check) for c, _state, check in judged.marks}
    assert pickle.dumps(compact) == pickle.dumps(plain)
    assert {("a", "spike"), ("c", "gap"), ("b", "clock")} <= seen  # the checks had something to judge
