"""AssetTwin: one asset's live models and bounded history.

``update(window)`` is prequential: it scores the window with the models AS THEY WERE (anomaly
score, health index, own-trend RUL, defect evidence), builds the snapshot, and only then learns.
Asset events inside a window: an ``install`` or ``maintenance`` is applied before the window
is scored (the window's data belongs to the new life), a ``failure`` after it (the window's data
belongs to the life that failed). Each ends a life that has run and restarts the asset's models
(a new bearing has a new baseline). The fleet-level RUL (completed lives) lives in
:mod:`twin_models.rul.fleet`.

Defect evidence has two sources. *Baseline-relative*: an envelope defect-line amplitude far above
this asset's own healthy baseline. *Absolute*: an envelope defect line far above the spectral
background of the same envelope spectrum (the window's ``env_<defect>_snr``), in
``defect_snr_windows`` consecutive windows; that needs no baseline, so a machine first monitored
when already damaged is diagnosed during its warm-up too, and its condition is ``degrading``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from river import drift

from twin_models.anomaly.baseline import BaselineDetector, rms_of_largest
from twin_models.anomaly.novelty import NoveltyDetector
from twin_models.diagnosis.bearings import DEFECT_COMPONENT, defect_frequencies
from twin_models.features.frame import DIAGNOSABLE_DEFECTS
from twin_models.records import AssetMetadata, FeatureVector, TwinSnapshot
from twin_models.rul.fleet import FleetConfig
from twin_models.rul.health import HealthIndex
from twin_models.rul.trend import RulEstimate, TrendRul
from twin_models.settings import MAX_COUNT, NAME, Range, between, setting

__all__ = ["AssetTwin", "TwinConfig"]


def _scales_problem(scales: tuple[tuple[int, int], ...]) -> str | None:
    """Each novelty scale is (subsequence length m, segments d) with m a multiple of d."""
    for m, d in scales:
        if m % d:
            return f"subsequence length {m} is not a multiple of its segments {d}"
    return None


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
    context_channels: tuple[str, ...] = setting(("speed", "load"), pattern=NAME, max_items=1000)
    trend_noise_sigmas: float = setting(3.0, **between(0.0, 1000.0))
    top_n_features: int = setting(5, **between(1, 10_000))
    calibrator_window: int = setting(2000, **between(30, 10_000_000))
    """Raw statistics the score calibrator keeps; at least its 30 minimum samples."""
    detector: str = setting("baseline", choices=("baseline", "novelty"))
    """``baseline``: per-feature baseline deviations (vibration assets, the default);
    ``novelty``: value tails and multi-scale pattern novelty (:mod:`twin_models.anomaly.novelty`, for
    scalar series such as NAB's). Its ``novelty_*`` settings are ignored by ``baseline``."""
    novelty_features: tuple[str, ...] = setting((".mean",), pattern=NAME, max_items=1000)
    novelty_scales: tuple[tuple[int, int], ...] = setting(
        ((8, 8), (32, 8), (128, 16), (576, 24)), **between(1, 100_000), max_items=32,
        check=_scales_problem)
    novelty_history: int = setting(8000, **between(50, 10_000_000))
    novelty_value_history: int = setting(20000, **between(30, 10_000_000))
    novelty_refractory: int = setting(0, **between(0, MAX_COUNT))
    """> 0: event mode, a window scores only if more surprising than the previous N (a persistent
    anomaly scores once: pair it with ``min_windows = 1`` in the alert policy)."""
    fleet: FleetConfig = field(default_factory=FleetConfig)
    """The fleet RUL step's tunables (``[pipeline.twin.fleet]``)."""

    def __post_init__(self) -> None:
        if self.detector not in ("baseline", "novelty"):
            msg = f"twin.detector must be 'baseline' or 'novelty', got {self.detector!r}"
            raise ValueError(msg)
        # TOML gives lists of lists; keep the frozen config hashable
        scales = tuple((int(m), int(d)) for m, d in self.novelty_scales)
        object.__setattr__(self, "novelty_scales", scales)


def _is_context(name: str, cfg: TwinConfig) -> bool:
    channel = name.split(".", 1)[0]
    return channel in cfg.context_channels or name.endswith(".shaft_hz")


class AssetTwin:
    """The live twin of one asset: condition, health index, own-trend RUL, defect evidence."""

    def __init__(self, metadata: AssetMetadata, config: TwinConfig | None = None) -> None:
        self.metadata = metadata
        self.config = config or TwinConfig()
        self.life_id = 0
        self.n_windows = 0
        self.windows_in_life = 0
        self._new_life()

    def _new_life(self) -> None:
        cfg = self.config
        self.detector: BaselineDetector | NoveltyDetector = (
            NoveltyDetector(
                warmup=cfg.warmup_windows,
                features=cfg.novelty_features,
                scales=cfg.novelty_scales,
                history=cfg.novelty_history,
                value_history=cfg.novelty_value_history,
                refractory=cfg.novelty_refractory,
            )
            if cfg.detector == "novelty"
            else BaselineDetector(
                warmup=cfg.warmup_windows,
                top_k=cfg.top_k,
                learn_gate=cfg.learn_gate,
                calibrator_window=cfg.calibrator_window,
            )
        )
        thr = self.metadata.failure_threshold
        self.health = (
            HealthIndex(thr.feature, thr.value, baseline_windows=cfg.warmup_windows)
            if thr is not None
            else None
        )
        self.trend = TrendRul()
        self.drift = drift.PageHinkley(mode="up", min_instances=cfg.warmup_windows)
        self.degradation = 0.0
        self._snr_runs: dict[tuple[str, str], int] = {}  # (channel, defect) -> strong windows in a row
        self.anomalous_share = 0.0  # EWMA of "this window scored >= degrading_score"
        self.excess_noise = 0.0
        self._excess_sq = 0.0
        self._excess_n = 0

    def model_features(self, fv: FeatureVector) -> dict[str, float]:
        """The features the detector sees: finite, without operating-context channels."""
        return {
            k: v
            for k, v in fv.features.items()
            if math.isfinite(v) and not _is_context(k, self.config)
        }

    def context(self, fv: FeatureVector) -> dict[str, float]:
        """Operating context of the window (speed, load, shaft frequency)."""
        return {
            k: v for k, v in fv.features.items() if _is_context(k, self.config) and math.isfinite(v)
        }

    def update(self, fv: FeatureVector) -> TwinSnapshot:
        """Score the window with the models as they were, then learn from it, then apply events."""
        if fv.asset_id != self.metadata.asset_id:
            msg = f"twin of {self.metadata.asset_id!r} got a window of {fv.asset_id!r}"
            raise ValueError(msg)
        for event in fv.events:  # a new bearing's data belongs to its new life
            if event.kind != "failure":
                self.apply_event(event.kind)
        x = self.model_features(fv)
        snapshot = self._score(fv, x)
        self._learn(fv, x, snapshot)
        self.n_windows += 1
        self.windows_in_life += 1
        if any(event.kind == "failure" for event in fv.events):
            self.apply_event("failure")
        return snapshot

    def apply_event(self, kind: str) -> None:
        """A failure ends the life; maintenance or a new install ends a life that has run."""
        if kind == "failure" or (kind in ("maintenance", "install") and self.windows_in_life):
            self.life_id += 1
            self.windows_in_life = 0
            self._new_life()

    def _score(self, fv: FeatureVector, x: dict[str, float]) -> TwinSnapshot:
        cfg = self.config
        score = self.detector.score_one(x)
        devs = self.detector.deviations(x) if self.detector.n_learned >= 2 else {}
        top = sorted(devs.items(), key=lambda kv: abs(kv[1]), reverse=True)[: cfg.top_n_features]
        raw = rms_of_largest((z for _, z in top), cfg.top_k)
        degradation = cfg.smoothing * math.log1p(raw) + (1 - cfg.smoothing) * self.degradation
        hi = self.health.predict_one(fv.features) if self.health else self._share_health(score)
        rul = self._trend_rul(fv)
        defect, evidence, absolute = self._defect_evidence(fv, devs)
        condition = self._condition(score, hi, rul.rul_s if rul else None, absolute=absolute)
        return TwinSnapshot(
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
            defect=defect,
            evidence=evidence,
            # deviations from a half-learnt baseline explain nothing: none during the warm-up
            top_features=tuple((k, round(z, 3)) for k, z in top)
            if self.detector.n_learned >= cfg.warmup_windows
            else (),
            context=self.context(fv),
        )

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
        if self.health is None:
            return None
        return self.trend.predict_one(fv.window_end.timestamp(), self.health.span)

    def _defect_evidence(
        self, fv: FeatureVector, devs: dict[str, float]
    ) -> tuple[str | None, str, bool]:
        """Which bearing component's envelope line stands out: ``(defect, evidence, absolute)``.

        Absolute evidence (see :meth:`_absolute_evidence`) comes first: it is read off this very
        spectrum, needs no baseline and is what makes the condition ``degrading``. Otherwise the
        line that stands out most against this asset's baseline, if any (``absolute`` False),
        once that baseline is learnt: z-scores against the first few windows of a warm-up are
        not evidence.
        """
        learning = self.detector.n_learned < self.config.warmup_windows
        strong = self._absolute_evidence(fv)
        if strong is not None:
            snr, channel, defect, run = strong
            freq = self._defect_hz(fv, channel, defect)
            where = f" {freq:.1f} Hz" if freq else ""
            label = "2xBSF" if defect == "bsf" else defect.upper()
            text = (
                f"{DEFECT_COMPONENT[defect]}: {label}{where} envelope line on {channel} "
                f"{snr:.1f}x the spectral background (SNR), {run} windows in a row"
            )
            if learning:
                text += "; judged from the spectrum alone (no healthy baseline yet)"
            return defect, text, True
        if learning:
            return None, "", False
        relative, text = self._baseline_evidence(fv, devs)
        return relative, text, False

    def _absolute_evidence(self, fv: FeatureVector) -> tuple[float, str, str, int] | None:
        """``(snr, channel, defect, run)`` of the strongest persistent envelope line, or None.

        Counts, per channel and diagnosable defect (BPFO, BPFI, 2xBSF), the consecutive windows
        whose ``env_<defect>_snr`` reached ``defect_min_snr`` (this window included: a filter
        over what was observed, like the alert policy's hysteresis, not a model that learns). A
        window without that feature breaks the run. Lines held for ``defect_snr_windows``
        windows qualify; the one with the highest SNR in this window wins.
        """
        cfg = self.config
        runs = self.__dict__.setdefault("_snr_runs", {})  # twins restored from older snapshots
        seen: dict[tuple[str, str], float] = {}
        for name, value in fv.features.items():
            channel, _, feat = name.rpartition(".")
            if not channel or not feat.startswith("env_") or not feat.endswith("_snr"):
                continue
            defect = feat[len("env_") : -len("_snr")]
            if defect not in DIAGNOSABLE_DEFECTS or not math.isfinite(value):
                continue
            seen[(channel, defect)] = value
        for key in set(runs) | set(seen):
            held = seen.get(key, 0.0) >= cfg.defect_min_snr
            runs[key] = runs.get(key, 0) + 1 if held else 0
        qualified = [
            (seen[key], key[0], key[1], runs[key])
            for key in seen
            if runs[key] >= max(cfg.defect_snr_windows, 1)
        ]
        return max(qualified, default=None)

    def _baseline_evidence(
        self, fv: FeatureVector, devs: dict[str, float]
    ) -> tuple[str | None, str]:
        """Which bearing component's envelope line stands out against this asset's baseline."""
        best: tuple[float, str, str, float] | None = None
        for name, z in devs.items():
            if ".env_" not in name or not name.endswith("_amp"):
                continue
            channel, feat = name.split(".", 1)
            defect = feat[len("env_") : -len("_amp")]
            if defect not in DEFECT_COMPONENT or defect == "ftf":
                continue
            ratio = self.detector.ratio(name, fv.features[name])
            if z >= self.config.defect_min_z and ratio >= self.config.defect_min_ratio:
                if best is None or z > best[0]:
                    best = (z, defect, channel, ratio)
        if best is None:
            return None, ""
        _, defect, channel, ratio = best
        freq = self._defect_hz(fv, channel, defect)
        where = f" {freq:.1f} Hz" if freq else ""
        text = (
            f"{DEFECT_COMPONENT[defect]}: {defect.upper()}{where} envelope line on {channel} "
            f"{ratio:.1f}x above baseline"
        )
        return defect, text

    def _defect_hz(self, fv: FeatureVector, channel: str, defect: str) -> float | None:
        geometry = self.metadata.bearing
        shaft = fv.features.get(f"{channel}.shaft_hz", self.metadata.nominal_speed_hz)
        if geometry is None or shaft is None or not shaft > 0:
            return None
        freq = defect_frequencies(geometry, shaft).as_dict()[defect]
        return 2.0 * freq if defect == "bsf" else freq

    def _learn(self, fv: FeatureVector, x: dict[str, float], snap: TwinSnapshot) -> None:
        cfg = self.config
        self.degradation = snap.degradation
        if self.health is None:
            self.anomalous_share = 1.0 - snap.health_index
        self.drift.update(snap.degradation)  # type: ignore[no-untyped-call]
        self.detector.learn_one(x)
        if self.health is not None:
            self.health.learn_one(fv.features)
            excess = self.health.excess(fv.features)
            if excess is not None:
                self._learn_excess_noise(excess)
                noise = cfg.trend_noise_sigmas * self.excess_noise
                self.trend.learn_one(fv.window_end.timestamp(), excess, noise)

    def _learn_excess_noise(self, excess: float) -> None:
        """RMS of the indicator excess over the healthy baseline period (the trend's noise floor)."""
        if self._excess_n < self.config.warmup_windows:
            self._excess_sq += excess * excess
            self._excess_n += 1
            self.excess_noise = math.sqrt(self._excess_sq / self._excess_n)
