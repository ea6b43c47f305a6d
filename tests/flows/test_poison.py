"""Poison pills through the whole dataflow: accepted-but-poisonous records, and steps that raise.

Before: each of the first three cases stopped the dataflow with a Bytewax runtime error (the
``featurize_frames`` step raised), and so did any exception in any step. Now the record or item
goes to the dead letters and every other output is exactly that of a clean run.

The guard tests inject a failure for one asset's item (a monkeypatched model method that first
mutates the state, then raises): what is under test is that the step goes on and that the
asset's state is exactly as before the item.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from bytewax.testing import TestingSource, run_main

from flows.codec import decode_telemetry, encode_waveform
from flows.config.pipeline import PipelineConfig
from flows.dataflow.fleet_steps import fleet_learn_apply, fleet_rul
from flows.dataflow.guard import guard_stateful
from flows.dataflow.items import DeadLetter, RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import alert_gate
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.replayable import encode_record
from tests.flows.conftest import Outputs, collecting_sinks
from twin_models.records import AssetEvent, ScalarSample, WaveformFrame
from twin_models.rul.fleet import FleetRulConfig
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet

FLEET = FleetConfig(n_assets=3, days=3.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0,
                    frame_len=2048)
CFG = PipelineConfig(clock="data", window_s=3600.0, allowed_lateness_s=600.0, max_future_s=1e9)
X = "pump-001"  # a life that does not complete: the fleet learns nothing from it
W = FLEET.start + timedelta(days=1, hours=13)  # window start, after the 24-window warm-up
META = {k: (replace(v, resonance_band_hz=(2000.0, 6000.0)) if k == X else v)
        for k, v in fleet_metadata(FLEET).items()}


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return [RawRecord("test", encode_record(r)) for r in simulate_fleet(FLEET)]


@pytest.fixture(scope="module")
def clean(records: list[RawRecord]) -> Outputs:
    return run(records)


def run(records: list[RawRecord], metrics: PipelineMetrics | None = None) -> Outputs:
    sinks, out = collecting_sinks()
    flow = get_flow(CFG, source=TestingSource(records, batch_size=64), sinks=sinks,
                    metadata=META, metrics=metrics or PipelineMetrics())
    run_main(flow)
    return out


def in_window(r: RawRecord, asset: str = X, start: datetime = W) -> bool:
    rec = decode_telemetry(r.payload, now=datetime.max.replace(tzinfo=start.tzinfo))
    return getattr(rec, "asset_id", None) == asset and start <= rec.timestamp < start + timedelta(hours=1)  # type: ignore[union-attr]


def key(x: Any) -> str:
    """A comparable rendering of an output record (frames' arrays and floats exactly)."""
    return repr(x)


def split(outputs: list[Any], asset: str = X) -> tuple[list[str], list[str]]:
    """(outputs of asset, outputs of the others), each as sorted keys."""
    mine = sorted(key(o) for o in outputs if o.asset_id == asset)
    others = sorted(key(o) for o in outputs if o.asset_id != asset)
    return mine, others


def same(a: Outputs, b: Outputs, *, features: bool = True) -> None:
    for name in ("features", "state", "alerts") if features else ("state", "alerts"):
        assert sorted(map(key, getattr(a, name))) == sorted(map(key, getattr(b, name))), name


def frame_at(asset: str, ts: datetime, n: int, *, fs: float = 25600.0,
             shaft: float | None = None) -> RawRecord:
    samples = np.random.default_rng(3).normal(0, 0.3, n).astype(np.float32)
    return RawRecord("test", encode_waveform(WaveformFrame(asset, "vib", ts, fs, samples, shaft, "g")))


# --------------------------------------------------------------------------- accepted but poisonous


def test_accepted_but_poisonous_records_are_dead_lettered_and_change_nothing(
        records: list[RawRecord], clean: Outputs) -> None:
    t = W + timedelta(minutes=5)
    poison = [
        frame_at(X, t, 1), frame_at(X, t, 7),  # 1-7 samples
        frame_at(X, t, 2048, shaft=1e308),  # finite but absurd shaft speed
        frame_at(X, t, 2048, fs=2000.0),  # X's metadata band [2000, 6000] is above this frame's Nyquist
        frame_at("pump-003", t, 2048, shaft=5e-324),  # a denormal speed
        RawRecord("test", encode_record(ScalarSample(X, "temperature", t, 1e300))),  # overflows a window
    ]
    mixed = list(records)
    for i, p in enumerate(poison):
        mixed.insert(len(mixed) // 2 + 7 * i, p)
    metrics = PipelineMetrics()
    dirty = run(mixed, metrics)
    reasons = Counter(d.reason for d in dirty.dead_letters)
    assert reasons == {"frame_too_short": 2, "bad_shaft_speed": 2, "band_outside_frame": 1,
                       "value_out_of_range": 1}
    band = next(d for d in dirty.dead_letters if d.reason == "band_outside_frame")
    assert X in band.detail and "[2000, 6000]" in band.detail and "Nyquist 1000 Hz" in band.detail
    assert {d.raw for d in dirty.dead_letters} == {p.payload for p in poison}
    assert metrics.value("twin_dead_letters_total", {"reason": "frame_too_short"}) == 2
    same(dirty, clean)


# --------------------------------------------------------------------------- steps that raise


def inject(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
           hit: Callable[..., bool]) -> list[int]:
    """Make ``owner.name`` run as usual (mutating its state) and then raise, for the items ``hit``."""
    original = getattr(owner, name)
    calls: list[int] = []

    def poisoned(*args: Any, **kw: Any) -> Any:
        out = original(*args, **kw)
        if hit(*args, **kw):
            calls.append(1)
            msg = "injected failure"
            raise RuntimeError(msg)
        return out

    monkeypatch.setattr(owner, name, poisoned)
    return calls


def check_dead(dirty: Outputs, metrics: PipelineMetrics, step: str) -> None:
    assert [d.reason for d in dirty.dead_letters] == ["processing_error"]
    detail = dirty.dead_letters[0].detail
    assert f"step {step}" in detail and "RuntimeError: injected failure" in detail and X in detail
    assert metrics.value("twin_dead_letters_total", {"reason": "processing_error"}) == 1


def test_a_raising_featurizer_loses_one_frame_only(
        monkeypatch: pytest.MonkeyPatch, records: list[RawRecord]) -> None:
    """Frames are featurised a batch at a time: a batch holding the poisonous frame raises, is
    redone frame by frame, and only that frame is lost (the others' features are unchanged)."""
    import flows.dataflow.operators as ops

    target = next(r for r in records if r.payload[:3] == b"TWF" and in_window(r))
    frame = decode_telemetry(target.payload, now=datetime.max.replace(tzinfo=W.tzinfo))
    bad = np.asarray(frame.samples, dtype=np.float64)  # type: ignore[union-attr]
    batches: list[int] = []

    def hit(samples: Any, fs: float, specs: Any, **_kw: Any) -> bool:
        batches.append(len(samples))
        return any(np.array_equal(row, bad) for row in np.asarray(samples, dtype=np.float64))

    calls = inject(monkeypatch, ops, "frame_features_batch", hit)
    metrics = PipelineMetrics()
    dirty = run(records, metrics)
    monkeypatch.undo()
    assert len(calls) == 2  # the batch holding the frame, then the frame alone
    assert max(batches) > 1  # frames were batched
    check_dead(dirty, metrics, "featurize_frames")
    assert dirty.dead_letters[0].raw == target.payload  # the frame itself, re-encoded: replayable
    assert frame.timestamp >= W  # type: ignore[union-attr]
    same(dirty, run([r for r in records if r is not target]))


def test_a_raising_window_aggregation_loses_that_window_only(
        monkeypatch: pytest.MonkeyPatch, records: list[RawRecord]) -> None:
    import flows.dataflow.operators as ops

    calls = inject(monkeypatch, ops, "aggregate_columns",
                   lambda asset, start, *a, **k: asset == X and start == W)
    metrics = PipelineMetrics()
    dirty = run(records, metrics)
    monkeypatch.undo()
    assert calls == [1]
    check_dead(dirty, metrics, "aggregate_window")
    same(dirty, run([r for r in records if not in_window(r)]))


def test_a_raising_twin_update_keeps_the_twin_as_before_the_window(
        monkeypatch: pytest.MonkeyPatch, records: list[RawRecord], clean: Outputs) -> None:
    from twin_models.twin import AssetTwin

    calls = inject(monkeypatch, AssetTwin, "update",
                   lambda self, fv: fv.asset_id == X and fv.window_start == W)
    metrics = PipelineMetrics()
    dirty = run(records, metrics)
    monkeypatch.undo()
    assert calls == [1]
    check_dead(dirty, metrics, "twin_update")
    # the twin (mutated by the window, then restored) never learnt it: as if the window was absent
    same(dirty, run([r for r in records if not in_window(r)]), features=False)
    assert split(dirty.features) == split(clean.features)  # features come before the twin
    assert split(dirty.state)[1] == split(clean.state)[1]
    assert split(dirty.alerts)[1] == split(clean.alerts)[1]


def test_a_raising_alert_gate_keeps_the_policy_as_before_the_snapshot(
        monkeypatch: pytest.MonkeyPatch, records: list[RawRecord], clean: Outputs) -> None:
    from twin_models.alerting import AlertPolicy

    calls = inject(monkeypatch, AlertPolicy, "update",
                   lambda self, snap: snap.asset_id == X and snap.window_start == W)
    metrics = PipelineMetrics()
    dirty = run(records, metrics)
    monkeypatch.undo()
    assert calls == [1]
    check_dead(dirty, metrics, "alert_gate")
    assert dirty.features == clean.features or split(dirty.features) == split(clean.features)
    assert split(dirty.state) == split(clean.state)
    assert split(dirty.alerts)[1] == split(clean.alerts)[1]


def test_a_raising_fleet_view_restores_the_twin_with_its_view(
        monkeypatch: pytest.MonkeyPatch, records: list[RawRecord], clean: Outputs) -> None:
    """The fleet RUL is fused in twin_update now (the asset's FleetView): a failure there after
    the view remembered the window leaves the twin, view included, as before the window."""
    from twin_models.rul.fleet_view import FleetView

    def at(self: Any, snap: Any, *args: Any) -> bool:
        return bool(snap.asset_id == X and snap.window_start == W)

    # reference: the view raises before touching its state
    original = FleetView.update

    def skip(self: Any, snap: Any, *args: Any) -> Any:
        if at(self, snap):
            msg = "injected failure"
            raise RuntimeError(msg)
        return original(self, snap, *args)

    monkeypatch.setattr(FleetView, "update", skip)
    reference = run(records)
    monkeypatch.undo()
    # under test: the window is remembered by the view, then the step raises
    calls = inject(monkeypatch, FleetView, "update", at)
    metrics = PipelineMetrics()
    dirty = run(records, metrics)
    monkeypatch.undo()
    assert calls == [1]
    check_dead(dirty, metrics, "twin_update")
    same(dirty, reference)
    assert split(dirty.features) == split(clean.features)
    assert split(dirty.state)[1] == split(clean.state)[1]
    assert len(dirty.state) == len(clean.state) - 1


# --------------------------------------------------------------------------- the undo itself


def _states(items: list[Any], fail_at: int, step: Callable[..., Any],
            apply: Callable[[Any, Any], Any], guard: Callable[..., Any]) -> tuple[bytes, bytes, int]:
    """(pickled state after the guarded run with item ``fail_at`` raising after mutating it,
    pickled state of a run that never saw that item, dead letters)."""
    ref = None
    for i, item in enumerate(items):
        if i != fail_at:
            ref = apply(ref, item)

    def poisoned(state: Any, item: Any) -> Any:
        out = step(state, item)
        if item is items[fail_at]:
            msg = "injected failure"
            raise RuntimeError(msg)
        return out

    guarded = guard(poisoned)
    state, dead = None, 0
    for item in items:
        state, outs = guarded(state, item)
        dead += sum(isinstance(o, DeadLetter) for o in outs)
    return pickle.dumps(state), pickle.dumps(ref), dead


FLEET_RUL = FleetRulConfig(rul_features=("s_*",), min_lives=2, trend_windows=5, baseline_windows=5)


def _life_chunks(snaps: list[Any]) -> list[Any]:
    """Parts of completed lives, as twin_update emits them: every asset fails every 25 windows
    (condition rows from the snapshots, so the learner stores rows and refits in slices)."""
    from twin_models.rul.fleet_view import FleetView

    views: dict[str, FleetView] = {}
    chunks: list[Any] = []
    for snap in snaps:
        view = views.setdefault(snap.asset_id, FleetView("pump", FLEET_RUL))
        view.update(snap, {"s_deg": snap.degradation, "s_score": snap.anomaly_score}, None)
        if len(view.hist) == 25:
            chunks += view.close(AssetEvent(snap.asset_id, snap.timestamp, "failure"), 8)
    return chunks


@pytest.mark.parametrize("ratio", [0.0, 50.0, 1e9])
def test_fleet_undo_gives_exactly_the_state_before_the_item(clean: Outputs, ratio: float) -> None:
    """ratio 0: a checkpoint before every item; 1e9: one checkpoint, the whole journal replayed."""
    items = _life_chunks(sorted(clean.state, key=lambda s: (s.timestamp, s.asset_id)))
    assert len(items) >= 20
    m, now = PipelineMetrics(), (lambda: W)
    apply = fleet_learn_apply(META, FLEET_RUL)
    got, want, dead = _states(
        items, len(items) // 2, fleet_rul(META, m, FLEET_RUL), lambda s, i: apply(s, i)[0],
        lambda fn: guard_stateful("fleet_rul", fn, lambda s, i: apply(s, i)[0], lambda i: "k", m, now,
                                  ratio=ratio, copy_ratio=0.0))
    # equal values (numpy arrays restored from a checkpoint carry their own dtype objects, which
    # pickle to other bytes than the live arrays' shared one)
    assert dead == 1 and _plain(pickle.loads(got)) == _plain(pickle.loads(want))


def _plain(x: Any) -> Any:
    """A comparable rendering of a state: objects as dicts, arrays as lists, deques as lists."""
    if isinstance(x, np.ndarray):
        return (str(x.dtype), x.shape, np.ascontiguousarray(x).tobytes())  # NaN == NaN here
    if isinstance(x, float) and x != x:
        return "nan"
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple) or type(x).__name__ == "deque":
        return [type(x).__name__, *(_plain(v) for v in x)]
    if hasattr(x, "__dict__") and not isinstance(x, type):
        return (type(x).__name__, _plain(vars(x)))
    if hasattr(x, "__dataclass_fields__"):
        return (type(x).__name__, {k: _plain(getattr(x, k)) for k in x.__dataclass_fields__})
    return x


@pytest.mark.parametrize("copy", [0.0, 1e9])
def test_alert_gate_guard_gives_exactly_the_policy_before_the_snapshot(clean: Outputs, copy: float) -> None:
    """copy 0: checkpoint and journal; 1e9: a copy before every snapshot."""
    snaps = sorted((s for s in clean.state if s.asset_id == X), key=lambda s: s.timestamp)
    snaps = [replace(s, anomaly_score=0.9999 if 40 <= i < 50 else s.anomaly_score)
             for i, s in enumerate(snaps)]  # an episode, so the policy has state to lose
    m, now = PipelineMetrics(), (lambda: W)
    step = alert_gate(CFG.alerts, m, now)
    got, want, dead = _states(snaps, 40, step, lambda p, s: step(p, s)[0],
                              lambda fn: guard_stateful("alert_gate", fn, lambda p, s: step(p, s)[0],
                                                        lambda s: s.asset_id, m, now, copy_ratio=copy))
    assert dead == 1 and got == want
