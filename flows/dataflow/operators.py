"""The per-item logic of the dataflow's steps, free of Bytewax so it can be tested directly.

Each function or class here is what one step of :mod:`flows.dataflow.pipeline` calls. Domain logic stays in
twin_models; this module adapts records, metadata and metrics around it.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from flows import codec
from flows.dataflow.admission import admit, asset_id_problem, key_problem

# The item types are re-exported here on purpose: recovery snapshots written before issue 9 pickle
# open windows' FrameFeatures as ``flows.operators.FrameFeatures`` (flows.operators is an alias of
# this module, see flows/__init__.py), so unpickling looks the class up on this module.
from flows.dataflow.clock_gate import clock_skews
from flows.dataflow.duplicates import DUPLICATE_RECORD, may_hold_copies, split_duplicates
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.fleet_steps import (
    StateSnapshot,
    apply_fleet,
    asset_kind,
    calibrate_own,
    expect_versions,
    observe_damage,
    observe_state,
    set_damage_prior,
)
from flows.dataflow.items import (
    CheckedWindow,
    DeadLetter,
    FrameFeatures,
    RawRecord,
    ScalarColumns,
    WindowItem,
    plain_event,
)
from flows.dataflow.lineage import Producer, stamp_window, window_inputs
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.open_episodes import OpenEpisodes, condition_open, sensor_open
from flows.dataflow.prescription import GateState, gate_apply, twin_recommendation
from flows.dataflow.whatif_steps import answer, due_checkpoint
from flows.dataflow.window_columns import scalar_columns
from flows.dataflow.window_tail import pack
from twin_models.alerting import AlertPolicyConfig
from twin_models.features.batch import FrameSpec, frame_features_batch
from twin_models.features.scalar_rows import scalar_rows
from twin_models.features.window import aggregate_columns
from twin_models.prescribe import PrescribeConfig
from twin_models.quality.gate import annotate, kept_out_window, quality_step, sensor_alerts
from twin_models.quality.stats import OneReadings, frame_quality, window_stats
from twin_models.records import (
    EPOCH,
    Alert,
    AssetEvent,
    AssetMetadata,
    ChannelQuality,
    FeatureVector,
    Recommendation,
    ScalarSample,
    Telemetry,
    TwinSnapshot,
    WaveformFrame,
    WhatIfRequest,
)
from twin_models.twin import AssetTwin, TwinConfig

__all__ = [
    "Decoder",
    "Featurizer",
    "OpenWindows",
    "alert_gate",
    "asset_kind",
    "StateSnapshot",
    "check_snapshot",
    "make_window_aggregator",
    "policy_apply",
    "twin_apply",
    "twin_update",
]

STATE_SAMPLE_EVERY = 500


class Decoder:
    """``decode`` step: bytes -> record, or a :class:`DeadLetter` with the reason.

    A record the wire contract accepts must also pass :func:`flows.dataflow.admission.admit` (what the
    features need, judged with the asset's metadata), so no later step meets a record it cannot
    featurise."""

    def __init__(
        self,
        metrics: PipelineMetrics,
        *,
        max_future_s: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        metadata: Mapping[str, AssetMetadata] | None = None,
    ) -> None:
        self.metrics = metrics
        self.max_future_s = max_future_s
        self.now = now
        self.metadata: Mapping[str, AssetMetadata] = metadata if metadata is not None else {}
        # labelled children looked up once per source: ``labels()`` costs ~1 us, per record
        self._records_in: dict[str, Any] = {}
        self._decoded = metrics.step_items.labels(step="decode")

    def count(self, source: str, n: int = 1) -> None:
        """``n`` records of ``source`` came in and were decoded (counters only)."""
        records_in = self._records_in.get(source)
        if records_in is None:
            records_in = self._records_in[source] = self.metrics.records_in.labels(source=source)
        records_in.inc(n)
        self._decoded.inc(n)

    def __call__(self, raw: RawRecord) -> Telemetry | DeadLetter:
        self.count(raw.source)
        now = self.now()
        rec = raw.record
        if type(rec) is ScalarColumns:  # decode_batch hands on a piece's samples, one by one
            msg = f"a piece of {len(rec)} scalar columns of {rec.asset_id!r} reached the per-record decoder"
            raise TypeError(msg)
        if rec is not None and not raw.payload:  # a replayed record (see RawRecord)
            out = codec.decode_record(rec, now=now, max_future_s=self.max_future_s)
        else:
            out = codec.decode_telemetry(raw.payload, now=now, max_future_s=self.max_future_s)
        if isinstance(out, codec.DecodeError):
            self.metrics.dead_letters.labels(reason=out.reason).inc()
            return DeadLetter(out.reason, out.detail, raw.source, raw.wire(), now, raw.headers)
        # the id first: a catalog with defaults derives (and checks) the metadata of any id
        problem = admit(out, None if asset_id_problem(out.asset_id) else self.metadata.get(out.asset_id))
        if problem is None and raw.key:  # null or empty: no asset claimed
            problem = key_problem(raw.key, out.asset_id)
        if problem is not None:
            self.metrics.dead_letters.labels(reason=problem[0]).inc()
            return DeadLetter(*problem, raw.source, raw.wire(), now, raw.headers)
        return out


class OpenWindows:
    """Which (asset, window) pairs hold records in this process: the ``twin_windows_open`` gauge.

    Exact with one process; with several, a window is counted by the process that read its
    records and the process that closed it, so each process's gauge is approximate."""

    def __init__(self, window_s: float, metrics: PipelineMetrics) -> None:
        self.window_s = window_s
        self.metrics = metrics
        self.open: set[tuple[str, int]] = set()

    def opened(self, asset_id: str, ts: datetime) -> None:
        key = (asset_id, int((ts - EPOCH).total_seconds() // self.window_s))
        if key not in self.open:
            self.open.add(key)
            self.metrics.windows_open.set(len(self.open))

    def closed(self, asset_id: str, window_id: int) -> None:
        self.open.discard((asset_id, window_id))
        self.metrics.windows_open.set(len(self.open))


class Featurizer:
    """``featurize_frames`` step: a waveform frame -> its features (scalars/events pass).

    The dataflow calls it a batch at a time (:mod:`flows.dataflow.featurize`): :meth:`frames`
    featurises many frames of one sample rate and length together; ``__call__`` is the same for one
    item. Each frame's values do not depend on the frames it is computed with."""

    def __init__(self, metadata: Mapping[str, AssetMetadata], metrics: PipelineMetrics,
                 windows: OpenWindows) -> None:
        self.metadata = metadata
        self.metrics = metrics
        self.windows = windows

    def __call__(self, item: Telemetry) -> WindowItem:
        self.metrics.step_items.labels(step="featurize_frames").inc()
        self.windows.opened(item.asset_id, item.timestamp)
        if not isinstance(item, WaveformFrame):
            return item
        return self.frames([item])[0]

    def frames(self, frames: Sequence[WaveformFrame]) -> list[FrameFeatures]:
        """Features of frames sharing one sample rate and length, computed as one 2-D batch;
        raises if any frame cannot be featurised (the caller then goes frame by frame)."""
        specs = [self.spec(f) for f in frames]
        samples = np.stack([np.asarray(f.samples) for f in frames])
        moments: dict[str, Any] = {}  # the rows' mean, std, max, min: found by the features, reused
        feats = frame_features_batch(samples, frames[0].sample_rate_hz, specs, moments=moments)
        quality = frame_quality(samples, frames[0].sample_rate_hz, moments or None).tolist()  # issue 13
        out = []
        for f, spec, fe, q in zip(frames, specs, feats, quality, strict=True):
            if spec.shaft_hz:
                fe["shaft_hz"] = float(spec.shaft_hz)
            out.append(FrameFeatures.of(f, fe, tuple(q)))
        return out

    def spec(self, frame: WaveformFrame) -> FrameSpec:
        """The frame's feature settings: its own shaft speed (else the nominal one), the asset's
        bearing geometry and envelope band."""
        meta = self.metadata.get(frame.asset_id)
        if meta is None:
            return FrameSpec(frame.shaft_speed_hz or None)
        return FrameSpec(frame.shaft_speed_hz or meta.nominal_speed_hz, meta.bearing, meta.resonance_band_hz)


def make_window_aggregator(
    window_s: float, metrics: PipelineMetrics, windows: OpenWindows,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[..., FeatureVector]:
    """``aggregate_window`` step: (window id, items) of one asset -> FeatureVector.

    A record already in the window (:mod:`flows.dataflow.duplicates`) counts once: its later
    copies are left out of the features, ``n_records`` and the data-quality figures, counted in
    ``twin_dead_letters_total{reason="duplicate_record"}`` and their dead letters appended to
    ``dead`` (the pipeline passes a list; a caller that passes none drops them after counting)."""
    length = timedelta(seconds=window_s)
    length_us = length // timedelta(microseconds=1)  # exact: a timedelta is whole microseconds
    items_out = metrics.step_items.labels(step="aggregate_window")
    lag_gauge = metrics.event_time_lag_seconds.labels(process=metrics.process)

    duplicates = metrics.dead_letters.labels(reason=DUPLICATE_RECORD)

    def aggregate(asset_id: str, id_items: tuple[int, list[WindowItem]],
                  dead: list[DeadLetter] | None = None) -> FeatureVector:
        window_id, arrived = id_items
        start = EPOCH + window_id * length
        items = arrived
        copies: list[DeadLetter] = []
        frame_items = sorted((i for i in items if isinstance(i, FrameFeatures)), key=_item_time)
        scalars, n_scalars = scalar_columns(items)
        events = [plain_event(i) for i in items if isinstance(i, AssetEvent)]  # a Kafka event's: plain
        if may_hold_copies(scalars, frame_items, events):  # rare: then the exact check
            items, copies = split_duplicates(arrived, now())
            if copies:
                frame_items = sorted((i for i in items if isinstance(i, FrameFeatures)), key=_item_time)
                scalars, n_scalars = scalar_columns(items)
                events = [plain_event(i) for i in items if isinstance(i, AssetEvent)]
        frames = [(i.channel, i.features) for i in frame_items]
        rows = None if frame_items else scalar_rows(scalars)  # a scalar window: its channels at once
        quality: dict[str, Any] | OneReadings = window_stats(scalars, [
            (i.channel, i.timestamp.timestamp(), getattr(i, "quality", ())) for i in frame_items
        ]) if rows is None else rows[1]
        quality.update(clock_skews(items))
        metrics.windows_closed.inc()
        items_out.inc()
        windows.closed(asset_id, window_id)
        lag_gauge.set((now() - (start + length)).total_seconds())
        inputs = window_inputs(arrived)  # the digital thread: duplicates were read too
        start_us = window_id * length_us  # the archive's numbers, packed (flows.dataflow.window_tail)
        tail = pack(asset_id, start_us, start_us + length_us, len(frames) + n_scalars + len(events),
                    len(events), inputs)
        fv = aggregate_columns(asset_id, start, start + length, frames, scalars, n_scalars, events,
                               inputs, tail, None if rows is None else rows[0])
        if copies:  # counted once the window is through (a failure dead-letters it whole)
            duplicates.inc(len(copies))
            if dead is not None:
                dead.extend(copies)
        if not quality:
            return fv
        return CheckedWindow(fv.asset_id, fv.window_start, fv.window_end, fv.features, fv.n_records,
                             fv.events, fv.inputs, quality)

    return aggregate


def _item_time(item: ScalarSample | FrameFeatures) -> datetime:
    return item.timestamp


def twin_apply(
    metadata: Mapping[str, AssetMetadata], config: TwinConfig, board: FleetBoard | None = None,
    producer: Producer | None = None, prescribe: PrescribeConfig | None = None,
) -> Callable[[AssetTwin | None, FeatureVector | WhatIfRequest],
              tuple[AssetTwin | None, TwinSnapshot | None, list[Any]]]:
    """The twin step's pure state transition (no metrics): what an undo replays.

    Returns the twin, its own-evidence snapshot (None for an event-only window) and the fleet
    items (:func:`flows.dataflow.fleet_steps.apply_fleet`: the fused state snapshot, the parts
    of a life a failure closed), then the window's recommendation when one is due
    (:func:`flows.dataflow.prescription.twin_recommendation`, with ``prescribe``) and a damage
    checkpoint when one is due (:func:`flows.dataflow.whatif_steps.due_checkpoint`). With a
    ``producer``, the snapshots and the recommendation carry their lineage."""

    def apply(twin: AssetTwin | None,
              fv: FeatureVector | WhatIfRequest) -> tuple[AssetTwin | None, TwinSnapshot | None, list[Any]]:
        if type(fv) is WhatIfRequest:  # answered by the twin as it is (a fork): no state change
            return twin, None, [answer(twin, fv)]
        if twin is None:
            twin = AssetTwin(metadata.get(fv.asset_id) or AssetMetadata(fv.asset_id), config)
        if not fv.features:  # a window with life events (or clock flags) only: nothing to score
            for event in fv.events:
                twin.apply_event(event.kind)
            return twin, None, [*apply_fleet(twin, None, fv.features, fv.events, config.fleet, board),
                                *kept_out_window(twin, fv)]
        learned = twin.detector.n_learned
        set_damage_prior(twin, fv.window_end.timestamp(), bool(fv.events), board)
        # data quality (issue 13): the channels judged, bad ones masked for the models
        fv, states, changed = quality_step(twin, fv, getattr(fv, "quality", {}))
        snap = annotate(twin.update(fv), states)
        check_snapshot(snap)
        fleet = apply_fleet(twin, snap, fv.features, fv.events, config.fleet, board)
        snap = calibrate_own(twin, snap, board)  # the alert's RUL interval as the state's
        if producer is not None:
            snap, fleet = stamp_window(snap, fleet, producer, learned, fv.inputs)
        rec = twin_recommendation(twin, snap, prescribe)
        return twin, snap, [*fleet, *([] if rec is None else [rec]), *due_checkpoint(twin, fv),
                            *sensor_alerts(twin, snap, states), *changed]

    return apply


def twin_update(
    metadata: Mapping[str, AssetMetadata], config: TwinConfig, metrics: PipelineMetrics,
    board: FleetBoard | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC),
    producer: Producer | None = None, prescribe: PrescribeConfig | None = None, *,
    restored_open: Mapping[str, int] | None = None,
) -> Callable[[AssetTwin | None, FeatureVector | WhatIfRequest], tuple[AssetTwin | None, list[Any]]]:
    """``twin_update`` step: score, emit, then learn; emits the own-evidence snapshot (for the
    alert gate), the fleet-fused :class:`StateSnapshot` (for the state sink), the parts of a
    life that a failure closed (for the fleet learner), a due recommendation (for the gate) and a
    due damage checkpoint. A what-if request (``twin run``) gets its result from the twin as it
    is; an unknown asset's request creates no twin. ``restored_open``: each asset's open sensor
    episodes in the state a resume restored (:class:`flows.dataflow.open_episodes.RestoredOpen`)."""
    apply = twin_apply(metadata, config, board, producer, prescribe)
    # labelled children looked up once, not per window (a ``labels()`` call is a lock and a dict)
    items = metrics.step_items.labels(step="twin_update")
    by_condition: dict[str, Any] = {}
    shown: dict[tuple[str, str], str] = {}  # (asset, channel) -> check of its quality series
    sensors_open = OpenEpisodes(metrics.alert_episodes_open, "sensor", restored_open)

    def step(twin: AssetTwin | None, fv: FeatureVector | WhatIfRequest) -> tuple[AssetTwin | None, list[Any]]:
        if type(fv) is WhatIfRequest:  # a what-if request (twin run): the answer only
            return twin, [answer(twin, fv)]
        if twin is None:
            metrics.assets_tracked.inc()
        state, band = (twin.damage_state, twin.indicator_band) if twin is not None else (None, (0, 0))
        twin, snap, fleet = apply(twin, fv)
        assert twin is not None  # a window always leaves a twin (only a request may leave none)
        if snap is None:
            expect_versions(board, twin, fleet, config.fleet)
            sensors_open.observe(fv.asset_id, sensor_open(twin))
            return twin, fleet
        observe_damage(twin, state, band, metrics)
        items.inc()
        snapshots = by_condition.get(snap.condition)
        if snapshots is None:
            snapshots = by_condition[snap.condition] = metrics.snapshots.labels(condition=snap.condition)
        snapshots.inc()
        metrics.anomaly_score.observe(snap.anomaly_score)
        if snap.drift:
            metrics.drift_detections.inc()
        metrics.features.update(snap.asset_id, snap.condition, fv.features)
        if twin.n_windows % STATE_SAMPLE_EVERY == 1:  # sample one twin's size now and then
            # the gauge's own sample (collecting the whole registry, as ``metrics.value`` does,
            # cost a few % of a scalar backtest)
            tracked = next(iter(metrics.assets_tracked.collect())).samples[0].value
            metrics.state_bytes.set(len(pickle.dumps(twin)) * tracked)
        t = now()
        for item in fleet:
            if isinstance(item, StateSnapshot):
                observe_state(item, metrics, t)
            elif type(item) is ChannelQuality:
                observe_quality(item, metrics, shown)
            elif type(item) is Alert:  # a sensor alert (issue 13)
                metrics.alerts.labels(status=item.status, severity=item.severity, kind=item.kind).inc()
        n_ok = 0
        for _channel, verdict, check in snap.data_quality:
            if verdict == "ok":
                n_ok += 1
            else:
                metrics.data_quality_windows.labels(check=check, state=verdict).inc()
        if n_ok:
            metrics.data_quality_windows.labels(check="", state="ok").inc(n_ok)
        # last, once the step has not raised (else the guard restores the twin, not these)
        expect_versions(board, twin, fleet, config.fleet)
        sensors_open.observe(fv.asset_id, sensor_open(twin))
        return twin, [snap, *fleet]

    return step


def observe_quality(q: ChannelQuality, metrics: PipelineMetrics, shown: dict[tuple[str, str], str]) -> None:
    """``twin_channel_quality_state``: one series per judged channel, labelled with its last check
    (0 ok, 1 suspect, 2 bad); the series of its previous check is removed."""
    key = (q.asset_id, q.channel)
    old = shown.get(key)
    if old is not None and old != q.check:
        metrics.channel_quality_state.remove(q.asset_id, q.channel, old)
    level = {"ok": 0.0, "suspect": 1.0}.get(q.state, 2.0)
    metrics.channel_quality_state.labels(asset_id=q.asset_id, channel=q.channel, check=q.check).set(level)
    shown[key] = q.check


def check_snapshot(snap: TwinSnapshot) -> None:
    """Raise if a snapshot could not be written (a required number is not finite).

    Raised inside the guarded ``twin_update`` step, so the window is dead-lettered and the twin
    keeps its state from before it, instead of a sink failing on it later (and every later
    snapshot inheriting an infinite degradation)."""
    for name in ("anomaly_score", "health_index", "degradation"):
        value = getattr(snap, name)
        if not math.isfinite(value):
            msg = (f"twin of asset {snap.asset_id!r}: window {snap.window_start.isoformat()} gives "
                   f"a non-finite {name} ({value!r}); the window is not learnt")
            raise ValueError(msg)


def policy_apply(config: AlertPolicyConfig) -> Callable[[Any, TwinSnapshot | Recommendation],
                                                      tuple[GateState, list[Alert | Recommendation]]]:
    """The alert gate's pure state transition (no metrics): what an undo replays; the policy and
    the life's latest recommendation (:func:`flows.dataflow.prescription.gate_apply`)."""
    return gate_apply(config)


def alert_gate(
    config: AlertPolicyConfig, metrics: PipelineMetrics,
    now: Callable[[], datetime] = lambda: datetime.now(UTC), *,
    restored_open: Mapping[str, int] | None = None,
) -> Callable[[Any, TwinSnapshot | Recommendation], tuple[GateState, list[Alert | Recommendation]]]:
    """``alert_gate`` step (keyed by asset): the alert policy's state machine; recommendations
    leave it with the ``alert_id`` of the open episode. ``restored_open``: each asset's open
    episodes in the state a resume restored (:class:`flows.dataflow.open_episodes.RestoredOpen`)."""
    apply = policy_apply(config)
    episodes = OpenEpisodes(metrics.alert_episodes_open, config.kind, restored_open)

    def step(policy: Any,
             snap: TwinSnapshot | Recommendation) -> tuple[GateState, list[Alert | Recommendation]]:
        policy, alerts = apply(policy, snap)
        episodes.observe(snap.asset_id, condition_open(policy))
        metrics.step_items.labels(step="alert_gate").inc()
        for a in alerts:
            if not isinstance(a, Alert):
                metrics.recommendations.labels(plan=a.chosen.plan).inc()
                continue
            metrics.alerts.labels(status=a.status, severity=a.severity, kind=a.kind).inc()
            lag_s = max((now() - a.timestamp).total_seconds(), 0)
            metrics.processing_latency_seconds.labels(output="alert").observe(lag_s)
        return policy, alerts

    return step
