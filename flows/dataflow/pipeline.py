"""get_flow(...): the ONE dataflow of twinflow, for demo, run and backtest.

Sources and sinks are injected, so the simulator, file replay and Kafka all plug into the same
steps. Step ids are part of Bytewax's recovery state: never rename one without a migration note.

    source (RawRecord)
      -> decode            Telemetry | ScalarBlock | ScalarColumns | InputMark | ClockFlag | DeadLetter
                           (errors -> dead_letters sink; per batch; a batch's scalar samples of one
                           asset and window travel as one block, a replay's as column pieces; input
                           marks carry the digital thread, clock flags the clock check's verdicts)
      -> featurize_frames  ScalarSample | ScalarBlock | ScalarColumns | FrameFeatures | AssetEvent
                           | InputMark | ClockFlag   (only frames are featurised; the rest pass)
      -> key_by_asset      (asset_id, item)
      -> window            event-time tumbling windows per asset (late items -> dead_letters)
      -> aggregate_window  (asset_id, FeatureVector)        -> features sink
                           (a window's later copies of a record -> duplicate_record dead letters)
      (+ decode_whatif_requests (asset_id, WhatIfRequest): twin run's request topic, merged here)
      -> twin_update       (asset_id, TwinSnapshot | StateSnapshot | LifeChunk | RefitWork)
           (asset_id, Alert) kind sensor, ChannelQuality changes -> alerts / data_quality sinks
           (issue 13: each window's channels judged first, bad channels masked for the twin)
           -> alert_gate   (asset_id, Alert)                -> alerts sink
                           (asset_id, Recommendation)       -> recommendations sink (the twin's
                           prescriptions, with the alert_id of the open episode)
           StateSnapshot (fleet model of the kind applied)  -> state sink
           DamageCheckpoint (every few event-time hours)    -> damage_state sink
           WhatIfResult (a request's answer)                -> whatif_results sink
           -> fleet_rul    (kind, FleetModel)  completed lives only -> fleet model board
    recommendations (asset_id, Recommendation) + command_inputs (decisions)
      -> command_guard     (asset_id, Command | AuditEntry) -> commands / audit sinks
                           (flows.dataflow.commands; off by default; sends only with send_commands)

Every per-item step runs under a guard (:mod:`flows.dataflow.guard`): an item that makes it raise becomes
a ``processing_error`` dead letter, the asset's state stays as it was before the item, and the
flow goes on. The ``route_*_errors`` branches take those dead letters to the dead-letter sink.

Alerts are decided per asset from the twin's own evidence (anomaly score, health index,
own-trend RUL), so alerts and their ids do not depend on how assets are spread over partitions
and workers. The fleet RUL is predicted per asset too, in ``twin_update``, with the fleet model
version of the asset's kind that applies at the window's event time (:mod:`flows.dataflow.fleet_models`);
only learning is shared: ``fleet_rul`` (keyed by kind) sees the parts of completed lives and
emits versions. So the state snapshots do not depend on the partitioning either, as long as
each version reaches the board before the windows it applies to (late ones are counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import bytewax.operators as op
import bytewax.operators.windowing as win
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source

from flows.config.fingerprint import config_hash, twinflow_version
from flows.config.pipeline import PipelineConfig
from flows.dataflow.admission import check_metadata
from flows.dataflow.blocks import SYSTEM_MARGIN, BlockBuilder, grouped
from flows.dataflow.clock_gate import ClockGate
from flows.dataflow.commands import command_path, empty_recommendations
from flows.dataflow.decode_batch import decode_batch
from flows.dataflow.end_of_input import end_marked
from flows.dataflow.featurize import featurize_batch
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.fleet_steps import StateSnapshot, asset_kind, fleet_learn_apply, fleet_rul, publisher
from flows.dataflow.guard import guard_keyed_map, guard_map, guard_stateful
from flows.dataflow.items import (
    CheckedWindow,
    ClockFlag,
    DeadLetter,
    InputMark,
    RawRecord,
    RawRun,
    ScalarBlock,
    ScalarColumns,
    WindowItem,
)
from flows.dataflow.late import late_dead_letter, late_sources
from flows.dataflow.lineage import Producer
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import (
    Decoder,
    Featurizer,
    OpenWindows,
    alert_gate,
    make_window_aggregator,
    policy_apply,
    twin_apply,
    twin_update,
)
from flows.dataflow.sources.replayable import HeldSource
from flows.dataflow.whatif_steps import request_decoder
from twin_models.records import (
    EPOCH,
    Alert,
    AssetMetadata,
    ChannelQuality,
    DamageCheckpoint,
    Recommendation,
    TwinSnapshot,
    WhatIfRequest,
    WhatIfResult,
)
from twin_models.rul.fleet_view import LifeChunk, RefitWork

__all__ = ["FLEET_UNDO_COPY_RATIO", "TWIN_UNDO_COPY_RATIO", "SinkAttacher", "Sinks", "get_flow"]

FLEET_UNDO_COPY_RATIO = 0.0
"""The fleet learner's undo (:class:`~flows.dataflow.guard.Undo`) never copies its state before
every item; it keeps a checkpoint and the items since (at most 2 % of the step's time). A copy
per item was chosen whenever pickling cost at most half a call: during a refit a call is a few
ms of tree fitting, so the ~1.2 MB learner of C-MAPSS FD001 was pickled before ~3,000 calls
(6.4 s, 13 % of the step). One learner per asset kind: the kept checkpoint costs no memory to speak of."""

TWIN_UNDO_COPY_RATIO = 0.05
"""An asset twin's undo copies it before every window only when pickling it costs at most 5 % of
the window's step (a vibration twin: ~0.5 ms against ~50 ms of frames); otherwise it keeps a
checkpoint and the windows since (at most 2 % of the step's time). At the default 0.5 a scalar
twin (C-MAPSS: a ~20 KB pickle of 0.2-0.5 ms against a 0.7-1.3 ms step) switched to a copy per
window whenever its pickle timed below half a step: ~3,200 of FD001's 33,727 windows, ~3 % of the
backtest's CPU. Such twins were journaled for most windows already, so the memory is as before."""

SinkAttacher = Callable[[str, Stream[Any]], None]
"""Attaches one output to a stream: ``attach(step_id, stream)`` (adds op.output and any mapping)."""


@dataclass(frozen=True)
class Sinks:
    """Where each output stream goes; every entry is a list of attachers (may be empty)."""

    features: Sequence[SinkAttacher] = ()
    state: Sequence[SinkAttacher] = ()
    alerts: Sequence[SinkAttacher] = ()
    dead_letters: Sequence[SinkAttacher] = ()
    fleet_models: Sequence[SinkAttacher] = ()
    recommendations: Sequence[SinkAttacher] = ()
    commands: Sequence[SinkAttacher] = ()
    audit: Sequence[SinkAttacher] = ()
    damage_state: Sequence[SinkAttacher] = ()
    whatif_results: Sequence[SinkAttacher] = ()
    data_quality: Sequence[SinkAttacher] = ()


def _attach(name: str, stream: Stream[Any], attachers: Sequence[SinkAttacher]) -> None:
    for i, attach in enumerate(attachers):
        attach(f"{name}_{i}", stream)


def _clock(cfg: PipelineConfig) -> win.EventClock[WindowItem]:
    """The windows' event clock. With the system clock a window closes once the wall clock passes
    its end plus the allowed lateness (records stamped in real time), so that is when Bytewax is
    asked to wake the window step (``to_system_utc``). Bytewax's default wakes it at the window's
    end, finds the window not closable yet, and then re-runs the step in a busy loop for the whole
    allowed lateness (every key with an open window, thousands of calls a second: CPU taken from
    the windows that are due). A window still closes on the first record past its end + lateness,
    or at the wake-up for a quiet asset."""
    wait = timedelta(seconds=cfg.allowed_lateness_s)
    if cfg.clock == "data":
        # Event time only: deterministic for replays; quiet assets close at end of input.
        return win.EventClock(
            lambda item: item.timestamp,
            wait_for_system_duration=wait,
            now_getter=lambda: EPOCH,
            to_system_utc=lambda _ts: None,
        )
    return win.EventClock(lambda item: item.timestamp, wait_for_system_duration=wait,
                          to_system_utc=lambda close: close + wait)


def get_flow(
    cfg: PipelineConfig,
    *,
    source: Source[RawRecord] | Source[RawRecord | RawRun],
    sinks: Sinks,
    metadata: Mapping[str, AssetMetadata] | None = None,
    metrics: PipelineMetrics | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    flow_id: str = "twinflow",
    board: FleetBoard | None = None,
    command_inputs: Source[Any] | None = None,
    send_commands: bool = False,
    requests: Source[Any] | None = None,
    restored_open: Mapping[str, Mapping[str, int]] | None = None,
) -> Dataflow:
    """Build the dataflow (nothing runs until Bytewax runs it).

    ``board``: where this process's ``twin_update`` reads the fleet models (a new one by
    default; the learner's versions are published to it, and ``sinks.fleet_models`` get them).
    ``command_inputs``: decisions on pending commands (``twin run``: the decisions topic) or
    injected records; ``send_commands``: whether the command guard may send at all (only
    ``twin run`` says so: a demo or a backtest never sends, whatever ``commands.mode``);
    ``requests``: what-if requests (``twin run``: the request topic; none for demo and backtest),
    answered by the twins (:mod:`flows.dataflow.whatif_steps`) to ``sinks.whatif_results``;
    ``restored_open``: by step, each asset's open alert episodes in the state a resume restored
    (:class:`flows.dataflow.open_episodes.RestoredOpen`; ``twin run``), where the gauge starts."""
    meta: Mapping[str, AssetMetadata] = metadata if metadata is not None else {}
    for asset_meta in meta.values():
        check_metadata(asset_meta)
    m = metrics or PipelineMetrics()
    board = board if board is not None else FleetBoard(on_late=lambda _v: m.fleet_models_late.inc(),
                                                       on_hold_timeout=m.event_time_gate_timeouts.inc)
    if isinstance(source, HeldSource):  # an in-process replay: it waits for the fleet model
        # versions on their way (flows.dataflow.fleet_models, "Holds")
        source.hold = board.hold_s
    flow = Dataflow(flow_id)
    # the source's end is marked for the clock gate, which then judges the records it holds
    raw = op.input("telemetry_in", flow, end_marked(source))
    # RawRecord
    decoder = Decoder(m, max_future_s=cfg.max_future_s, now=now, metadata=meta)
    # a batch at a time: one Bytewax call per batch instead of per record (stateless step); plain
    # scalars take the fast path, and a batch's scalars of one asset and window leave as one block
    decode_one = decode_batch(decoder, guard_map("decode", decoder, m, now), cfg.window_s)
    # the clock check at admission (issue 13): a channel whose clock jumped, or a whole asset's
    # against its arrival time (Kafka), is dead-lettered (clock_skew) before it can move its
    # asset's watermark
    clock_gate = ClockGate(cfg.allowed_lateness_s, cfg.window_s, m, now)

    def decode_and_gate(raws: list[Any]) -> list[Any]:
        arrivals: dict[int, tuple[str, Any]] = {}  # this batch's arrival times (Kafka messages)
        return clock_gate(decode_one(raws, arrivals, clock_gate.located.by_id), arrivals)

    decode = grouped(decode_and_gate, _block_builder(cfg, now))
    decoded = op.flat_map_batch("decode", raw, decode)
    # Telemetry | ScalarBlock | ScalarColumns | InputMark | ClockFlag | DeadLetter
    split = op.branch("route_errors", decoded, _ok)
    windows = OpenWindows(cfg.window_s, m)
    # frames are featurised a Bytewax batch at a time (stateless: no recovery state involved)
    featurize = featurize_batch(Featurizer(meta, m, windows), m, now)
    feat = op.branch("route_featurize_errors", op.flat_map_batch("featurize_frames", split.trues, featurize),
                     _ok)
    # ScalarSample | ScalarBlock | ScalarColumns | FrameFeatures | AssetEvent | InputMark | ClockFlag
    keyed = op.key_on("key_by_asset", feat.trues, lambda x: x.asset_id)
    windower = win.TumblingWindower(length=timedelta(seconds=cfg.window_s), align_to=EPOCH)
    # unordered: items go into their window as they come (ordered mode queues them and re-scans
    # the queue, all of the allowed lateness's items, on every batch); aggregate_window sorts a
    # window's items by time, so the features are those of the ordered mode (lateness and the
    # window an item lands in do not depend on the mode)
    # (bytewax 0.21.1's overloads of collect_window leave out its `ordered` parameter, which the
    # function itself takes: no overload matches this call)
    wout = win.collect_window("window", keyed, _clock(cfg), windower, ordered=False)  # type: ignore[call-overload]
    # (asset_id, (window_id, [items]))
    late_one: Callable[[tuple[str, tuple[int, Any]]], Any]
    late_one = guard_map("late_to_dead_letter", lambda kv: _late(kv, m, now), m, now)
    late = op.flat_map("late_to_dead_letter", wout.late,
                       lambda kv: out if isinstance(out := late_one(kv), list) else [out])
    # DeadLetter
    aggregate = make_window_aggregator(cfg.window_s, m, windows, now)
    # a flat map (was a map: a stateless step, no recovery state): a window's duplicate records
    # (flows.dataflow.duplicates) leave as dead letters after its FeatureVector
    fvs_or_dead = op.flat_map("aggregate_window", wout.down,
                              _with_duplicates(guard_keyed_map("aggregate_window", _aggregate_step(aggregate),
                                                               m, now)))
    agg = op.branch("route_aggregate_errors", fvs_or_dead, _ok_value)
    fvs = agg.trues
    # (asset_id, FeatureVector)
    request_errors: list[Stream[Any]] = []
    if requests is not None:  # after the windows: a request is never windowed nor late
        raw_requests = op.input("whatif_requests_in", flow, requests)
        decoded_requests = op.flat_map("decode_whatif_requests", raw_requests, request_decoder(m, now))
        req = op.branch("route_request_errors", decoded_requests, _ok)
        fvs = op.merge("twin_input", fvs, op.key_on("key_requests_by_asset", req.trues, _asset_of))
        request_errors.append(req.falses)
    # (asset_id, FeatureVector | WhatIfRequest)
    producer = Producer(twinflow_version(), config_hash(cfg))
    rx = cfg.prescribe
    restored = restored_open or {}
    twin_step = guard_stateful("twin_update", twin_update(meta, cfg.twin, m, board, now, producer, rx,
                                                          restored_open=restored.get("twin_update")),
                               _state_of(twin_apply(meta, cfg.twin, board, prescribe=rx)), _asset_of, m, now,
                               on_drop=lambda x: None if type(x) is WhatIfRequest else m.assets_tracked.dec(),
                               copy_ratio=TWIN_UNDO_COPY_RATIO)  # a request counted no asset: uncounts none
    twin_out = op.branch("route_twin_errors", op.stateful_flat_map("twin_update", fvs, twin_step), _ok_value)
    updates = twin_out.trues
    # (asset_id, TwinSnapshot | StateSnapshot | LifeChunk | Recommendation): the own-evidence
    # snapshot and the recommendations go to the alert gate (in the twin's order), the fleet-fused
    # snapshot to the state sink, the parts of completed lives to fleet_rul
    own = op.filter_value("snapshots_only", updates, lambda x: isinstance(x, TwinSnapshot | Recommendation))
    gate_step = alert_gate(cfg.alerts, m, now, restored_open=restored.get("alert_gate"))
    gate = guard_stateful("alert_gate", gate_step, _state_of(policy_apply(cfg.alerts)), _asset_of, m, now)
    alerts_out = op.branch("route_alert_errors", op.stateful_flat_map("alert_gate", own, gate), _ok_value)
    gated = alerts_out.trues
    # (asset_id, Alert | Recommendation)
    alerts = op.filter_value("alerts_only", gated, lambda x: isinstance(x, Alert))
    # (asset_id, Alert)
    sensor_alerts = op.filter_value("sensor_alerts_only", updates, lambda x: isinstance(x, Alert))
    # (asset_id, Alert) of kind sensor (issue 13): raised by twin_update's data-quality step
    recommendations = op.filter_value("recommendations_only", gated, lambda x: isinstance(x, Recommendation))
    # (asset_id, Recommendation): THE prescriptions stream (issue 11, level 4), alert_id set to the
    # open episode's; the recommendations sink and the command path start here
    snaps = op.map_value("fused_state", op.filter_value(
        "state_snapshots_only", updates, lambda x: isinstance(x, StateSnapshot)), lambda s: s.snap)
    # (asset_id, TwinSnapshot) fleet RUL fused
    lives = op.filter("completed_lives", op.key_rm("drop_asset_key", updates),
                      lambda x: isinstance(x, LifeChunk | RefitWork))
    by_kind = op.key_on("key_by_kind", lives, lambda x: asset_kind(meta, x.asset_id))
    fleet_step = guard_stateful("fleet_rul", fleet_rul(meta, m, cfg.twin.fleet, board),
                                _state_of(fleet_learn_apply(meta, cfg.twin.fleet)),
                                lambda item: asset_kind(meta, item.asset_id), m, now,
                                copy_ratio=FLEET_UNDO_COPY_RATIO)
    fleet_out = op.branch("route_fleet_errors", op.stateful_flat_map("fleet_rul", by_kind, fleet_step),
                          _ok_value)
    models = fleet_out.trues
    # (kind, FleetModel) -> this process's board, and the fleet model sinks
    op.inspect("publish_fleet_models", models, publisher(board, m))
    # guarded command path (issue 11, level 5): from the prescriptions stream above (plus any
    # injected by the seam ``empty_recommendations``: nothing unless a test puts stand-ins there)
    recommendations = op.merge("recommendations_in", recommendations, empty_recommendations(alerts))
    cmd = command_path(flow, recommendations, command_inputs, cfg.commands, m, now,
                       send_allowed=send_commands)
    # Command (sent) -> commands sinks; AuditEntry -> audit sinks
    step_errors = [op.key_rm(f"{name}_errors_unkeyed", b.falses)
                   for name, b in (("aggregate", agg), ("twin", twin_out), ("alert", alerts_out),
                                   ("fleet", fleet_out))]
    dead = op.merge("merge_dead_letters", split.falses, late, feat.falses, *step_errors, *request_errors,
                    cmd.dead_letters)
    with_data = op.map("plain_features", op.filter(
        "drop_event_only_windows", op.key_rm("features_unkeyed", agg.trues), lambda fv: bool(fv.features)),
        lambda fv: fv.plain() if type(fv) is CheckedWindow else fv)  # the data-quality figures stay here
    # alerts first: a worker runs the operators that have work in the order they were added, so
    # a batch's alerts reach their topic before its states and features are written
    _attach("alerts_out", op.merge("all_alerts", op.key_rm("alerts_unkeyed", alerts),
                                   op.key_rm("sensor_alerts_unkeyed", sensor_alerts)), sinks.alerts)
    _attach("recommendations_out", op.key_rm("recommendations_unkeyed", recommendations),
            sinks.recommendations)
    _attach("features_out", with_data, sinks.features)
    _attach("state_out", op.key_rm("state_unkeyed", snaps), sinks.state)
    _attach("dead_letters_out", dead, sinks.dead_letters)
    _attach("fleet_models_out", op.key_rm("fleet_models_unkeyed", models), sinks.fleet_models)
    _attach("commands_out", cmd.commands, sinks.commands)
    _attach("audit_out", cmd.audit, sinks.audit)
    if sinks.damage_state:  # the damage checkpoints (what-if from the archive)
        checkpoints = op.filter_value("damage_checkpoints_only", updates,
                                      lambda x: isinstance(x, DamageCheckpoint))
        _attach("damage_state_out", op.key_rm("damage_state_unkeyed", checkpoints), sinks.damage_state)
    if sinks.data_quality:  # channel state changes (issue 13)
        quality = op.filter_value("data_quality_only", updates, lambda x: isinstance(x, ChannelQuality))
        _attach("data_quality_out", op.key_rm("data_quality_unkeyed", quality), sinks.data_quality)
    if sinks.whatif_results:
        results = op.filter_value("whatif_results_only", updates, lambda x: isinstance(x, WhatIfResult))
        _attach("whatif_results_out", op.key_rm("whatif_results_unkeyed", results), sinks.whatif_results)
    return flow


def _state_of(apply: Callable[[Any, Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    """A step's pure transition, keeping the state only (what an undo replays)."""
    return lambda state, item: apply(state, item)[0]


def _asset_of(item: Any) -> str:
    """The key of an asset-keyed step's item."""
    return str(item.asset_id)


def _aggregate_step(aggregate: Callable[..., Any]) -> Callable[[tuple[str, Any]], tuple[str, list[Any]]]:
    """(asset_id, (window id, items)) -> (asset_id, [FeatureVector, duplicate dead letters...])."""

    def step(kv: tuple[str, Any]) -> tuple[str, list[Any]]:
        dead: list[DeadLetter] = []
        fv = aggregate(kv[0], kv[1], dead)
        return kv[0], [fv, *dead]

    return step


def _with_duplicates(guarded: Callable[[tuple[str, Any]], tuple[str, Any]],
                     ) -> Callable[[tuple[str, Any]], list[Any]]:
    """The guarded window step's output as keyed items: its FeatureVector and its duplicates'
    dead letters, or the window's ``processing_error`` dead letter."""

    def flat(kv: tuple[str, Any]) -> list[Any]:
        key, out = guarded(kv)
        if type(out) is list:
            return [(key, x) for x in out]
        return [(key, out)]

    return flat


def _ok(item: Any) -> TypeGuard[Any]:
    """Not a dead letter (branch predicate; a TypeGuard: the trues' type drops DeadLetter, as Any)."""
    return not isinstance(item, DeadLetter)


def _ok_value(kv: tuple[str, Any]) -> TypeGuard[tuple[str, Any]]:
    """A keyed item whose value is not a dead letter (branch predicate)."""
    return not isinstance(kv[1], DeadLetter)


def _late(kv: tuple[str, tuple[int, Any]], m: PipelineMetrics,
          now: Callable[[], datetime]) -> list[DeadLetter]:
    """One late_record dead letter per record: a late block gives one per sample."""
    _asset, (_wid, item) = kv
    if type(item) is InputMark or type(item) is ClockFlag:  # not records (their window closed)
        return []
    records = item.samples if isinstance(item, ScalarBlock | ScalarColumns) else (item,)
    m.dead_letters.labels(reason="late_record").inc(len(records))  # every dead letter is in this counter
    at = now()
    if type(item) is ScalarColumns:  # a Kafka piece knows its offsets (a Kafka frame or event: its own)
        late = [late_dead_letter(r, at, h) for r, h in zip(records, late_sources(item), strict=True)]
    else:
        late = [late_dead_letter(r, at) for r in records]
    for topic, n in Counter(dict(d.headers).get("source.topic", "") for d in late).items():
        m.late_records.labels(topic=topic).inc(n)  # by topic: the run summary splits late records
    return late


def _block_builder(cfg: PipelineConfig, now: Callable[[], datetime]) -> BlockBuilder:
    """Groups scalar samples into blocks, following the window clock of :func:`_clock`."""
    wait = timedelta(seconds=cfg.allowed_lateness_s)
    if cfg.clock == "data":
        return BlockBuilder(cfg.window_s, wait, lambda: EPOCH)
    return BlockBuilder(cfg.window_s, wait, lambda: datetime.now(UTC), SYSTEM_MARGIN)


