"""The fleet RUL in the dataflow: per-asset prediction in ``twin_update``, shared learning in ``fleet_rul``.

``twin_update`` holds each asset's :class:`~twin_models.rul.fleet_view.FleetView` (in its
:class:`~twin_models.twin.AssetTwin`) and applies the fleet model of the asset's kind from the
process's :class:`~flows.dataflow.fleet_models.FleetBoard` (:func:`apply_fleet`): it emits the
own-evidence snapshot (to the alert gate), the fused :class:`StateSnapshot` (to the state sink)
and, when a failure closes a life, the life's :class:`~twin_models.rul.fleet_view.LifeChunk`
parts. The ``fleet_rul`` step (keyed by kind, :func:`fleet_rul`) is the
:class:`~twin_models.rul.fleet_learner.FleetLearner`: it sees only those parts and emits
:class:`~twin_models.rul.fleet_model.FleetModel` versions, which a sink publishes to the board.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.metrics import PipelineMetrics
from twin_models.records import AssetEvent, AssetMetadata, TwinSnapshot
from twin_models.rul.fleet import FleetRulConfig, FleetTwin
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView, LifeChunk, RefitWork
from twin_models.twin import AssetTwin

__all__ = ["StateSnapshot", "apply_fleet", "asset_kind", "calibrate_own", "expect_versions",
           "fleet_learn_apply", "fleet_rul", "observe_damage", "observe_state", "publisher",
           "set_damage_prior"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """A twin snapshot with the fleet's RUL fused in: what the state sink writes."""

    snap: TwinSnapshot
    fleet_version: int = 0  # digital thread: the fleet model version applied (0 = none)

    @property
    def asset_id(self) -> str:
        """The asset (so keyed steps and guards see it like a snapshot)."""
        return self.snap.asset_id


def asset_kind(metadata: Mapping[str, AssetMetadata], asset_id: str) -> str:
    """The kind of an asset (its fleet), from metadata; unknown assets share the default kind."""
    meta = metadata.get(asset_id)
    return meta.kind if meta else AssetMetadata(asset_id).kind


def set_damage_prior(twin: AssetTwin, t_s: float, has_events: bool, board: FleetBoard | None) -> None:
    """Give the twin the damage prior of the fleet model of its kind in effect at event time
    ``t_s`` (None: the default prior), before it scores a window in which a damage state may
    start (none running, or events that may end the life)."""
    if board is None or twin.health is None or (twin.damage_state is not None and not has_events):
        return
    model = board.model_at(twin.metadata.kind, t_s)
    twin.damage_prior = model.damage_prior(t_s) if model is not None else None


def calibrate_own(twin: AssetTwin, snap: TwinSnapshot, board: FleetBoard | None) -> TwinSnapshot:
    """The own-evidence snapshot (the alert gate's) with its ``rul_s`` interval calibrated as
    the fused one's (:meth:`FleetView.calibrate`, the model that applies at the window)."""
    view = twin.fleet_view
    if view is None or snap.rul_s is None:
        return snap
    model = board.model_at(view.kind, snap.timestamp.timestamp()) if board is not None else None
    return view.calibrate(snap, model)


def apply_fleet(twin: AssetTwin, snap: TwinSnapshot | None, features: Mapping[str, float],
                events: Sequence[AssetEvent], config: FleetRulConfig,
                board: FleetBoard | None) -> list[StateSnapshot | LifeChunk | RefitWork]:
    """The fused state snapshot of the window (if scored), the parts of a life it closed and the
    refit work tickets that follow them."""
    view = twin.fleet_view
    if view is None:
        view = twin.fleet_view = FleetView(twin.metadata.kind, config,
                                           speed_hz=twin.metadata.nominal_speed_hz,
                                           load_n=twin.metadata.nominal_load_n)
    out: list[StateSnapshot | LifeChunk | RefitWork] = []
    if snap is not None:
        model = board.model_at(view.kind, snap.timestamp.timestamp()) if board is not None else None
        version = model.version if model is not None else 0
        out.append(StateSnapshot(view.update(snap, features, model), version))
    for event in events:
        parts = view.close(event, config.life_chunk_rows, twin.closed_damage_fit)
        out.extend(parts)
        if parts:
            out.extend(view.refit_work(event))
    return out


def expect_versions(board: FleetBoard | None, twin: AssetTwin, items: Sequence[object],
                    config: FleetRulConfig) -> None:
    """Tell the board a version is coming for each life ``items`` closed (the learner publishes one
    effective from failure + ``model_delay_s``), once the twin step has succeeded: a hold announced
    by a window whose step then raised (dead-lettered: its life never reaches the learner) waited
    for its whole timeout, ~60 s of a stalled replay (round 31). An undo's replay announces nothing."""
    if board is None or twin.fleet_view is None:
        return
    for item in items:
        if type(item) is LifeChunk and item.summary is not None:  # a life's last part
            board.expect(twin.fleet_view.kind, config.effective_from_s(item.failure_s))


