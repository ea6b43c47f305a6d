"""Admission: records the wire contract accepts but the features cannot use are dead-lettered.

Each case was a Bytewax runtime error before (the ``featurize_frames`` step raised). The fuzz
test at the end checks the property that matters: whatever the decode step lets through, the
featurizer, window aggregation, twin, alert gate and fleet step process without raising and the
snapshots stay writable.
"""

from __future__ import annotations

import json
import math
import random
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flows import codec
from flows.config.pipeline import PipelineConfig
from flows.dataflow.admission import (
    MAX_FRAME_SAMPLES,
    MAX_SHAFT_HZ,
    MIN_FRAME_SAMPLES,
    admit,
    check_metadata,
)
from flows.dataflow.fleet_steps import StateSnapshot, fleet_rul
from flows.dataflow.items import CheckedWindow, DeadLetter, RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import (
    Decoder,
    Featurizer,
    OpenWindows,
    alert_gate,
    check_snapshot,
    make_window_aggregator,
    twin_update,
)
from flows.dataflow.sources.files import FileFormatError, read_metadata
from twin_models.records import (
    AssetEvent,
    AssetMetadata,
    BearingGeometry,
    FailureThreshold,
    ScalarSample,
    TwinSnapshot,
    WaveformFrame,
)
from twin_models.rul.fleet_view import LifeChunk

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
GEOMETRY = BearingGeometry(9, 7.94, 39.04, 0.0)
META = AssetMetadata("p1", bearing=GEOMETRY, nominal_speed_hz=25.0, resonance_band_hz=(2000.0, 6000.0))


def frame(n: int = 4096, *, fs: float = 25600.0, shaft: float | None = 25.0, asset: str = "p1",
          samples: np.ndarray | None = None, ts: datetime = TS) -> WaveformFrame:
    """A noise frame of ``n`` samples."""
    x = np.random.default_rng(n).normal(0, 0.3, n) if samples is None else samples
    return WaveformFrame(asset, "vib", ts, fs, np.asarray(x, dtype=np.float32), shaft, "g")


def decode(payload: bytes, meta: dict[str, AssetMetadata] | None = None) -> object:
    """The decode step on one payload."""
    step = Decoder(PipelineMetrics(), max_future_s=86400.0, now=lambda: NOW,
                   metadata={"p1": META} if meta is None else meta)
    return step(RawRecord("t/0", payload))


def featurize(record: WaveformFrame, meta: dict[str, AssetMetadata] | None = None) -> object:
    """The featurize step on one decoded frame."""
    m = PipelineMetrics()
    return Featurizer({"p1": META} if meta is None else meta, m, OpenWindows(3600.0, m))(record)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 63])
def test_short_frames_are_dead_lettered(n: int) -> None:
    out = decode(codec.encode_waveform(frame(n)))
    assert isinstance(out, DeadLetter) and out.reason == "frame_too_short"
    assert f"{n} samples" in out.detail and "'p1'" in out.detail


def test_the_shortest_admitted_frame_is_featurised() -> None:
    out = decode(codec.encode_waveform(frame(MIN_FRAME_SAMPLES)))
    assert isinstance(out, WaveformFrame)
    feats = featurize(out).features  # type: ignore[attr-defined]
    assert all(math.isfinite(v) for v in feats.values())


def test_gigantic_frames_are_dead_lettered() -> None:
    out = decode(codec.encode_waveform(frame(MAX_FRAME_SAMPLES + 1, samples=np.zeros(MAX_FRAME_SAMPLES + 1))))
    assert isinstance(out, DeadLetter) and out.reason == "frame_too_long"


@pytest.mark.parametrize("shaft", [1e308, 1e5, MAX_SHAFT_HZ * 1.01, 5e-324, 1e-9])
def test_absurd_shaft_speeds_are_dead_lettered(shaft: float) -> None:
    out = decode(codec.encode_waveform(frame(shaft=shaft)))
    assert isinstance(out, DeadLetter) and out.reason == "bad_shaft_speed"
    assert repr(shaft) in out.detail


@pytest.mark.parametrize("shaft", [None, 0.0, 1e-3, MAX_SHAFT_HZ])
def test_physical_shaft_speeds_pass(shaft: float | None) -> None:
    out = decode(codec.encode_waveform(frame(shaft=shaft)))
    assert isinstance(out, WaveformFrame)
    assert all(math.isfinite(v) for v in featurize(out).features.values())  # type: ignore[attr-defined]


def test_band_above_the_frames_nyquist_is_dead_lettered_with_asset_band_and_nyquist() -> None:
    slow = frame(4096, fs=2000.0)
    out = decode(codec.encode_waveform(slow))
    assert isinstance(out, DeadLetter) and out.reason == "band_outside_frame"
    assert "'p1'" in out.detail and "[2000, 6000]" in out.detail and "Nyquist 1000 Hz" in out.detail
    assert out.raw == codec.encode_waveform(slow)  # the frame can be replayed once metadata is fixed
    # the same band is fine for a 25.6 kHz frame of the same asset
    assert isinstance(decode(codec.encode_waveform(frame(4096))), WaveformFrame)


