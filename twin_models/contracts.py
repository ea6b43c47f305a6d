"""The contracts the twin's models follow, declared (checked by ``tests/contract``).

**Detector** (:class:`Detector`): River's anomaly-detector verbs plus what a twin needs to explain
a window. Every detector is a ``river.base.AnomalyDetector`` (so River's own estimator checks
apply) and a twin chooses one by configuration (:mod:`twin_models.anomaly.selection`):
:class:`~twin_models.anomaly.baseline.BaselineDetector`,
:class:`~twin_models.anomaly.novelty.NoveltyDetector`, or any River detector through
:class:`~twin_models.anomaly.river_detector.RiverDetector`.

**RUL estimator** (:class:`RulEstimator`): the remaining-life models do not take River's
``learn_one(x, y)`` / ``predict_one(x)`` (features, target): what they learn from differs (a
window's indicator excess, a completed life, a track of condition values). Their verbs are their
own, one meaning each:

- ``update(...)``: take one window's evidence (the asset's current life);
- ``learn_life(...)``: learn a life that ended in a failure (fleet models);
- ``predict_rul(...) -> RulEstimate | None``: the remaining life now, PURE (never changes state).

The learnt fleet regression maps condition features to remaining life; its regressor is a
River regressor when configured (``[twin.fleet] regressor``, :mod:`twin_models.rul.regressors`).

Every model also passes the checks of :mod:`twin_models.checks` (scoring is pure, a pickled copy
behaves identically, bounded memory, scores in range).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from twin_models.rul.trend import RulEstimate

__all__ = ["Detector", "LifeLearner", "RulEstimator"]


@runtime_checkable
class Detector(Protocol):
    """What the twin asks of its anomaly detector (``score_one`` pure, prequential order)."""

    n_learned: int
    """Windows learnt so far in this life."""

    @property
    def ready(self) -> bool:
        """Enough history to score (the warm-up is over)."""

    def score_one(self, x: Mapping[str, float]) -> float:
        """Calibrated anomaly score in [0, 1] (0 while warming up); never changes state."""

    def learn_one(self, x: Mapping[str, float]) -> None:
        """Learn one window."""

    def deviations(self, x: Mapping[str, float]) -> dict[str, float]:
        """Per feature, a signed z-like deviation from what was learnt (the explanation)."""

    def ratio(self, name: str, value: float) -> float:
        """``value`` over the learnt level of the feature (the defect diagnosis' evidence)."""


@runtime_checkable
class RulEstimator(Protocol):
    """A remaining-useful-life model: estimates out by ``predict_rul``.

    Evidence goes in by ``update(...)`` (one window of the current life: :class:`TrendRul`,
    :class:`RegressionRul`, :class:`FleetTwin`) and/or ``learn_life(...)`` (:class:`LifeLearner`).
    """

    def predict_rul(self, *args: Any, **kwargs: Any) -> RulEstimate | None:
        """The remaining life now (None when the model has no estimate); never changes state."""


@runtime_checkable
class LifeLearner(Protocol):
    """A fleet model that learns from lives that ended in a failure."""

    def learn_life(self, *args: Any, **kwargs: Any) -> Any:
        """Learn one completed life."""
