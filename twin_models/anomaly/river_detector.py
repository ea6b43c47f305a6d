"""Any River anomaly detector as a twin detector: readiness, a calibrated score, explanations.

A detector of River's ``river.anomaly`` namespace (``HalfSpaceTrees``, ``LODA``, ``OneClassSVM``,
``LocalOutlierFactor``) scores a dict of features but says nothing of when it is ready, maps its
raw score to no common scale, and explains nothing. :class:`RiverDetector` adds what the twin
needs (the :class:`~twin_models.contracts.Detector` contract):

- features min-max scaled online (``preprocessing.MinMaxScaler``: half-space trees need [0, 1]);
- ``warmup`` windows learnt before scoring (``ready``);
- the raw River score mapped to [0, 1] by a :class:`~twin_models.anomaly.calibration.TailCalibrator`
  learnt on the windows after the warm-up, as the baseline detector does;
- ``deviations`` and ``ratio`` (which features stand out, for the snapshot's ``top_features`` and
  the defect diagnosis) from a per-feature baseline (a
  :class:`~twin_models.anomaly.baseline.BaselineDetector` used for explanations only).

Selected by configuration: ``twin.detector = "river.anomaly.HalfSpaceTrees"``. ``score_one`` is
pure (River's detectors and scalers do not learn when they score).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Hashable, Mapping
from typing import Any

from river import anomaly, base, preprocessing

from twin_models.anomaly.baseline import BaselineDetector
from twin_models.anomaly.calibration import TailCalibrator

__all__ = ["RIVER_DETECTORS", "RIVER_PREFIX", "RiverDetector", "river_detector_problem"]

RIVER_PREFIX = "river.anomaly."

RIVER_DETECTORS: tuple[str, ...] = tuple(
    name for name in anomaly.__all__
    if isinstance(getattr(anomaly, name), type)
    and issubclass(getattr(anomaly, name), base.AnomalyDetector)
)
"""River's unsupervised detectors that score a dict of features: ``score_one(x)``."""


def river_detector_problem(name: str) -> str | None:
    """What is wrong with a ``river.anomaly.<Name>`` detector name (None when it is usable)."""
    if not name.startswith(RIVER_PREFIX):
        return f"a River detector is named {RIVER_PREFIX}<Name>"
    short = name[len(RIVER_PREFIX):]
    if short not in RIVER_DETECTORS:
        return f"{short!r} is not one of River's detectors: {', '.join(RIVER_DETECTORS)}"
    return None


class RiverDetector(base.AnomalyDetector):
    """A ``river.anomaly`` detector behind online scaling, a warm-up and a tail calibrator.

    ``detector``: the class name in ``river.anomaly`` (``"HalfSpaceTrees"``); ``seed`` is passed
    to detectors that take one (runs are reproducible).
    """

    def __init__(self, detector: str = "HalfSpaceTrees", *, warmup: int = 24, top_k: int = 3,
                 calibrator_window: int = 2000, seed: int = 0) -> None:
        problem = river_detector_problem(RIVER_PREFIX + detector)
        if problem is not None:
            raise ValueError(problem)
        self.detector = detector
        self.warmup = warmup
        self.top_k = top_k
        self.calibrator_window = calibrator_window
        self.seed = seed
        cls = getattr(anomaly, detector)
        kwargs = {"seed": seed} if "seed" in inspect.signature(cls).parameters else {}
        self.model: base.AnomalyDetector = cls(**kwargs)
        self.scaler = preprocessing.MinMaxScaler()
        self.calibrator = TailCalibrator(window=calibrator_window)
        self.explainer = BaselineDetector(warmup=warmup, top_k=top_k, learn_gate=math.inf,
                                          calibrator_window=30)
        self.n_learned = 0

    @property
    def ready(self) -> bool:
        """True once ``warmup`` windows are learnt and the calibrator has its minimum history."""
        return self.n_learned >= self.warmup and self.calibrator.n >= self.calibrator.min_samples

    def _finite(self, x: Mapping[str, float]) -> dict[str, float]:
        return {k: float(v) for k, v in x.items() if math.isfinite(v)}

    def _scaled(self, x: dict[str, float]) -> dict[Hashable, Any]:
        return self.scaler.transform_one(x)  # type: ignore[no-untyped-call,no-any-return]

    def raw_one(self, x: Mapping[str, float]) -> float:
        """The River detector's own score of the scaled window."""
        return float(self.model.score_one(self._scaled(self._finite(x))))

    def score_one(self, x: Mapping[str, float]) -> float:  # type: ignore[override]
        """Calibrated score in [0, 1]; 0 while warming up."""
        if self.n_learned < self.warmup:
            return 0.0
        return self.calibrator.score_one(self.raw_one(x))

    def learn_one(self, x: Mapping[str, float]) -> None:  # type: ignore[override]
        """Learn one window: the scaler, the detector, the explainer, then the calibrator."""
        xs = self._finite(x)
        if self.n_learned >= self.warmup:
            self.calibrator.learn_one(self.raw_one(xs))
        self.scaler.learn_one(xs)  # type: ignore[no-untyped-call]
        self.model.learn_one(self._scaled(xs))
        self.explainer.learn_one(xs)
        self.n_learned += 1

    def deviations(self, x: Mapping[str, float]) -> dict[str, float]:
        """Standardised deviation of every known feature from its learnt level (signed z)."""
        return self.explainer.deviations(x)

    def ratio(self, name: str, value: float) -> float:
        """``value`` over the learnt level of ``name``."""
        return self.explainer.ratio(name, value)

    @classmethod
    def _unit_test_params(cls) -> Any:
        yield {"detector": "HalfSpaceTrees", "warmup": 5}
