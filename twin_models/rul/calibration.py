"""The emitted RUL interval, calibrated by split conformal prediction on completed lives' errors.

``rul_s`` comes from several estimators (``rul_source``: the asset's own ``trend``, the fleet's
similarity, regression, life model or prior, and their log-space fusions), whose own intervals are
not calibrated alike: on demo seeds 1-10 the emitted interval held the true RUL in 35 % of the
failing lives' windows against 80 % nominal (``trend`` 22 %, ``trend+fleet`` 31 %: DOCS50). This
module leaves ``rul_s`` unchanged and replaces its bounds.

Every window of a life that ended in a failure leaves its log error ``log(true RUL / rul_s)`` with
its ``rul_source`` (:meth:`RulErrors.learn`: at most :data:`LIFE_ERRORS` evenly spaced windows per
life, so a long life does not outweigh the others; the latest :data:`MAX_ERRORS` kept, in failure
order). A window's interval is ``rul_s * exp(q)`` for ``q`` the split-conformal quantiles of the
errors of its source among the lives that had failed ``model_delay_s`` before it (Vovk et al.,
*Algorithmic Learning in a Random World*, 2005; Lei et al., JASA 2018, "Distribution-free
predictive inference for regression"): the ``ceil((n+1)(1-a/2))``-th smallest of ``n`` errors for
the upper bound, the ``floor((n+1) a/2)``-th for the lower, ``a = 1 - coverage``. Coverage holds
when the lives are exchangeable (the windows of one life are not independent: the guarantee is
approximate with few lives). Log errors make the interval scale-free: no setting in seconds.

Errors are kept apart per source (a Mondrian split): the sources err in opposite directions (on
the demo the own ``trend`` is late, median truth/estimate 0.37; the fleet similarity early, 2.4),
so pooling them was worse (seeds 1-10: 0.46 against 0.51 held, leave-one-seed-out chose the split
on every fold). With fewer errors of the window's source than the conformal minimum
(:func:`min_errors`: the fewest for which both finite-sample quantiles exist, 9 at 80 %) - the
first lives of a fleet, a source seen for the first time - the interval is the estimator's own
widened to at least a factor 2 either way (as :func:`~twin_models.rul.conformal.conformal_default`,
the project's interval before any residuals): a documented guess, not a calibrated coverage. The
bounds always hold ``rul_s``. The fleet regression and the life model keep their own interval
(:data:`HELD_OUT_SOURCES`); their fusions with the own trend are calibrated.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["HELD_OUT_SOURCES", "LIFE_ERRORS", "MAX_ERRORS", "RulErrors", "calibrated_bounds", "life_errors",
           "min_errors"]

HELD_OUT_SOURCES = ("fleet_regression", "fleet_life")
"""Sources whose own interval already comes from completed lives the estimator did not see: the
fleet regression's (split-conformal on cross-fitted residuals, binned by prediction:
:mod:`twin_models.rul.conformal`; C-MAPSS FD001 0.78 held) and the life model's (its posterior from
the lives it learnt; FEMTO 0.83). They keep it: recalibrated on the errors of the estimates the
stream made (early fits included), FD001's interval held 0.80 but was 3.3 times wider (80.1 cycles
against 24.1)."""

LIFE_ERRORS = 128
"""Windows of one completed life whose errors are kept (evenly spaced; as the similarity model
downsamples a life's trajectory)."""
MAX_ERRORS = 20_000
"""Errors kept in all (the latest-failed lives')."""


def min_errors(coverage: float) -> int:
    """The fewest errors whose finite-sample conformal quantiles at ``coverage`` both exist."""
    tail = (1.0 - coverage) / 2.0
    return max(1, math.ceil(1.0 / tail - 1e-9) - 1)


def life_errors(failure_s: float, times_s: Sequence[float], estimates_s: Sequence[float],
                sources: Sequence[str]) -> list[tuple[float, str, float]]:
    """``(failure_s, source, log(true / estimate))`` of at most :data:`LIFE_ERRORS` windows of a
    completed life (those with a positive estimate before the failure)."""
    rows = [(source, math.log((failure_s - t) / est))
            for t, est, source in zip(times_s, estimates_s, sources, strict=True)
            if source and math.isfinite(est) and est > 0.0 and failure_s - t > 0.0]
    if len(rows) > LIFE_ERRORS:
        idx = np.linspace(0, len(rows) - 1, LIFE_ERRORS).round().astype(int)
        rows = [rows[i] for i in idx]
    return [(failure_s, s, e) for s, e in rows]


def _quantiles(errors: np.ndarray, coverage: float) -> tuple[float, float]:
    """Split-conformal (lower, upper) error quantiles of sorted ``errors``."""
    n, tail = errors.size, (1.0 - coverage) / 2.0
    k_lo = max(math.floor((n + 1) * tail), 1)
    k_hi = min(math.ceil((n + 1) * (1.0 - tail)), n)
    return float(errors[k_lo - 1]), float(errors[k_hi - 1])


@dataclass(frozen=True)
class RulErrors:
    """Completed lives' log errors of ``rul_s``, in failure order (immutable: a fleet model's)."""

    errors: tuple[tuple[float, str, float], ...] = ()

    def learn(self, rows: list[tuple[float, str, float]]) -> RulErrors:
        """These errors with a life's ``rows`` added (in failure order; the latest kept)."""
        if not rows:
            return self
        errs = list(self.errors)
        at = bisect.bisect_right(errs, rows[0][0], key=lambda r: r[0])
        errs[at:at] = rows
        return RulErrors(tuple(errs[-MAX_ERRORS:]))

    def tables(self, as_of_s: float) -> dict[str, np.ndarray]:
        """Sorted errors per source of the lives failed by ``as_of_s``;
        cached per number of such errors (they are a prefix)."""
        n = bisect.bisect_right(self.errors, as_of_s, key=lambda r: r[0])
        cache: dict[int, dict[str, np.ndarray]] = self.__dict__.setdefault("_tables", {})
        table = cache.get(n)
        if table is None:
            by: dict[str, list[float]] = {}
            for _, source, err in self.errors[:n]:
                by.setdefault(source, []).append(err)
            table = cache[n] = {k: np.sort(np.asarray(v, dtype=float)) for k, v in by.items()}
        return table

    def __getstate__(self) -> dict[str, object]:
        """The errors only (not the cached tables)."""
        return {"errors": self.errors}

    def __setstate__(self, state: dict[str, object]) -> None:
        object.__setattr__(self, "errors", state["errors"])


def calibrated_bounds(rul_s: float, lower_s: float | None, upper_s: float | None, source: str,
                      errors: RulErrors | None, as_of_s: float, coverage: float) -> tuple[float, float]:
    """The interval of ``rul_s`` from ``source``: conformal on that source's errors in the lives
    failed by ``as_of_s``, else (too few) the estimator's own widened to a factor 2 either way;
    the estimator's own for :data:`HELD_OUT_SOURCES`."""
    lo = rul_s if lower_s is None else lower_s
    hi = rul_s if upper_s is None else upper_s
    if source in HELD_OUT_SOURCES:
        return lo, hi
    errs = errors.tables(as_of_s).get(source) if errors is not None else None
    if errs is not None and errs.size >= min_errors(coverage):
        q_lo, q_hi = _quantiles(errs, coverage)
        return min(rul_s * math.exp(q_lo), rul_s), max(rul_s * math.exp(q_hi), rul_s)
    return min(lo, 0.5 * rul_s), max(hi, 2.0 * rul_s)