def test_band_narrower_than_two_bins_is_dead_lettered() -> None:
    meta = {"p1": replace(META, resonance_band_hz=(3000.0, 3001.0))}
    out = decode(codec.encode_waveform(frame(4096)), meta)
    assert isinstance(out, DeadLetter) and out.reason == "band_outside_frame"
    # a longer frame resolves it (bins of 0.39 Hz): the rule is per frame
    assert isinstance(decode(codec.encode_waveform(frame(65536)), meta), WaveformFrame)


@pytest.mark.parametrize("value", [1e300, -1e300, 1e39, 1.7976931348623157e308])
def test_scalars_beyond_float32_range_are_dead_lettered(value: float) -> None:
    doc = {"type": "scalar", "asset_id": "p1", "channel": "t", "timestamp": "2024-05-01T11:00:00Z",
           "value": value}
    out = decode(json.dumps(doc).encode())
    assert isinstance(out, DeadLetter) and out.reason == "value_out_of_range"


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00Z", "1600-01-01T00:00:00Z"])
def test_timestamps_outside_the_nanosecond_range_are_dead_lettered(stamp: str) -> None:
    doc = {"type": "event", "asset_id": "p1", "kind": "install", "timestamp": stamp}
    out = decode(json.dumps(doc).encode())
    assert isinstance(out, DeadLetter) and out.reason == "timestamp_out_of_range"


def test_a_huge_max_future_setting_does_not_break_the_decoder() -> None:
    raw = codec.encode_scalar(ScalarSample("p1", "t", TS, 1.0))
    for limit in (1e300, math.inf, math.nan):
        assert isinstance(codec.decode_telemetry(raw, now=NOW, max_future_s=limit), ScalarSample)


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(("change", "words"), [
    ({"nominal_speed_hz": 1e308}, "nominal_speed_hz"),
    ({"nominal_speed_hz": 1e-300}, "nominal_speed_hz"),
    ({"bearing": BearingGeometry(9, 1.0, 1.0 + 1e-15)}, "bpfo"),
    ({"bearing": BearingGeometry(9, 1e-9, 1.0)}, "bsf"),
    ({"bearing": BearingGeometry(10**400, 1.0, 2.0)}, "n_elements"),
])
def test_metadata_outside_physical_ranges_is_refused_naming_asset_and_field(
        change: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=rf"asset metadata 'p1': .*{words}"):
        check_metadata(replace(META, **change))


def test_metadata_files_are_checked_at_load(tmp_path: Path) -> None:
    path = tmp_path / "meta.toml"
    path.write_text('[pump-9]\nnominal_speed_hz = 1e308\n')
    with pytest.raises(FileFormatError, match="pump-9.*nominal_speed_hz"):
        read_metadata(path)
    path.write_text('[defaults]\nnominal_speed_hz = 1e308\n[pump-9]\nkind = "pump"\n')
    with pytest.raises(FileFormatError, match="nominal_speed_hz"):
        read_metadata(path)


def test_valid_metadata_passes() -> None:
    assert check_metadata(META) is META
    assert check_metadata(AssetMetadata("bare")).asset_id == "bare"


# --------------------------------------------------------------------------- fuzz

SHAFTS = [None, 0.0, 5e-324, 1e-300, 1e-9, 1e-3, 0.5, 25.0, 1e3, 1e4, 1e5, 1e300, 1e308]
RATES = [1.0, 1.5, 2.0, 10.0, 100.0, 1000.0, 2000.0, 25600.0, 1e6]
GEOMETRIES = [None, GEOMETRY, BearingGeometry(9, 1.0, 1.0000001), BearingGeometry(3, 1e-9, 1.0, 89.999),
              BearingGeometry(3, 1.0, 1e9), BearingGeometry(10**6, 1.0, 2.0)]
BANDS = [None, (2000.0, 6000.0), (1.0, 2.0), (1e-3, 1e6), (100.0, 100.0001), (4e5, 4.5e5)]


