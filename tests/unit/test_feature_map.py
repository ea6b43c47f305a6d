"""FeatureVector features carried columnar (issue 10 round 3, part ARCHIVE3).

``aggregate_window`` returns its features as a :class:`FeatureMap` (one float64 row, a key set
shared by every window with the same names) so the archive sink can stack rows instead of reading
dicts. Every consumer must see the mapping the dict was: same items, Python floats, same pickles
of the state it feeds.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.factories import feature_stream, metadata, windows
from twin_models.feature_map import FeatureMap, feature_map
from twin_models.features.window import aggregate_window
from twin_models.records import ScalarSample
from twin_models.twin import AssetTwin

T = datetime(2026, 1, 5, tzinfo=UTC)
ITEMS = {"vib.rms": 0.21, "vib.kurtosis": math.nan, "temperature.mean": 41.5, "a.b": -0.0}


def _window(k: int) -> object:
    start = T + timedelta(hours=k)
    frames = [("vib", {"rms": 0.1 * (k + 1), "kurtosis": 3.0}), ("vib", {"rms": 0.3, "kurtosis": 3.5})]
    scalars = [ScalarSample("p1", "temperature", start + timedelta(minutes=m), 40.0 + m + k)
               for m in range(4)]
    return aggregate_window("p1", start, start + timedelta(hours=1), frames, scalars)


def test_aggregate_window_carries_one_row_and_a_shared_key_set() -> None:
    a, b = _window(0), _window(1)
    assert isinstance(a.features, FeatureMap) and isinstance(b.features, FeatureMap)  # type: ignore[attr-defined]
    assert a.features.key_set is b.features.key_set  # type: ignore[attr-defined]
    row = a.features.row  # type: ignore[attr-defined]
    assert row.dtype == np.float64 and not row.flags.writeable
    assert row.tolist() == list(a.features.values())  # type: ignore[attr-defined]
    assert a.features["vib.rms"] == pytest.approx(0.2)  # type: ignore[attr-defined]
    assert list(a.features)[:2] == ["vib.rms", "vib.kurtosis"]  # type: ignore[attr-defined]


def test_the_mapping_is_the_dict_it_replaces() -> None:
    fm = feature_map(ITEMS)
    assert list(fm) == list(fm.keys()) == list(ITEMS) and len(fm) == 4
    finite = {**ITEMS, "vib.kurtosis": 3.0}  # NaN equals nothing, as in a dict of fresh NaNs
    assert feature_map(finite) == finite and finite == feature_map(finite)
    assert feature_map(finite) == feature_map(dict(finite))
    assert feature_map(finite) != {**finite, "vib.rms": 0.22} and feature_map(finite) != ITEMS
    assert [type(v) for v in fm.values()] == [float] * 4
    assert type(fm["vib.rms"]) is float and math.isnan(fm["vib.kurtosis"])
    assert math.copysign(1.0, fm["a.b"]) == -1.0
    assert fm.get("nope") is None and fm.get("nope", 7) == 7 and fm.get("temperature.mean") == 41.5
    assert "vib.rms" in fm and "nope" not in fm
    with pytest.raises(KeyError):
        fm["nope"]
    assert json.dumps(dict(fm)) == json.dumps(ITEMS)
    with pytest.raises(TypeError):
        fm["vib.rms"] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError, match="read-only"):
        fm.raw = b""  # type: ignore[misc]


def test_it_pickles_as_the_dict_and_copies_as_itself() -> None:
    fm = feature_map(ITEMS)
    back = pickle.loads(pickle.dumps(fm))
    assert type(back) is dict and list(back) == list(ITEMS)
    assert back["vib.rms"] == 0.21 and math.isnan(back["vib.kurtosis"]) and back["temperature.mean"] == 41.5
    assert copy.deepcopy(fm) is fm and copy.copy(fm) is fm


def test_a_value_that_is_not_a_number_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'vib.rms' must be a number"):
        feature_map({"temperature.mean": 1.0, "vib.rms": "high"})


def test_a_twin_fed_feature_maps_pickles_to_the_same_bytes_as_one_fed_dicts() -> None:
    """The twin's state (recovery snapshots) does not depend on the mapping's type."""
    fvs = windows(feature_stream(40, seed=3, fault_from=30))
    by_dict, by_map = AssetTwin(metadata()), AssetTwin(metadata())
    for fv in fvs:
        snap_d = by_dict.update(fv)
        snap_m = by_map.update(replace(fv, features=feature_map(fv.features)))
        assert snap_d == snap_m
    assert pickle.dumps(by_dict) == pickle.dumps(by_map)
