"""frame_features_batch == frame_features frame by frame (issue 10: the waveform path in batches).

The batched features must be the per-frame features, key for key and in the same order, for every
kind of frame settings a batch may mix, and a frame's values must not depend on the frames it is
batched with (the dataflow's batches depend on how the source delivers). Values: to float64
rounding, except the envelope features (``env_*``): the batch computes them in single precision
(issue 10 round 3), so they agree with the per-frame float64 reference within
:data:`SINGLE_RTOL`, on the same envelope band (a different band would change them by far more).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.unit.features.synth import bearing_signal
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features.batch import FrameSpec, frame_features_batch
from twin_models.features.envelope import fallback_band
from twin_models.features.frame import diagnose_bearing, frame_features
from twin_models.quality.stats import frame_quality
from twin_models.records import BearingGeometry, WaveformFrame
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

FS = 25_600.0
GEOMETRY = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
RTOL = 1e-12
SINGLE_RTOL = 2e-5
"""Bound for the single-precision envelope features: float32 FFTs of peak-scaled frames err by
~1e-7 of the frame's peak per bin; on the demo's streams (seeds 7 and 3, 22,848 frames) the
envelope features differ from float64 by at most 1.7e-5 relative (``env_1x_amp``, a line close
to the envelope's removed mean), the others by at most 2.4e-6, and no frame changes band."""


def per_frame(frames: np.ndarray, fs: float, specs: list[FrameSpec], **kw: object) -> list[dict[str, float]]:
    return [frame_features(row, fs, shaft_hz=s.shaft_hz, geometry=s.geometry,
                           envelope_band=s.envelope_band, **kw)  # type: ignore[arg-type]
            for row, s in zip(frames, specs, strict=True)]


def assert_same(got: list[dict[str, float]], want: list[dict[str, float]]) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert list(g) == list(w), i  # same keys, same order
        rtol = np.array([SINGLE_RTOL if k.startswith("env_") else RTOL for k in g])
        a, b = np.array(list(g.values())), np.array(list(w.values()))
        assert np.all(np.abs(a - b) <= rtol * np.abs(b) + 1e-300), (
            i, {k: (g[k], w[k]) for k in g if g[k] != w[k]})


def mixed_specs(rows: int, rng: np.random.Generator) -> list[FrameSpec]:
    kinds = [FrameSpec(), FrameSpec(shaft_hz=24.0), FrameSpec(shaft_hz=29.95, geometry=GEOMETRY),
             FrameSpec(shaft_hz=31.0, geometry=GEOMETRY, envelope_band=(2000.0, 8000.0)),
             FrameSpec(envelope_band=(3000.0, 1e6)), FrameSpec(geometry=GEOMETRY)]
    return [kinds[int(k)] if k < 3 else FrameSpec(float(rng.uniform(10, 50)), GEOMETRY)
            for k in rng.integers(0, len(kinds) + 3, rows)]


@pytest.mark.parametrize(("n", "fs"), [(4096, FS), (2048, 12_000.0), (4095, FS), (64, 2000.0)])
def test_random_frames_with_mixed_settings(n: int, fs: float) -> None:
    rng = np.random.default_rng(n)
    frames = rng.normal(0.0, 0.3, (24, n)) + rng.normal(0.0, 0.05, (24, 1))
    frames[3] *= 1e-6
    specs = mixed_specs(24, rng)
    if fs < 8000.0:  # a band above Nyquist would be refused per frame too
        specs = [FrameSpec(s.shaft_hz, s.geometry) for s in specs]
    assert_same(frame_features_batch(frames, fs, specs), per_frame(frames, fs, specs))


def test_simulated_frames_of_a_fleet() -> None:
    fleet = FleetConfig(n_assets=8, days=3.0, seed=7, frame_interval_s=900.0, scalar_interval_s=86400.0)
    meta = fleet_metadata(fleet)
    frames = list(itertools.islice((r for r in simulate_fleet(fleet) if isinstance(r, WaveformFrame)), 96))
    specs = [FrameSpec(f.shaft_speed_hz or meta[f.asset_id].nominal_speed_hz, meta[f.asset_id].bearing,
                       meta[f.asset_id].resonance_band_hz) for f in frames]
    x = np.stack([f.samples for f in frames])
    assert_same(frame_features_batch(x, FS, specs), per_frame(x, FS, specs))


def test_impulsive_frames_select_their_band_like_the_per_frame_scan() -> None:
    """Defect frames whose band scan picks a resonance band (not the fallback), next to noise."""
    shaft = 29.95
    bpfo = defect_frequencies(GEOMETRY, shaft).bpfo
    frames = np.stack([bearing_signal(fs=FS, n=4096, defect_hz=bpfo, shaft_hz=shaft, noise_rms=0.3,
                                      resonance_hz=r, seed=s)
                       for s, r in enumerate((3500.0, 6000.0, 9000.0, 3500.0))]
                      + [np.random.default_rng(9).normal(0, 0.3, 4096)])
    specs = [FrameSpec(shaft, GEOMETRY)] * 5
    got = frame_features_batch(frames, FS, specs)
    assert_same(got, per_frame(frames, FS, specs))
    assert max(g["env_kurtosis"] for g in got[:4]) > 4.0  # impulsive: the scan found a band
    assert got[0]["env_bpfo_snr"] > got[4]["env_bpfo_snr"]


def test_constant_and_zero_frames() -> None:
    frames = np.stack([np.zeros(512), np.full(512, 3.0), np.r_[np.ones(511), 1.0 + 1e-15]])
    specs = [FrameSpec(shaft_hz=25.0, geometry=GEOMETRY)] * 3
    got = frame_features_batch(frames, FS, specs)
    assert_same(got, per_frame(frames, FS, specs))
    assert [g["kurtosis"] for g in got] == [3.0, 3.0, 3.0]
    assert got[0]["crest_factor"] == 0.0


def test_explicit_bands() -> None:
    frames = np.random.default_rng(1).normal(0.0, 1.0, (5, 1024))
    bands = [(0.0, 100.0), (100.0, 3000.0), (3000.0, 1e9)]
    specs = [FrameSpec()] * 5
    want = per_frame(frames, FS, specs, bands=bands)
    assert_same(frame_features_batch(frames, FS, specs, bands=bands), want)


def test_a_frame_does_not_depend_on_its_batch() -> None:
    """Bit for bit: alone, in a batch, in another order (outputs must not depend on batching)."""
    rng = np.random.default_rng(5)
    frames = rng.normal(0.0, 0.3, (16, 4096))
    specs = mixed_specs(16, rng)
    batch = frame_features_batch(frames, FS, specs)
    alone = [frame_features_batch(frames[i : i + 1], FS, specs[i : i + 1])[0] for i in range(16)]
    backwards = frame_features_batch(frames[::-1], FS, specs[::-1])[::-1]
    assert list(map(repr, batch)) == list(map(repr, alone)) == list(map(repr, backwards))


def test_scan_falls_back_for_noise() -> None:
    """Pure noise: no band is significant, the fallback band's SK (about 0) is reported."""
    frames = np.random.default_rng(2).normal(0.0, 1.0, (8, 4096))
    got = frame_features_batch(frames, FS)
    assert_same(got, per_frame(frames, FS, [FrameSpec()] * 8))
    assert fallback_band(FS) == (2560.0, 10240.0)
    assert all(1.5 < g["env_kurtosis"] < 2.5 for g in got)


def test_empty_batch() -> None:
    assert frame_features_batch(np.zeros((0, 256)), FS) == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_found_from_the_rows_extremes(bad: float) -> None:
    """Round 44 (PERF44): the batch tells non-finite rows from each row's max and min (no pass of
    its own); the error is ``as_frames``' (the first bad row, its count), whichever row holds
    NaN, +inf or -inf, a row of them included, and a finite batch passes."""
    from twin_models.features._rows import as_frames

    x = np.random.default_rng(44).normal(0.0, 1.0, (6, 256))
    assert len(frame_features_batch(x, FS)) == 6
    x[4, [3, 9, 200]] = bad
    x[2, :] = bad
    for frames in (x, x.astype(np.float32)):
        with pytest.raises(ValueError, match=r"^frame 2 contains 256 non-finite samples$") as got:
            frame_features_batch(frames, FS)
        with pytest.raises(ValueError) as want:
            as_frames(frames, min_len=8)
        assert str(got.value) == str(want.value)
    x[2] = 0.0
    with pytest.raises(ValueError, match=r"^frame 4 contains 3 non-finite samples$"):
        frame_features_batch(x, FS)


@pytest.mark.parametrize(("frames", "specs", "match"), [
    (np.zeros(256), None, r"2-D array"),
    (np.zeros((2, 4)), None, r"at least 8 samples"),
    (np.r_[[np.zeros(64)], [np.r_[np.zeros(63), np.nan]]], None, r"frame 1 contains 1 non-finite"),
    (np.zeros((2, 64)), [FrameSpec()], r"1 frame specs for 2 frames"),
    (np.zeros((1, 64)), [FrameSpec(shaft_hz=-1.0)], r"shaft_hz must be positive.*frame 0"),
    (np.zeros((1, 64)), [FrameSpec(envelope_band=(5000.0, 6000.0))], r"envelope band must be finite"),
])
def test_invalid_input_names_the_frame_or_value(frames: np.ndarray, specs: list[FrameSpec] | None,
                                                match: str) -> None:
    with pytest.raises(ValueError, match=match):
        frame_features_batch(frames, 2000.0 if "band" in match else FS, specs)


def test_envelope_spectra_of_the_first_bins_equal_the_full_spectra_bit_for_bit() -> None:
    """Round 3: the envelope spectra are computed only up to the bins the line features read."""
    from twin_models.features._rows import envelope_rows

    raw = np.fft.rfft(np.random.default_rng(2).normal(0.0, 1.0, (5, 4096)), axis=1)
    for dtype in (np.complex128, np.complex64):
        bins = raw[:, 400:1600].astype(dtype)
        full = envelope_rows(bins, 400, 4096)
        assert full.shape == (5, 2049)
        assert np.array_equal(envelope_rows(bins, 400, 4096, 90), full[:, :90])


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_envelope_features_in_any_units(scale: float) -> None:
    """Single precision on peak-scaled frames: no overflow or underflow whatever the units
    (float32 would overflow at 1e30 and lose 1e-30 frames' fourth powers unscaled)."""
    shaft = 29.95
    bpfo = defect_frequencies(GEOMETRY, shaft).bpfo
    frames = np.stack([bearing_signal(fs=FS, n=4096, defect_hz=bpfo, shaft_hz=shaft, noise_rms=0.3,
                                      resonance_hz=6000.0, seed=1),
                       np.random.default_rng(4).normal(0, 1, 4096)])
    specs = [FrameSpec(shaft, GEOMETRY)] * 2
    base = frame_features_batch(frames, FS, specs)
    scaled = frame_features_batch(frames * scale, FS, specs)
    for b, s in zip(base, scaled, strict=True):
        assert s["env_kurtosis"] == pytest.approx(b["env_kurtosis"], rel=1e-6)
        assert s["env_bpfo_amp"] == pytest.approx(b["env_bpfo_amp"] * scale, rel=1e-6)
        assert s["env_bpfo_snr"] == pytest.approx(b["env_bpfo_snr"], rel=1e-6)


def test_single_precision_keeps_each_defect_frames_band_and_diagnosis() -> None:
    """Simulated outer/inner-race defects ringing resonances across the scan range: the batch
    (single precision) diagnoses the same defect as the float64 per-frame reference, on the same
    band (its env_kurtosis within SINGLE_RTOL), with the defect line far above the bound."""
    shaft = 29.95
    freq = defect_frequencies(GEOMETRY, shaft)
    cases = [(name, hz, r) for name, hz in (("bpfo", freq.bpfo), ("bpfi", freq.bpfi))
             for r in (2500.0, 4500.0, 7000.0, 10000.0)]
    frames = np.stack([bearing_signal(fs=FS, n=4096, defect_hz=hz, shaft_hz=shaft, noise_rms=0.2,
                                      resonance_hz=r, seed=k) for k, (_, hz, r) in enumerate(cases)])
    specs = [FrameSpec(shaft, GEOMETRY)] * len(cases)
    got, want = frame_features_batch(frames, FS, specs), per_frame(frames, FS, specs)
    assert_same(got, want)
    for (name, _, _), g, w in zip(cases, got, want, strict=True):
        assert diagnose_bearing(g) == diagnose_bearing(w) == name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_moments_it_fills_give_frame_quality_to_the_bit(dtype: type) -> None:
    """Round 43 (PERF43): ``frame_quality`` reuses the batch's row moments; its figures must be
    those it computes on its own, bit for bit, for offsets, scales, odd lengths, a constant row,
    a clipped row (the pile-up check reads the extremes) and single-precision samples."""
    rng = np.random.default_rng(43)
    rows = [rng.normal(rng.normal(0.0, 50.0), rng.uniform(1e-3, 1e3), 4095) for _ in range(40)]
    rows.append(np.full(4095, 2.5))
    rows.append(np.clip(rng.normal(0.0, 1.0, 4095), -0.5, 0.5))
    x = np.asarray(rows, dtype=dtype)
    moments: dict[str, np.ndarray] = {}
    frame_features_batch(x, FS, moments=moments)
    assert sorted(moments) == ["max", "mean", "min", "std"]
    reused, alone = frame_quality(x, FS, moments), frame_quality(x, FS)
    assert reused.tobytes() == alone.tobytes()
    assert alone[-1, 2] > 0.1 and alone[-2, 3] == 1.0  # the clipped row's rail, the constant row


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.uint64])
def test_the_moments_give_frame_quality_of_integer_samples_to_the_bit(dtype: type) -> None:
    """Round 44: integer samples, at their type's extremes (a railed int16 ADC) and, for 64-bit ones,
    past 2**53, where the batch's float64 max/min are not the row's samples: the rail share read
    from them counted no sample at the extreme (0.0 where it is ~0.2)."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(44)
    near_top = dtype(info.max) - rng.integers(1, 1000, (6, 1024)).astype(dtype)
    railed = np.where(rng.random((3, 1024)) < 0.2, info.max, near_top[:3])  # a fifth at the rail
    x = np.concatenate([railed, near_top[3:]]).astype(dtype)
    moments: dict[str, np.ndarray] = {}
    frame_features_batch(x, FS, moments=moments)
    reused, alone = frame_quality(x, FS, moments), frame_quality(x, FS)
    assert reused.tobytes() == alone.tobytes()
    assert (alone[:3, 2] > 0.15).all()  # the railed rows' share at their extreme