def _samples(rng: random.Random, n: int) -> np.ndarray:
    """Noise, all-zero, constant, denormal, float32-extreme, a single spike or alternating."""
    g = np.random.default_rng(rng.randrange(2**32))
    kind = rng.choice(["noise", "zeros", "const", "denorm", "huge", "spike", "alt", "tiny"])
    if kind == "noise":
        return g.normal(size=n)
    if kind == "zeros":
        return np.zeros(n)
    if kind == "const":
        return np.full(n, 3.0)
    if kind == "denorm":
        return 1e-45 * g.choice([-1.0, 1.0], n)
    if kind == "huge":
        return g.choice([-3.4e38, 3.4e38], n)
    if kind == "spike":
        x = np.zeros(n)
        x[n // 2] = 3.4e38
        return x
    if kind == "alt":
        return np.tile([1.0, -1.0], n)[:n]
    return g.normal(size=n) * 1e-38


def _random_meta(rng: random.Random) -> AssetMetadata:
    thr = rng.choice([None, FailureThreshold("vib.rms", 1.0), FailureThreshold("t.mean", 1e308),
                      FailureThreshold("vib.kurtosis", -1e308)])
    speed = rng.choice([None, 25.0, 1e-300, 1e308])
    return AssetMetadata("p1", bearing=rng.choice(GEOMETRIES), nominal_speed_hz=speed,
                         resonance_band_hz=rng.choice(BANDS), failure_threshold=thr)


def _random_payload(rng: random.Random, ts: datetime) -> bytes:
    """A frame (binary or JSON), a scalar or an event with random, often absurd, fields."""
    kind = rng.random()
    if kind < 0.6:
        n = rng.choice([1, 7, 8, 16, 54, 63, 64, 65, 128, 1000, 4096, rng.randint(1, 4096)])
        fs = rng.choice([*RATES, 10 ** rng.uniform(0, 6)])
        f = frame(n, fs=fs, shaft=rng.choice(SHAFTS), samples=_samples(rng, n), ts=ts)
        return codec.encode_waveform(f)
    if kind < 0.95:
        value = rng.choice([0.0, 5e-324, 41.5, -1e15, 1e38, 3e38, 1e39, 1e154, 1e300, 1.7e308,
                            rng.uniform(-100, 100)])
        channel = rng.choice(["temperature", "speed", "load", "x"])
        return codec.encode_scalar(ScalarSample("p1", channel, ts, value))
    return codec.encode_event(AssetEvent("p1", ts, rng.choice(["install", "maintenance", "failure"])))


class _Chain:
    """decode -> featurize -> window -> twin (fused state) -> alert gate -> fleet learner, by hand."""

    def __init__(self, meta: AssetMetadata) -> None:
        cfg, m = PipelineConfig(window_s=3600.0), PipelineMetrics()
        metas = {"p1": meta}
        windows = OpenWindows(3600.0, m)
        self.decode = Decoder(m, max_future_s=86400.0, now=lambda: NOW, metadata=metas)
        self.featurize = Featurizer(metas, m, windows)
        self.aggregate = make_window_aggregator(3600.0, m, windows, lambda: NOW)
        self.twin_step = twin_update(metas, cfg.twin, m)
        self.gate_step = alert_gate(cfg.alerts, m, lambda: NOW)
        self.fleet_step = fleet_rul(metas, m, cfg.twin.fleet)
        self.twin: Any = None
        self.gate: Any = None
        self.fleet: Any = None

    def window(self, window_id: int, payloads: list[bytes]) -> int:
        """Feed one window's payloads; the number admitted."""
        items = []
        for p in payloads:
            rec = self.decode(RawRecord("t", p))
            if not isinstance(rec, DeadLetter):
                items.append(self.featurize(rec))
        fv = self.aggregate("p1", (window_id, items))
        codec.encode_json(fv.plain() if isinstance(fv, CheckedWindow) else fv)  # the wire: no quality figures
        self.twin, outs = self.twin_step(self.twin, fv)
        for out in outs:
            if isinstance(out, TwinSnapshot):
                codec.encode_json(out)
                self.gate, alerts = self.gate_step(self.gate, out)
                for a in alerts:
                    codec.encode_json(a)
            if isinstance(out, StateSnapshot):  # the fused snapshot the state sink writes
                check_snapshot(out.snap)
                codec.encode_json(out.snap)
            if isinstance(out, LifeChunk):  # a completed life's part: the fleet learner's input
                self.fleet, _models = self.fleet_step(self.fleet, out)
        return len(items)


@pytest.mark.parametrize("seed", range(6))
def test_fuzz_whatever_the_decoder_admits_flows_through_every_step(seed: int) -> None:
    rng = random.Random(seed)
    admitted = refused = 0
    for _trial in range(6):
        meta = _random_meta(rng)
        try:
            check_metadata(meta)
        except ValueError:
            refused += 1
            meta = AssetMetadata("p1", bearing=GEOMETRY, nominal_speed_hz=25.0,
                                 resonance_band_hz=rng.choice(BANDS[:4]))
        chain = _Chain(meta)
        wid0 = int((TS - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() // 3600) - 40
        for w in range(40):
            start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=wid0 + w)
            payloads = [_random_payload(rng, start + timedelta(minutes=10 * k)) for k in range(4)]
            admitted += chain.window(wid0 + w, payloads)
    assert admitted > 100 and refused > 0


def test_fuzz_random_bytes_never_raise_in_the_decode_step() -> None:
    rng = random.Random(5)
    good = codec.encode_waveform(frame(256))
    reasons: set[str] = set()
    for i in range(3000):
        data = bytearray(good) if i % 2 else bytearray(rng.randbytes(rng.randint(0, 64)))
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        if i % 3 == 0 and len(data) >= 20:
            struct.pack_into("<d", data, 12, rng.choice([0.0, -1.0, 1e308, math.nan, 5e-324]))
        out = decode(bytes(data))
        if isinstance(out, DeadLetter):
            reasons.add(out.reason)
        else:
            assert admit(out, META) is None
    assert {"truncated", "unknown_version", "bad_sample_rate"} <= reasons
