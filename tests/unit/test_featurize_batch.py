"""The ``featurize_frames`` step over a batch (flows/dataflow/featurize.py, issue 10).

A batch mixes scalars, events and frames of several assets, sample rates and lengths: items keep
their order, each frame's features are the per-item step's, and a frame that cannot be featurised
becomes a dead letter without costing the frames batched with it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from flows.dataflow.featurize import MAX_GROUP_FRAMES, featurize_batch
from flows.dataflow.items import ClockFlag, DeadLetter, FrameFeatures, InputMark, ScalarBlock, ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Featurizer, OpenWindows
from twin_models.records import AssetEvent, AssetMetadata, BearingGeometry, ScalarSample, WaveformFrame

TS = datetime(2026, 3, 1, tzinfo=UTC)
GEOMETRY = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
META = {"a": AssetMetadata("a", "pump", bearing=GEOMETRY, nominal_speed_hz=25.0),
        "b": AssetMetadata("b", "fan", resonance_band_hz=(2000.0, 6000.0)),
        "c": AssetMetadata("c", "fan")}


def frame(asset: str, i: int, *, n: int = 4096, fs: float = 25600.0,
          shaft: float | None = None) -> WaveformFrame:
    x = np.random.default_rng(i).normal(0.0, 0.3, n).astype(np.float32)
    return WaveformFrame(asset, "vib", TS + timedelta(seconds=i), fs, x, shaft, "g")


def step_and_reference() -> tuple[PipelineMetrics, object, Featurizer]:
    m = PipelineMetrics(CollectorRegistry())
    reference = Featurizer(META, PipelineMetrics(CollectorRegistry()), OpenWindows(3600.0, m))
    return m, featurize_batch(Featurizer(META, m, OpenWindows(3600.0, m)), m, lambda: TS), reference


def test_a_mixed_batch_keeps_order_and_matches_the_per_item_step() -> None:
    items = [frame("a", 1), ScalarSample("a", "temperature", TS, 40.0), frame("b", 2, n=2048),
             frame("c", 3, fs=12000.0, shaft=30.0), AssetEvent("c", TS, "maintenance"),
             frame("a", 4, shaft=27.0), frame("b", 5, n=2048), frame("c", 6)]
    m, step, reference = step_and_reference()
    out = step(items)  # type: ignore[operator]
    assert [type(o) for o in out] == [type(reference(i)) for i in items]
    for got, item in zip(out, items, strict=True):
        want = reference(item)
        if isinstance(want, FrameFeatures):
            assert (got.asset_id, got.channel, got.timestamp) == (want.asset_id, want.channel, want.timestamp)
            assert repr(got.features) == repr(want.features)  # bit for bit
        else:
            assert got is item
    assert out[5].features["shaft_hz"] == 27.0 and out[0].features["shaft_hz"] == 25.0
    assert "env_bpfo_snr" in out[0].features and "shaft_hz" not in out[2].features
    assert m.value("twin_step_items_total", {"step": "featurize_frames"}) == len(items)
    assert m.value("twin_step_call_seconds_count", {"step": "featurize_frames"}) == 1  # one call per batch
    assert m.value("twin_windows_open") == 3


def test_a_frame_that_cannot_be_featurised_costs_only_itself() -> None:
    """'b' has a metadata band of 2-6 kHz: a 4 kHz frame of it has no bins there and raises (the
    decode step's admission normally stops it first); its batch-mates come out as usual."""
    bad = replace(frame("b", 7), sample_rate_hz=4000.0)
    items = [frame("a", 1, fs=4000.0), bad, frame("c", 3, fs=4000.0)]
    m, step, reference = step_and_reference()
    out = step(items)  # type: ignore[operator]
    assert isinstance(out[1], DeadLetter) and out[1].reason == "processing_error"
    assert "step featurize_frames failed for asset 'b'" in out[1].detail and "envelope band" in out[1].detail
    assert repr(out[0].features) == repr(reference(items[0]).features)  # type: ignore[attr-defined]
    assert repr(out[2].features) == repr(reference(items[2]).features)  # type: ignore[attr-defined]
    assert m.value("twin_dead_letters_total", {"reason": "processing_error"}) == 1


def test_large_batches_are_split_into_groups() -> None:
    items = [frame("c", i, n=256) for i in range(2 * MAX_GROUP_FRAMES + 3)]
    _, step, reference = step_and_reference()
    out = step(items)  # type: ignore[operator]
    assert [repr(o.features) for o in out] == [repr(reference(i).features) for i in items]  # type: ignore[attr-defined]


def test_a_batch_without_frames_is_not_timed() -> None:
    m, step, _ = step_and_reference()
    items = [ScalarSample("a", "temperature", TS, 40.0)]
    assert step(items) == items  # type: ignore[operator]
    assert m.value("twin_step_call_seconds_count", {"step": "featurize_frames"}) == 0


def test_marks_and_flags_pass_through_and_count_as_no_records() -> None:
    """Round 37 (STRICT37): the step's items were annotated ``Telemetry | ScalarBlock``, so mypy
    --strict took the InputMark/ClockFlag branch (they are no records) for one never taken."""
    sample = ScalarSample("a", "temperature", TS, 40.0)
    block = ScalarBlock("a", TS, (sample, sample))
    piece = ScalarColumns.of("a", np.array([1, 2, 3], np.int64) * 10**6 + int(TS.timestamp() * 1e6),
                             np.zeros(3, np.int16), ("temperature",), np.ones(3))
    items = [InputMark("a", TS, "file:x", 0, 5), block, ClockFlag("b", TS, "speed", 12.0), frame("a", 1),
             piece, InputMark("c", TS + timedelta(hours=2), "file:x", 6, 6), sample]
    m, step, _ = step_and_reference()
    out = step(items)  # type: ignore[operator]
    assert [o is i for o, i in zip(out, items, strict=True)] == [True, True, True, False, True, True, True]
    assert isinstance(out[3], FrameFeatures)
    # records: the block's 2 samples, the frame, the piece's 3 samples, the sample (not the 3 others)
    assert m.value("twin_step_items_total", {"step": "featurize_frames"}) == 2 + 1 + 3 + 1
    assert m.value("twin_windows_open") == 3  # a's window; b's and c's (each of a mark or a flag)


@pytest.mark.parametrize("scale", [1e-160, 1e200])
def test_a_frame_out_of_scale_is_a_dead_letter_and_its_batch_mates_are_unchanged(scale: float) -> None:
    """Round 41 (TIDY41b): the batch gave a frame scaled to 1e-160 NaN kurtosis and one at 1e200
    infinite band energies, and went on (the twin step then refused its window); one frame alone
    raised ZeroDivisionError or OverflowError. Now it is a ``frame_out_of_scale`` dead letter naming
    it, counted, and the others are featurised as one batch without it, as in a batch without it.
    Every source gives float32 frames, which are never out of scale
    (tests/unit/features/test_frame_scale.py); this frame's samples are float64."""
    good = [frame("a", 1), frame("c", 2, shaft=30.0), frame("b", 3), frame("a", 4, shaft=27.0)]
    bad = replace(frame("c", 9), samples=np.asarray(frame("c", 9).samples, np.float64) * scale)
    m = PipelineMetrics(CollectorRegistry())
    fz = Featurizer(META, m, OpenWindows(3600.0, m))
    calls: list[int] = []
    frames_of = fz.frames
    fz.frames = lambda fr: calls.append(len(fr)) or frames_of(fr)  # type: ignore[method-assign]
    step = featurize_batch(fz, m, lambda: TS)
    out = step([*good[:2], bad, *good[2:]])
    _, without, _ = step_and_reference()
    want = without(good)  # type: ignore[operator]
    dead = out[2]
    peak = float(np.abs(bad.samples - bad.samples.mean()).max())
    assert isinstance(dead, DeadLetter) and dead.reason == "frame_out_of_scale"
    assert dead.detail == (f"the 'vib' frame of asset 'c' at {bad.timestamp.isoformat()} deviates from its "
                           f"mean by up to {peak:.3g}: outside the range its features can be computed in "
                           f"(0, or 1e-60 to 1e+60)")
    assert [repr(o.features) for o in out[:2] + out[3:]] == [repr(w.features) for w in want]
    assert all(np.isfinite(v) for o in out[:2] + out[3:] for v in o.features.values())
    assert calls == [5, 4]  # the batch, then its 4 others at once (never frame by frame)
    assert m.value("twin_dead_letters_total", {"reason": "frame_out_of_scale"}) == 1
    assert m.value("twin_dead_letters_total", {"reason": "processing_error"}) == 0
