"""Records in a twin's state pickle to the standard library's bytes without walking their
dataclass fields per object (``twin_models.records.quick_pickle``): the twin step's undo pickles
a twin before most windows."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from twin_models.records import (
    AssetMetadata,
    BearingGeometry,
    ChannelQuality,
    FailureThreshold,
    SensorSpec,
    TwinSnapshot,
)

T = datetime(2026, 1, 1, tzinfo=UTC)


def _records() -> list[object]:
    meta = AssetMetadata("a-1", bearing=BearingGeometry(9, 7.9, 39.0), nominal_speed_hz=30.0,
                         sensors=(SensorSpec("vib", "waveform", "g"), SensorSpec("t", "scalar", "degC",
                                                                                limits=(-40.0, 150.0))),
                         failure_threshold=FailureThreshold("vib.rms", 3.0))
    snap = TwinSnapshot(asset_id="a-1", timestamp=T, window_start=T, condition="healthy", anomaly_score=0.1,
                        health_index=0.9, rul_s=None, rul_lower_s=None, rul_upper_s=None, drift=False,
                        n_windows=3, life_id=0, top_features=(("vib.rms", 1.5),),
                        data_quality=(("t", "ok", ""),))
    return [meta, snap, ChannelQuality("a-1", "t", T, "bad", "spike", "one reading 30 sd")]


def _standard_bytes(obj: object, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as m:
        for cls in {type(obj), BearingGeometry, SensorSpec, FailureThreshold}:
            m.setattr(cls, "__getstate__", dataclasses._dataclass_getstate)  # type: ignore[attr-defined]
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def test_records_pickle_to_the_standard_bytes_and_back(monkeypatch: pytest.MonkeyPatch) -> None:
    for obj in _records():
        quick = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        assert quick == _standard_bytes(obj, monkeypatch)  # old pickles read as before, and back
        assert pickle.loads(quick) == obj  # noqa: S301 - ours


def test_pickling_records_does_not_walk_their_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = dataclasses.fields

    def counted(obj: object) -> tuple[dataclasses.Field[object], ...]:
        calls.append(type(obj).__name__)
        return real(obj)  # type: ignore[arg-type]

    monkeypatch.setattr(dataclasses, "fields", counted)
    pickle.dumps(_records(), protocol=pickle.HIGHEST_PROTOCOL)
    assert calls == []


def test_a_subclass_keeps_the_standard_state() -> None:
    """A dataclass subclass with more fields pickles all of them (not its base's only)."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Noted(ChannelQuality):
        note: str = ""

    q = Noted("a-1", "t", T, "ok", note="kept")
    assert type(q).__getstate__(q)[-1] == "kept"
    assert ChannelQuality.__getstate__(q) == [*(getattr(q, f.name) for f in dataclasses.fields(q))]
