"""AssetTwin: one asset's live models and bounded history.

``update(window)`` is prequential: it scores the window with the models AS THEY WERE (anomaly
score, health index, own-trend RUL, defect evidence), builds the snapshot, and only then learns:
``update = score then learn``. :meth:`AssetTwin.score` is pure (it changes no state, the contract
checks prove it); every state change is in :meth:`AssetTwin.learn` and the events of ``update``.
Asset events inside a window: an ``install`` or ``maintenance`` is applied before the window
is scored (the window's data belongs to the new life), a ``failure`` after it (the window's data
belongs to the life that failed). Each ends a life that has run and restarts the asset's models
(a new bearing has a new baseline). The fleet-level RUL (completed lives) lives in
:mod:`twin_models.rul.fleet`.

Defect evidence (:mod:`twin_models.diagnosis.defects`) has two sources. *Baseline-relative*: an
envelope defect-line amplitude far above this asset's own healthy baseline. *Absolute*: an
envelope defect line far above the spectral background of the same envelope spectrum (the
window's ``env_<defect>_snr``), in ``defect_snr_windows`` consecutive windows; that needs no
baseline, so a machine first monitored when already damaged is diagnosed during its warm-up too,
and its condition is ``degrading``.

The verdict (healthy / anomalous, not localised / defect: :mod:`twin_models.diagnosis.abnormality`)
judges a window without a healthy baseline against the physics of a healthy bearing (not after an
install/maintenance: a new machine's first windows are its healthy state); persistent abnormality
makes the condition ``degrading`` as absolute defect evidence does.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from typing import Any, ClassVar

from twin_models.anomaly.baseline import rms_of_largest
from twin_models.anomaly.page_hinkley import PageHinkley, from_river
from twin_models.anomaly.selection import DETECTOR_PATTERN, NoveltyConfig, build_detector, detector_problem
from twin_models.contracts import Detector
from twin_models.diagnosis.abnormality import AbnormalityRules, WindowFacts, decide
from twin_models.diagnosis.defects import DefectRules, advance_runs, diagnose, snr_lines
from twin_models.diagnosis.impulses import Impulses, assess
from twin_models.feature_map import feature_names
from twin_models.moved_modules import restore_state
from twin_models.prescribe import PlanMemory
from twin_models.records import AssetMetadata, FeatureVector, TwinSnapshot
from twin_models.rul.damage import DamagePrior, DamageState
from twin_models.rul.damage_track import LOAD_KEY, DamageEstimate, estimate, start_state, window_inputs
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_view import FleetView
from twin_models.rul.health import HealthIndex
from twin_models.rul.relation import IndicatorRelation
from twin_models.rul.trend import RulEstimate, TrendRul
from twin_models.settings import MAX_COUNT, NAME, Range, between, setting
from twin_models.twin_window import context_names, largest, shared_raw, split_names

__all__ = ["AssetTwin", "NoveltyConfig", "TwinConfig"]

Deviations = tuple[dict[str, float], float | None]
"""A window's deviations from the detector's baseline and their raw statistic (None: not found)."""

_NOVELTY_FIELDS = ("features", "scales", "history", "value_history", "refractory")


@dataclass(frozen=True)
class TwinConfig:
    """Tunables of every asset twin (one configuration for a whole fleet)."""

    warmup_windows: int = setting(24, **between(1, MAX_COUNT))
    top_k: int = setting(3, **between(1, 10_000))
    learn_gate: float = setting(0.99, **between(0.0, 1.0))
    degrading_score: float = setting(0.99, **between(0.0, 1.0))
    critical_health: float = setting(0.3, **between(0.0, 1.0))
    degrading_health: float = setting(0.9, **between(0.0, 1.0))
    smoothing: float = setting(0.3, **between(0.0, 1.0))
    defect_min_z: float = setting(4.0, range=Range(0.0, math.inf))
    defect_min_ratio: float = setting(2.0, range=Range(0.0, math.inf))
    defect_min_snr: float = setting(4.0, range=Range(0.0, math.inf))
    """Window envelope-line SNR (line over spectral background) that is absolute defect evidence.
    Pure noise gives 1.4-2.1 (sd ~0.3) per frame, and the largest of the three diagnosable SNRs
    of a noise frame exceeds 3.2 in only 0.1 % of frames (``features.frame.DIAGNOSIS_MIN_SNR``);
    4.0 is ~7 sd above the noise mean, with a margin for the structure of real healthy spectra.
    ``inf`` disables the absolute path."""
    defect_snr_windows: int = setting(2, **between(1, MAX_COUNT))
    """Consecutive windows the same line (channel and defect) must hold ``defect_min_snr``."""
    abnormal_kurtosis: float = setting(4.0, range=Range(3.0, math.inf, lo_open=True))
    abnormal_envelope_kurtosis: float = setting(3.0, range=Range(2.0, math.inf, lo_open=True))
    abnormal_crest: float = setting(6.0, range=Range(4.0, math.inf, lo_open=True))
    abnormal_windows: int = setting(2, **between(1, MAX_COUNT))
    """The verdict's physics limits without a baseline (kurtosis: Gaussian 3, damage > 4; envelope
    kurtosis: Gaussian 2; crest: a Gaussian frame ~4) and the windows in a row beyond one."""
    context_channels: tuple[str, ...] = setting(("speed", "load"), pattern=NAME, max_items=1000)
    trend_noise_sigmas: float = setting(3.0, **between(0.0, 1000.0))
    top_n_features: int = setting(5, **between(1, 10_000))
    calibrator_window: int = setting(2000, **between(30, 10_000_000))
    """Raw statistics the score calibrator keeps; at least its 30 minimum samples."""
    detector: str = setting("baseline", pattern=DETECTOR_PATTERN, check=detector_problem)
    """``baseline``: per-feature baseline deviations (vibration assets, the default);
    ``novelty``: value tails and multi-scale pattern novelty (:mod:`twin_models.anomaly.novelty`, for
    scalar series such as NAB's), tuned by ``[twin.novelty]``; ``river.anomaly.<Name>``: one of
    River's detectors (``HalfSpaceTrees``, ``LODA``, ``OneClassSVM``, ``LocalOutlierFactor``)
    behind :class:`~twin_models.anomaly.river_detector.RiverDetector`."""
    novelty: NoveltyConfig = field(default_factory=NoveltyConfig)
    """The novelty detector's tunables (``[pipeline.twin.novelty]``), ignored by the others."""
    fleet: FleetRulConfig = field(default_factory=FleetRulConfig)
    """The fleet RUL step's tunables (``[pipeline.twin.fleet]``)."""

    RENAMED: ClassVar[dict[str, str]] = {f"novelty_{k}": f"novelty.{k}" for k in _NOVELTY_FIELDS}
    """Keys of older versions -> their new place (the loader names the new key)."""

    def __post_init__(self) -> None:
        if self.critical_health > self.degrading_health:  # critical is the worse grade: a lower health
            msg = (f"twin.critical_health {self.critical_health} must not be above twin.degrading_health "
                   f"{self.degrading_health} (a health below critical_health is critical, below "
                   "degrading_health degrading)")
            raise ValueError(msg)
        problem = detector_problem(self.detector)
        if problem is not None:
            msg = f"twin.detector {self.detector!r}: {problem}"
            raise ValueError(msg)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Configs pickled before ``[twin.novelty]`` existed hold flat ``novelty_*`` fields."""
        flat = {k: state.pop(f"novelty_{k}") for k in _NOVELTY_FIELDS if f"novelty_{k}" in state}
        if flat:
            state["novelty"] = NoveltyConfig(**flat)
        state.setdefault("novelty", NoveltyConfig())
        restore_state(self, state)

    @property
    def abnormality_rules(self) -> AbnormalityRules:
        """The limits of the physics-based abnormality (no baseline needed)."""
        return AbnormalityRules(self.abnormal_kurtosis, self.abnormal_envelope_kurtosis,
                                self.abnormal_crest, self.abnormal_windows, self.defect_min_snr)

    @property
    def defect_rules(self) -> DefectRules:
        """The thresholds of the defect diagnosis."""
        return DefectRules(self.defect_min_z, self.defect_min_ratio, self.defect_min_snr,
                           self.defect_snr_windows)


class AssetTwin:
    """The live twin of one asset: condition, health index, own-trend RUL, defect evidence."""

    def __init__(self, metadata: AssetMetadata, config: TwinConfig | None = None) -> None:
        self.metadata = metadata
        self.config = config or TwinConfig()
        self.life_id = 0
        self.n_windows = 0
        self.windows_in_life = 0
        self.fleet_view: FleetView | None = None  # the fleet RUL's view of this asset (flows sets it)
        # the prior a damage state starting at this window takes (flows sets it from the fleet
        # model in effect at the window's event time; None: the default, wide prior)
        self.damage_prior: DamagePrior | None = None
        # (life at rate 1, q, usage from the first evidence) of the last life closed by a failure
        # with a damage state (else None): what the closed life teaches the fleet's damage prior
        self.closed_damage_fit: tuple[float, float, float] | None = None
        # (windows whose indicator the damage state predicted, those inside its 80 % band), all lives
        self.indicator_band = (0, 0)
        self._new_life()

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("_snr_runs", {})  # twins restored from snapshots older than the counters
        state.update({k: state.get(k, 0) for k in ("_abnormal_run", "_warmup_abnormal", "_known_new")})
        state.setdefault("fleet_view", None)  # twins pickled before the per-asset fleet view
        if "drift" in state:  # River's Page-Hinkley in twins pickled before round 5
            state["drift"] = from_river(state["drift"])
        state.setdefault("damage_state", None)  # twins pickled before the damage state
        state.setdefault("last_plan", None)  # twins pickled before prescriptions
        state.setdefault("indicator_relation", None)  # twins pickled before what-if runs
        # ... and before the fleet's damage prior
        state.update({k: state.get(k) for k in ("damage_defect", "damage_prior", "closed_damage_fit",
                                                "_impulses")})
        state.setdefault("indicator_band", (0, 0))
        restore_state(self, state)

    def __deepcopy__(self, memo: dict[int, object]) -> AssetTwin:
        """A copy through pickle: Bytewax deep-copies every twin it snapshots at each epoch end,
        and ``copy.deepcopy`` walks the twin object by object in Python (~8x slower than the
        pickle round trip, which gives the same independent state: the twin is what recovery
        pickles anyway)."""
        twin: AssetTwin = pickle.loads(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 - ours
        return twin

    def _new_life(self) -> None:
        cfg = self.config
        self.detector: Detector = build_detector(
            cfg.detector, warmup=cfg.warmup_windows, top_k=cfg.top_k, learn_gate=cfg.learn_gate,
            calibrator_window=cfg.calibrator_window, novelty=cfg.novelty)
        thr = self.metadata.failure_threshold
        self.health = (
            HealthIndex(thr.feature, thr.value, baseline_windows=cfg.warmup_windows)
            if thr is not None
            else None
        )
        self.trend = TrendRul()
        self.drift = PageHinkley(mode="up", min_instances=cfg.warmup_windows)
        self.degradation = 0.0
        self._snr_runs: dict[tuple[str, str], int] = {}  # (channel, defect) -> strong windows in a row
        self._abnormal_run = self._warmup_abnormal = 0  # verdict: windows (in a row / warm-up) > a limit
        self._known_new = False  # this life began with an install/maintenance (a new machine)
        self._impulses: Impulses | None = None  # accumulated / intermittent impulsiveness (verdict)
        self.anomalous_share = 0.0  # EWMA of "this window scored >= degrading_score"
        self.excess_noise = 0.0
        self._excess_sq = 0.0
        self._excess_n = 0
        self.damage_state: DamageState | None = None  # from the first diagnosed defect of the life
        self.last_plan: PlanMemory | None = None  # the last recommendation made in this life
        self.indicator_relation: IndicatorRelation | None = None  # what-if trajectories (with the state)
        self.damage_defect: str | None = None  # the last defect diagnosed since the state started

    def model_features(self, fv: FeatureVector) -> dict[str, float]:
        """The features the detector sees: finite, without operating-context channels."""
        feats = fv.features
        isfinite = math.isfinite
        # the items walked in their order (= the names' order) minus the context: a lookup per
        # name went through the window map's Python ``__getitem__``
        context = context_names(feature_names(feats), self.config.context_channels)
        return {k: v for k, v in feats.items() if k not in context and isfinite(v)}

    def context(self, fv: FeatureVector) -> dict[str, float]:
        """Operating context of the window (speed, load, shaft frequency)."""
        feats = fv.features
        isfinite = math.isfinite
        return {k: v for k in split_names(feature_names(feats), self.config.context_channels)[1]
                if isfinite(v := feats[k])}

    def update(self, fv: FeatureVector) -> TwinSnapshot:
        """Apply install/maintenance events, score the window with the models as they were, learn
        from it, then apply a failure (the window's data belongs to the life that failed)."""
        self._check_asset(fv)
        for event in fv.events:  # a new bearing's data belongs to its new life
            if event.kind != "failure":
                self.apply_event(event.kind)
        snapshot, x, runs, devs = self._evaluate(fv)
        self._learn(fv, x, runs, snapshot, devs)
        if any(event.kind == "failure" for event in fv.events):
            self.apply_event("failure")
        return snapshot

    def _check_asset(self, fv: FeatureVector) -> None:
        if fv.asset_id != self.metadata.asset_id:
            msg = f"twin of {self.metadata.asset_id!r} got a window of {fv.asset_id!r}"
            raise ValueError(msg)

    def apply_event(self, kind: str) -> None:
        """A failure ends the life; maintenance or a new install ends a life that has run."""
        if kind == "failure" or (kind in ("maintenance", "install") and self.windows_in_life):
            state = self.damage_state
            self.closed_damage_fit = state.fit() if kind == "failure" and state is not None else None
            self.life_id += 1
            self.windows_in_life = 0
            self._new_life()
        self._known_new = kind != "failure"  # a failed machine is not new until it is replaced

    def score(self, fv: FeatureVector) -> TwinSnapshot:
        """The window's snapshot from the models as they are. Pure: changes no state.

        (The window's events are not applied here: :meth:`update` applies them around it.)
        """
        self._check_asset(fv)
        return self._evaluate(fv)[0]

    def _evaluate(
        self, fv: FeatureVector
    ) -> tuple[TwinSnapshot, dict[str, float], tuple[dict[Any, int], int, Impulses], Deviations]:
        """The snapshot, plus what learning the window needs: the detector's features, the
        defect-line and abnormality run counters after this window and the deviations with the
        detector's raw statistic when the twin found it (computed
        once for score, explanation and learning)."""
        cfg = self.config
        x = self.model_features(fv)
        detector = self.detector
        devs = detector.deviations(x) if detector.n_learned >= 2 else {}
        top = largest(devs, cfg.top_n_features)
        raw = rms_of_largest((z for _, z in top), cfg.top_k)
        # a baseline detector scores from the same deviations (with < 2 windows learnt they are
        # empty either way), its raw statistic found once; other detectors score x themselves
        shared = shared_raw(detector, devs, raw, cfg.top_k, cfg.top_n_features)
        from_devs = getattr(detector, "score_deviations", None)
        score = from_devs(devs, shared) if from_devs is not None else detector.score_one(x)
        degradation = cfg.smoothing * math.log1p(raw) + (1 - cfg.smoothing) * self.degradation
        hi = self.health.predict_one(fv.features) if self.health else self._share_health(score)
        rul = self._trend_rul(fv)
        learning = self.detector.n_learned < cfg.warmup_windows
        runs = advance_runs(self._snr_runs, snr_lines(fv.features), *cfg.defect_rules.persistence)
        found = diagnose(self.metadata, fv.features, devs, runs, learning=learning,
                         ratio=self.detector.ratio, rules=cfg.defect_rules)
        found, ab, abnormal_run, healthy_base, abnormal, impulses, accumulated = assess(
            found, fv.features, cfg.abnormality_rules, self._abnormal_run, self._impulses, learning=learning,
            healthy_base=2 * self._warmup_abnormal <= cfg.warmup_windows, known_new=self._known_new,
            bearing=self.metadata.bearing, lines_before=self._snr_runs)
        condition = self._condition(score, hi, rul.rul_s if rul else None,
                                    absolute=found.absolute or abnormal)
        facts = WindowFacts(found.defect, found.evidence, condition, score, learning, abnormal_run,
                            healthy_base, self._known_new, accumulated)
        verdict = decide(fv.features, devs, ab, facts, cfg.abnormality_rules, cfg.defect_rules)
        dmg = self._damage_estimate(fv, found.defect)
        snap = TwinSnapshot(
            asset_id=fv.asset_id,
            timestamp=fv.window_end,
            window_start=fv.window_start,
            condition=condition,
            anomaly_score=score,
            health_index=hi,
            rul_s=rul.rul_s if rul else None,
            rul_lower_s=rul.lower_s if rul else None,
            rul_upper_s=rul.upper_s if rul else None,
            drift=self.drift.drift_detected,
            n_windows=self.n_windows,
            life_id=self.life_id,
            degradation=degradation,
            rul_source=rul.source if rul else "",
            defect=found.defect,
            evidence=found.evidence or verdict.evidence,
            # deviations from a half-learnt baseline explain nothing: none during the warm-up
            top_features=tuple((k, round(z, 3)) for k, z in top) if not learning else (),
            context=self.context(fv),
            damage=dmg.damage if dmg else None,
            damage_rul_s=dmg.rul_s if dmg else None,
            damage_rul_lower_s=dmg.lower_s if dmg else None,
            damage_rul_upper_s=dmg.upper_s if dmg else None,
            verdict=verdict.verdict,
            verdict_confidence=verdict.confidence,
        )
        return snap, x, (runs, abnormal_run, impulses), (devs, shared)

    def _new_damage_state(self, fv: FeatureVector) -> DamageState | None:
        """A prior damage state for this life (None without a failure threshold)."""
        if self.health is None:
            return None
        speed = self.metadata.nominal_speed_hz or 1.0
        noise = self.excess_noise / self.health.span
        load = fv.features.get(LOAD_KEY, math.nan)
        return start_state(self.metadata.asset_id, self.life_id, speed, noise, self.damage_prior,
                           load=load)

    def _damage_estimate(self, fv: FeatureVector, defect: str | None) -> DamageEstimate | None:
        """Damage and RUL at this window from the state as it was (pure); at the first
        evidence of damage, from the prior the state will start with."""
        state = self.damage_state
        if state is None:
            state = self._new_damage_state(fv) if defect is not None else None
            if state is None:
                return None
        est = estimate(state)
        ahead = 0.0 if state.t_s is None else max(fv.window_end.timestamp() - state.t_s, 0.0)
        if ahead == 0.0:
            return est
        def less(v: float | None) -> float | None:
            return None if v is None else max(v - ahead, 0.0)
        return DamageEstimate(est.damage, less(est.rul_s), less(est.lower_s), less(est.upper_s))

    def _learn_damage(self, fv: FeatureVector, snap: TwinSnapshot) -> None:
        """Start the damage state at the first diagnosed defect, then feed it every window."""
        if self.damage_state is None and snap.defect is not None:
            self.damage_state = self._new_damage_state(fv)
        if self.damage_state is None or self.health is None:
            return
        ind, _, load, speed = window_inputs(fv.features, self.health, self.excess_noise)
        inside = self.damage_state.update(fv.window_end.timestamp(), ind, load, speed)
        if inside is not None:
            scored, hits = self.indicator_band
            self.indicator_band = (scored + 1, hits + int(inside))
        if self.indicator_relation is None:
            self.indicator_relation = IndicatorRelation()
        self.indicator_relation.learn(ind, fv.features)
        self.damage_defect = snap.defect or self.damage_defect

    def _share_health(self, score: float) -> float:
        """Without a physical failure indicator: 1 - the share of recent windows that were
        anomalous (EWMA over ~20 windows), so only a persistent anomaly lowers health."""
        hit = 1.0 if score >= self.config.degrading_score else 0.0
        return 1.0 - (0.05 * hit + 0.95 * self.anomalous_share)

    def _condition(
        self, score: float, hi: float, rul_s: float | None, *, absolute: bool = False
    ) -> str:
        """``absolute``: persistent absolute defect evidence, which means degrading even while
        the baseline is still being learnt (no score or health index is meaningful yet)."""
        cfg = self.config
        learning = self.detector.n_learned < cfg.warmup_windows
        if not learning and hi < cfg.critical_health:
            return "critical"
        if absolute:
            return "degrading"
        if learning:
            return "learning"
        if score >= cfg.degrading_score or hi < cfg.degrading_health:
            return "degrading"
        return "healthy"

    def _trend_rul(self, fv: FeatureVector) -> RulEstimate | None:
        health = self.health
        return None if health is None else self.trend.predict_rul(fv.window_end.timestamp(), health.span)

    def learn(self, fv: FeatureVector, snap: TwinSnapshot | None = None) -> None:
        """Learn from the window whose snapshot :meth:`score` gave (computed if not passed)."""
        self._check_asset(fv)
        scored, x, runs, devs = self._evaluate(fv)
        self._learn(fv, x, runs, snap or scored, devs)

    def _learn(self, fv: FeatureVector, x: dict[str, float], runs: tuple[dict[Any, int], int, Impulses],
               snap: TwinSnapshot, deviations: Deviations) -> None:
        """Learn the window; ``deviations``: the detector's deviations of ``x`` and their raw
        statistic (None: the detector computes it) as :meth:`_evaluate` found them."""
        cfg = self.config
        self._snr_runs, self._abnormal_run, self._impulses = runs
        if self._abnormal_run and self.detector.n_learned < cfg.warmup_windows:
            self._warmup_abnormal += 1
        self.degradation = snap.degradation
        if self.health is None:
            self.anomalous_share = 1.0 - snap.health_index
        self.drift.update(snap.degradation)
        learn_devs = getattr(self.detector, "learn_deviations", None)
        if learn_devs is not None:  # the deviations of x on the detector's state as scored
            learn_devs(x, *deviations)
        else:
            self.detector.learn_one(x)
        self._learn_damage(fv, snap)
        if self.health is not None:
            self.health.learn_one(fv.features)
            excess = self.health.excess(fv.features)
            if excess is not None:
                self._learn_excess_noise(excess)
                noise = cfg.trend_noise_sigmas * self.excess_noise
                self.trend.update(fv.window_end.timestamp(), excess, noise)
        self.n_windows += 1
        self.windows_in_life += 1

    def _learn_excess_noise(self, excess: float) -> None:
        """RMS of the indicator excess over the healthy baseline period (the trend's noise floor)."""
        if self._excess_n < self.config.warmup_windows:
            self._excess_sq += excess * excess
            self._excess_n += 1
            self.excess_noise = math.sqrt(self._excess_sq / self._excess_n)