def observe_state(state: StateSnapshot, metrics: PipelineMetrics, now: datetime) -> None:
    """The metrics of a fused snapshot (latency to the state sink, RUL, worst assets)."""
    snap = state.snap
    metrics.processing_latency_seconds.labels(output="snapshot").observe(
        max((now - snap.timestamp).total_seconds(), 0))
    if snap.rul_s is not None:
        metrics.rul_seconds.observe(snap.rul_s)
    metrics.worst.update(snap.asset_id, snap.health_index, snap.rul_s, score=snap.anomaly_score,
                         band=(snap.rul_lower_s, snap.rul_upper_s))


def observe_damage(twin: AssetTwin, state_before: object, band_before: tuple[int, int],
                   metrics: PipelineMetrics) -> None:
    """Count a damage state the window started (by its prior) and the window's indicator
    prediction (inside or outside its 80 % band)."""
    state = twin.damage_state
    if state is not None and state is not state_before:
        metrics.damage_states.labels(prior="default" if twin.damage_prior is None else "fleet").inc()
    scored, inside = (a - b for a, b in zip(twin.indicator_band, band_before, strict=True))
    if scored:
        metrics.damage_indicator_windows.labels(band="inside").inc(inside)
        metrics.damage_indicator_windows.labels(band="outside").inc(scored - inside)


FleetState = FleetLearner | FleetTwin  # FleetTwin: the state of the old fleet_rul step, migrated
LearnerItem = LifeChunk | RefitWork


def fleet_learn_apply(
    metadata: Mapping[str, AssetMetadata], config: FleetRulConfig,
) -> Callable[[FleetState | None, LearnerItem], tuple[FleetLearner, list[FleetModel]]]:
    """The learner step's pure state transition (no metrics): what an undo replays."""
    if config.rul_features and config.regressor == "lightgbm":  # a regression by LightGBM: its
        importlib.import_module("lightgbm")  # import (~0.3-0.5 CPU s) now, not in a step's first fit

    def apply(state: FleetState | None, item: LearnerItem) -> tuple[FleetLearner, list[FleetModel]]:
        if isinstance(state, FleetTwin):  # a recovery store written before the learner existed
            state = FleetLearner.from_fleet_twin(state, config)
        if state is None:
            state = FleetLearner(asset_kind(metadata, item.asset_id), config)
        if isinstance(item, RefitWork):
            return state, state.work(item)
        return state, state.learn(item)

    return apply


def fleet_rul(
    metadata: Mapping[str, AssetMetadata], metrics: PipelineMetrics, config: FleetRulConfig,
    board: FleetBoard | None = None,
) -> Callable[[FleetState | None, LearnerItem], tuple[FleetLearner, list[FleetModel]]]:
    """``fleet_rul`` step (keyed by asset kind): learn completed lives; emit model versions. A part
    of a life on which it raises (dead-lettered by the guard) voids the life's hold on ``board``:
    the life is never complete, its version never comes. So does a life's last part that leaves
    the life unlearnt (a part lost before it: the learner's bounded buffer of partial lives
    dropped the life, or an earlier part was dead-lettered), logged."""
    apply = fleet_learn_apply(metadata, config)

    def void(item: LifeChunk) -> None:
        metrics.fleet_life_voids.inc()
        if board is not None:
            board.void(asset_kind(metadata, item.asset_id), config.effective_from_s(item.failure_s))

    def step(state: FleetState | None, item: LearnerItem) -> tuple[FleetLearner, list[FleetModel]]:
        failures = state.fit_failures if isinstance(state, FleetLearner) else 0
        lives = _lives(state)
        try:
            learner, models = apply(state, item)
        except Exception:
            if type(item) is LifeChunk:
                void(item)
            raise
        if type(item) is LifeChunk and item.summary is not None and learner.lives == lives:
            log.warning("twin: fleet_rul: the life of %r that failed at %s reached the learner incomplete "
                        "(a part of it was lost): not learnt, no version", item.asset_id, item.failure_s)
            void(item)
        metrics.step_items.labels(step="fleet_rul").inc(len(models))
        if learner.fit_failures > failures:  # a fit raised: abandoned by the learner, which goes on
            metrics.fleet_fit_failures.labels(kind=learner.kind).inc(learner.fit_failures - failures)
            log.warning("twin: fleet_rul: the fleet model fit of kind %r was abandoned (the versions "
                        "published stay; the next fit starts once more lives are learnt): %s",
                        learner.kind, learner.last_fit_failure)
        return learner, models

    return step


def _lives(state: FleetState | None) -> int:
    """Lives the learner state has learnt (a migrated FleetTwin: its completed lives)."""
    if isinstance(state, FleetLearner):
        return state.lives
    return len(state.life_lengths) if isinstance(state, FleetTwin) else 0


def publisher(board: FleetBoard, metrics: PipelineMetrics) -> Callable[[str, tuple[str, FleetModel]], None]:
    """An inspector that publishes the learner's versions to the process's board."""

    def publish(_step: str, kv: tuple[str, FleetModel]) -> None:
        metrics.fleet_models.inc()
        board.publish(kv[1])

    return publish
