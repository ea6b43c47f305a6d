"""Online anomaly detectors with a calibrated score in [0, 1].

:class:`BaselineDetector` learns, per feature, the asset's own normal behaviour (River's online
``stats.Var``; amplitudes in log space so that "x times above baseline" is a distance), scores a
window by the root mean square of its ``top_k`` largest standardised deviations, and maps that raw
statistic to [0, 1] with a :class:`~twin_models.anomaly.calibration.TailCalibrator` learnt on normal
windows. After ``warmup`` windows it learns only from windows that look normal
(``score < learn_gate``) so that a growing fault is not absorbed into the baseline.

(River's ``HalfSpaceTrees`` behind a ``MinMaxScaler`` was tried as a second member: a fault that
pushes features beyond the learnt range lands in the outermost, well-populated leaves and scores
as normal, so it is not part of the default twin.)

Every detector is a River anomaly detector (``river.base.AnomalyDetector``, so River's estimator
checks apply) and follows :class:`twin_models.contracts.Detector` and the prequential order:
``score_one`` never changes state.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from typing import Any

from river import base

from twin_models.anomaly.calibration import TailCalibrator
from twin_models.anomaly.feature_stats import FeatureStats
from twin_models.moved_modules import restore_state

__all__ = ["BaselineDetector", "is_log_feature", "rms_of_largest"]

LOG_SUFFIXES: tuple[str, ...] = ("rms", "peak", "_amp", "_snr", "kurtosis", "crest_factor", ".std")


def is_log_feature(name: str) -> bool:
    """Whether a feature is a positive amplitude best compared as a ratio (log space)."""
    return name.endswith(LOG_SUFFIXES)


def rms_of_largest(deviations: Iterable[float], k: int) -> float:
    """Root mean square of the ``k`` largest absolute deviations (0.0 when there are none)."""
    zs = heapq.nlargest(k, map(abs, deviations))  # = sorted(..., reverse=True)[:k], without the full sort
    return math.sqrt(sum(z * z for z in zs) / len(zs)) if zs else 0.0


class BaselineDetector(base.AnomalyDetector):
    """Per-feature baseline z-scores combined over the ``top_k`` worst features, tail-calibrated."""

    def __init__(
        self,
        *,
        warmup: int = 24,
        top_k: int = 3,
        log_std_floor: float = 0.05,
        rel_std_floor: float = 0.01,
        learn_gate: float = 0.99,
        calibrator_window: int = 2000,
        tail_fraction: float = 0.1,
        calibrator_min_samples: int = 30,
    ) -> None:
        self.warmup = warmup
        self.top_k = top_k
        self.log_std_floor = log_std_floor
        self.rel_std_floor = rel_std_floor
        self.learn_gate = learn_gate
        self.stats = FeatureStats(is_log_feature)  # per feature: River's Var, as arrays
        self.calibrator = TailCalibrator(
            window=calibrator_window,
            tail_fraction=tail_fraction,
            min_samples=calibrator_min_samples,
        )
        self.n_learned = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Detectors pickled before :class:`FeatureStats` hold one ``river.stats.Var`` per feature."""
        if isinstance(state.get("stats"), dict):
            state["stats"] = FeatureStats.from_vars(is_log_feature, state["stats"])
        restore_state(self, state)

    @property
    def calibrator_window(self) -> int:
        """Raw statistics the calibrator keeps (a parameter, held by the calibrator)."""
        return self.calibrator.window

    @property
    def tail_fraction(self) -> float:
        """Share of the calibrator's history that its tail fit uses."""
        return self.calibrator.tail_fraction

    @property
    def calibrator_min_samples(self) -> int:
        """Raw statistics the calibrator needs before it scores."""
        return self.calibrator.min_samples

    @property
    def ready(self) -> bool:
        """True once the baseline and the calibrator have enough normal history to score."""
        return self.n_learned >= self.warmup and self.calibrator.n >= self.calibrator.min_samples

    def deviations(self, x: Mapping[str, float]) -> dict[str, float]:
        """Standardised deviation of every known feature from its baseline (signed z): for each
        finite value of a feature learnt at least twice, ``(v - mean) / max(std, floor, 1e-9)``
        (``v`` in log space for amplitudes; the floor ``log_std_floor`` there, else
        ``rel_std_floor * |mean|``), in ``x``'s order."""
        return self.stats.deviations(x, self.log_std_floor, self.rel_std_floor)

    def ratio(self, name: str, value: float) -> float:
        """``value`` over the baseline level of ``name`` (geometric mean for log features)."""
        if self.stats.count(name) == 0:
            return math.nan
        base = self.stats.mean_of(name)
        if is_log_feature(name):
            return max(value, 1e-12) / math.exp(base)
        return value / base if base else math.nan

    def raw_one(self, x: Mapping[str, float]) -> float:
        """The raw statistic: RMS of the ``top_k`` largest absolute deviations."""
        return rms_of_largest(self.deviations(x).values(), self.top_k)

    def score_one(self, x: Mapping[str, float]) -> float:  # type: ignore[override]
        """Calibrated anomaly score in [0, 1]; 0 while still warming up."""
        if self.n_learned < self.warmup:
            return 0.0
        return self.calibrator.score_one(self.raw_one(x))

    def score_deviations(self, devs: Mapping[str, float], raw: float | None = None) -> float:
        """:meth:`score_one` from ``devs = self.deviations(x)``, for a caller that needs the
        deviations too (the twin explains its score with them): computed once, not twice.
        ``raw``: ``rms_of_largest(devs.values(), self.top_k)`` if the caller has it."""
        if self.n_learned < self.warmup:
            return 0.0
        return self.calibrator.score_one(rms_of_largest(devs.values(), self.top_k) if raw is None else raw)

    def learn_one(self, x: Mapping[str, float]) -> None:  # type: ignore[override]
        """Learn one window: always during warm-up, afterwards only if it looks normal.

        Windows scoring ``learn_gate`` or more teach neither the baseline nor the calibrator, so
        a slowly growing fault cannot drag the baseline along. The calibrator's history is then
        censored above that level; its tail fit uses quantile spacings below it (unbiased).
        """
        self.learn_deviations(x, None)

    def learn_deviations(self, x: Mapping[str, float], devs: Mapping[str, float] | None,
                         raw: float | None = None) -> None:
        """:meth:`learn_one` given ``devs = self.deviations(x)`` computed on the state as it is
        now (None: computed here if needed), so scoring and learning a window share them; ``raw``:
        their ``rms_of_largest(devs.values(), self.top_k)`` if the caller has it."""
        if self.n_learned >= self.warmup:
            if raw is None:
                raw = rms_of_largest((self.deviations(x) if devs is None else devs).values(), self.top_k)
            if self.calibrator.n >= self.calibrator.min_samples:
                if self.calibrator.score_one(raw) >= self.learn_gate:
                    return
            self.calibrator.learn_one(raw)
        self.stats.update(x)  # every finite value, log-transformed for amplitudes
        self.n_learned += 1
