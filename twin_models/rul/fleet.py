"""Fleet knowledge shared by the assets of one kind: completed lives teach the RUL model.

:class:`FleetTwin` receives every asset twin's snapshot (in the order of each asset's windows)
and its life events. It keeps each asset's current-life trajectory (bounded), fuses the asset's
own-trend RUL with the trajectory-similarity RUL learnt from the fleet's completed lives, and when
a failure closes a life it learns that life (trajectory and the errors of the estimates made in it).
Prequential: an estimate is made before the life it belongs to is learnt.

With condition features configured (:class:`FleetRulConfig` ``rul_features``, e.g. a turbofan's
sensors), the twin step also sends each window's raw values (:class:`ConditionInputs`, just before
its snapshot) and the fleet learns a regression from them to the remaining life
(:class:`~twin_models.rul.regression.RegressionRul`, operating regimes normalised online; its
regressor is chosen by ``regressor``). Once it has learnt ``min_lives`` lives it estimates every
window of every asset, healthy or not (a healthy one gets about the fleet's cap). With ``prior``
set, an asset that no other estimator covers gets the fleet's mean residual life at its age, from
the lives completed so far.

Names: ``FleetRulConfig.min_lives`` is the lives the regression needs before its first fit;
``FleetTwin(similarity_min_lives=...)`` the lives the trajectory-similarity model needs before it
estimates a degrading asset (two models, two names).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from twin_models.moved_modules import restore_state
from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.regimes import OperatingRegimes
from twin_models.rul.regression import ConditionTrack, RegressionRul
from twin_models.rul.regressors import regressor_problem
from twin_models.rul.trend import CompletedLife, FleetRul, RulEstimate, fuse
from twin_models.settings import MAX_COUNT, NAME, YEAR_S, Range, between, setting

__all__ = ["ConditionInputs", "FleetRulConfig", "FleetTwin", "select_inputs"]

_DEGRADED = ("degrading", "critical")


def _some_pattern(value: tuple[str, ...]) -> str | None:
    """``life_features`` needs at least one pattern."""
    return None if value else "at least one feature pattern is needed"


@dataclass(frozen=True)
class FleetRulConfig:
    """Tunables of the fleet RUL step (one configuration per fleet; TOML ``[pipeline.twin.fleet]``).

    ``rul_features`` and ``regime_features`` are shell patterns of window feature names
    (``sensor_*.mean``); empty ``rul_features`` turns the regression off. Regimes: a window's
    ``regime_features`` join a regime whose centre they match within ``regime_atol + regime_rtol
    * |centre|`` on every coordinate. ``trend_windows`` windows give each feature's level and slope;
    the first ``baseline_windows`` of a life are its baseline (and teach the regime statistics).
    ``rul_cap_s`` caps the learnt target (0: no cap). ``min_lives``: completed lives before the
    regression's first fit. ``regressor``: ``lightgbm`` (gradient-boosted trees by LightGBM, the
    default since round 19: :mod:`twin_models.rul.lgbm_trees`), ``trees`` (the same boosting in
    numpy, the default before: :mod:`twin_models.rul.trees`) or a River
    regressor (``river.linear_model.LinearRegression``, ``river.tree.HoeffdingTreeRegressor``,
    ``river.forest.ARFRegressor`` ...: :data:`twin_models.rul.regressors.RIVER_REGRESSORS`).
    ``model_delay_s``: a fleet model version learnt from a life that failed at ``t`` applies to
    windows from event time ``t + model_delay_s`` on (size it above the event-time spread between
    assets, see the README); ``life_chunk_rows``: condition rows per part of a completed life sent
    to the learner (each part is also one slice of work; 50 rows: ~4 parts per C-MAPSS life, since
    the work tickets, not the parts, give the learner its capacity); ``refit_work_parts``: work
    tickets sent after them, each one more slice of the
    refit the life started (so a refit lands right after the life that triggered it instead of
    waiting for later lives; ~330 slices refit 100 C-MAPSS lives, cross-fit the residuals and keep
    the rows' bins and predictions for the catch-ups, a catch-up takes ~12); ``fit_steps_per_call``: refit
    work per part or ticket (trees of the boosted ensemble,
    200-row slices of a River regressor): together they bound the learner step's call time;
    ``catch_up_trees``: between refits (every ``refit_growth`` of lives), an idle learner whose
    model misses lives boosts the last refit this many more trees on every life (0: lives wait for
    the next refit, and the last ``refit_growth`` of a fleet's lives may never be learnt).
    ``background_fit``: the refit or catch-up under way runs ahead in a worker thread (LightGBM's C
    code needs no GIL: a second core fits while the flow goes on); the calls keep the same quota
    of work and the model is handed over at the same call as without the thread (the call waits
    for the thread if it is behind), so the versions and every output are the same either way
    (:mod:`twin_models.rul.job_thread`); false: the calls do the work themselves.
    ``damage_prior_lives``: completed lives of the kind with a damage fit (that failed
    ``model_delay_s`` before) a damage state needs to start from the fleet's prior (0: never, the
    default prior always; :meth:`~twin_models.rul.fleet_model.FleetModel.damage_prior`).
    ``life_model``: the bearing life model (:mod:`twin_models.rul.life_model`, source
    ``fleet_life``) estimates every window once two completed lives of the kind apply, from the
    asset's age, its shaft speed and its health indicator
    (:class:`~twin_models.rul.life_indicator.LifeIndicator`: the ``life_features`` RMS values,
    relative to the life's first ``life_baseline_windows`` windows, smoothed by ``life_smoothing``).
    ``life_bandwidth``: 0 = the life model's log-normal prior over the completed lives; > 0 = a
    kernel mixture over their log lives with this bandwidth (log units), which keeps groups of
    lives apart. ``life_load_exponent``: lives are counted in revolutions x ``(load / ref)^p``
    (ISO 281: 3 for ball bearings) when every life and the asset carry ``nominal_load_n`` in
    their metadata; 0 = load not used (:mod:`twin_models.rul.life_prior`).
    """

    rul_features: tuple[str, ...] = setting((), pattern=NAME, max_items=10_000)
    regime_features: tuple[str, ...] = setting((), pattern=NAME, max_items=10_000)
    regime_atol: float = setting(0.02, **between(0.0, 1e12))
    regime_rtol: float = setting(0.02, **between(0.0, 1e3))
    max_regimes: int = setting(12, **between(1, 100_000))
    trend_windows: int = setting(30, **between(2, MAX_COUNT))
    baseline_windows: int = setting(20, **between(1, MAX_COUNT))
    rul_cap_s: float = setting(0.0, **between(0.0, 1000 * YEAR_S, "seconds"))
    min_lives: int = setting(10, **between(2, MAX_COUNT))
    max_lives: int = setting(300, **between(2, MAX_COUNT))
    refit_growth: float = setting(0.1, **between(0.0, 100.0))
    coverage: float = setting(0.8, range=Range(0.0, 1.0, lo_open=True, hi_open=True))
    prior: bool = setting(False)
    seed: int = setting(0, **between(0, 2**32 - 1))
    regressor: str = setting("lightgbm", pattern=r"trees|lightgbm|river\.[a-z_]+\.[A-Za-z]+",
                             check=regressor_problem)
    model_delay_s: float = setting(86_400.0, **between(0.0, 1000 * YEAR_S, "seconds"))
    life_chunk_rows: int = setting(50, **between(1, MAX_COUNT))
    fit_steps_per_call: int = setting(1, **between(1, MAX_COUNT))
    refit_work_parts: int = setting(400, **between(0, 1_000_000))
    catch_up_trees: int = setting(20, **between(0, 10_000))
    background_fit: bool = setting(True)
    damage_prior_lives: int = setting(1, **between(0, MAX_COUNT))
    life_model: bool = setting(False)
    life_features: tuple[str, ...] = setting(("*.rms",), pattern=NAME, max_items=100,
                                            check=_some_pattern)
    life_baseline_windows: int = setting(30, **between(1, MAX_COUNT))
    life_smoothing: float = setting(0.1, range=Range(0.0, 1.0, lo_open=True))
    life_bandwidth: float = setting(0.0, **between(0.0, 5.0))
    life_load_exponent: float = setting(0.0, **between(0.0, 10.0))

    def effective_from_s(self, failure_s: float) -> float:
        """When the version learnt from a life that failed at ``failure_s`` applies from (event time):
        what the learner stamps on it and what the board holds for while it is on its way."""
        return failure_s + self.model_delay_s

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Configs pickled before ``regressor`` existed used the numpy trees."""
        state.setdefault("regressor", "trees")
        state.setdefault("model_delay_s", 86_400.0)
        state.setdefault("life_chunk_rows", 1)
        state.setdefault("fit_steps_per_call", 1)
        state.setdefault("refit_work_parts", 1000)
        state.setdefault("catch_up_trees", 20)
        state.setdefault("background_fit", True)
        state.setdefault("damage_prior_lives", 1)
        state.setdefault("life_model", False)
        state.setdefault("life_features", ("*.rms",))
        state.setdefault("life_baseline_windows", 30)
        state.setdefault("life_smoothing", 0.1)
        state.setdefault("life_bandwidth", 0.0)
        state.setdefault("life_load_exponent", 0.0)
        restore_state(self, state)


FleetConfig = FleetRulConfig  # for unpickling recovery snapshots written before the rename


@dataclass(frozen=True, slots=True)
class ConditionInputs:
    """A window's raw condition values for the fleet RUL regression (sent before its snapshot)."""

    asset_id: str
    timestamp: datetime
    values: dict[str, float] = field(default_factory=dict)


def select_inputs(config: FleetRulConfig, features: Mapping[str, float]) -> dict[str, float]:
    """The window features named by ``rul_features`` or ``regime_features`` (finite values)."""
    pats = config.rul_features + config.regime_features
    return {k: v for k, v in features.items()
            if math.isfinite(v) and any(fnmatchcase(k, p) for p in pats)}


class FleetTwin:
    """Fleet-level RUL for the assets of one kind."""

    def __init__(self, kind: str, *, life_history: int = 1024, similarity_min_lives: int = 1,
                 config: FleetRulConfig | None = None) -> None:
        self.kind = kind
        self.config = config or FleetRulConfig()
        self.model = FleetRul()
        self.similarity_min_lives = similarity_min_lives
        self.life_history = life_history
        self.lives: dict[str, deque[tuple[float, float, float]]] = {}
        self.life_ids: dict[str, int] = {}
        self.life_lengths: deque[float] = deque(maxlen=self.config.max_lives)
        self.pending: dict[str, ConditionInputs] = {}
        self.tracks: dict[str, ConditionTrack] = {}
        self.names: tuple[list[str], list[str]] | None = None  # (condition, regime) features
        self.regression: RegressionRul | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Fleets pickled before the rename call ``similarity_min_lives`` ``min_lives``."""
        if "min_lives" in state:
            state["similarity_min_lives"] = state.pop("min_lives")
        restore_state(self, state)

    def hold_inputs(self, inputs: ConditionInputs) -> None:
        """Hold a window's condition values until its snapshot arrives."""
        self.pending[inputs.asset_id] = inputs

    def update(self, snap: TwinSnapshot) -> TwinSnapshot:
        """Fuse the fleet estimate into the snapshot, then remember the window."""
        hist = self._history(snap)
        inputs = self.pending.pop(snap.asset_id, None)
        track = self._track(snap, inputs)
        fused = self._estimate(snap, hist, track)
        if fused is not None:
            snap = replace(
                snap,
                rul_s=fused.rul_s,
                rul_lower_s=fused.lower_s,
                rul_upper_s=fused.upper_s,
                rul_source=fused.source,
            )
        est = snap.rul_s if snap.rul_s is not None else math.nan
        hist.append((snap.timestamp.timestamp(), snap.degradation, est))
        return snap

    def _history(self, snap: TwinSnapshot) -> deque[tuple[float, float, float]]:
        if self.life_ids.get(snap.asset_id) != snap.life_id:
            self.life_ids[snap.asset_id] = snap.life_id
            self.lives[snap.asset_id] = deque(maxlen=self.life_history)
            self.tracks.pop(snap.asset_id, None)
        return self.lives[snap.asset_id]

    def _track(self, snap: TwinSnapshot, inputs: ConditionInputs | None) -> ConditionTrack | None:
        """Add the window's condition values to the asset's track (regression configured only)."""
        cfg = self.config
        if not cfg.rul_features or inputs is None or inputs.timestamp != snap.timestamp:
            return self.tracks.get(snap.asset_id)
        if self.names is None:
            cond = sorted(k for k in inputs.values if any(fnmatchcase(k, p) for p in cfg.rul_features))
            regime = sorted(k for k in inputs.values if any(fnmatchcase(k, p) for p in cfg.regime_features))
            cond = [k for k in cond if k not in regime]
            if not cond:
                return None
            self.names = (cond, regime)
            regimes = OperatingRegimes(len(cond), atol=cfg.regime_atol, rtol=cfg.regime_rtol,
                                       max_regimes=cfg.max_regimes)
            self.regression = RegressionRul(
                len(cond), window=cfg.trend_windows, baseline_windows=cfg.baseline_windows,
                cap_s=cfg.rul_cap_s, min_lives=cfg.min_lives, max_lives=cfg.max_lives,
                refit_growth=cfg.refit_growth, coverage=cfg.coverage, regimes=regimes, seed=cfg.seed,
                regressor=cfg.regressor)
        assert self.regression is not None
        cond, regime = self.names
        track = self.tracks.get(snap.asset_id)
        if track is None:
            track = self.tracks[snap.asset_id] = ConditionTrack(snap.life_id, self.life_history)
        row = np.array([inputs.values.get(k, math.nan) for k in cond])
        settings = np.array([inputs.values.get(k, math.nan) for k in regime])
        self.regression.update(track, snap.timestamp.timestamp(), settings, row)
        return track

    def _estimate(
        self, snap: TwinSnapshot, hist: deque[tuple[float, float, float]], track: ConditionTrack | None
    ) -> RulEstimate | None:
        own = (
            RulEstimate(snap.rul_s, snap.rul_lower_s or 0.0, snap.rul_upper_s or snap.rul_s, "trend")
            if snap.rul_s is not None
            else None
        )
        if self.regression is not None and track is not None:
            learnt = self.regression.predict_rul(track)
            if learnt is not None:
                return fuse(own, learnt) if own is not None else learnt
        if snap.condition not in _DEGRADED or self.model.n_lives < self.similarity_min_lives:
            return own if own is not None else self._prior(snap, hist)
        recent = list(hist)[-self.model.query_points + 1 :]
        times = np.array([h[0] for h in recent] + [snap.timestamp.timestamp()])
        ind = np.array([h[1] for h in recent] + [snap.degradation])
        return fuse(own, self.model.predict_rul(times, ind))

    def _prior(self, snap: TwinSnapshot, hist: deque[tuple[float, float, float]]) -> RulEstimate | None:
        """Mean residual life at the asset's age over the completed lives that outlived it."""
        if not self.config.prior or not self.life_lengths:
            return None
        age = snap.timestamp.timestamp() - (hist[0][0] if hist else snap.timestamp.timestamp())
        lengths = np.asarray(self.life_lengths)
        left = lengths[lengths > age] - age
        if left.size == 0:
            return None
        lo, hi = np.quantile(left, [(1 - self.config.coverage) / 2, (1 + self.config.coverage) / 2])
        rul = float(left.mean())
        return RulEstimate(rul, min(float(lo), rul), max(float(hi), rul), "fleet_prior")

    def apply_event(self, event: AssetEvent) -> CompletedLife | None:
        """A failure closes the asset's life: learn it. Returns the life learnt, if any.

        Installs and maintenance need nothing here: the twin starts a new ``life_id``, which
        starts a new trajectory.
        """
        if event.kind != "failure":
            return None
        hist = self.lives.pop(event.asset_id, None)
        self.life_ids.pop(event.asset_id, None)
        track = self.tracks.pop(event.asset_id, None)
        if not hist:
            return None
        failure_s = event.timestamp.timestamp()
        life = CompletedLife(
            asset_id=event.asset_id,
            asset_kind=self.kind,
            failure_s=failure_s,
            times_s=tuple(h[0] for h in hist),
            indicator=tuple(h[1] for h in hist),
            estimates_s=tuple(h[2] for h in hist),
        )
        self.model.learn_life(life)
        self.life_lengths.append(failure_s - hist[0][0])
        if self.regression is not None and track is not None:
            self.regression.learn_life(track, failure_s)
        return life
