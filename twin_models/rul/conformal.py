"""Split-conformal RUL intervals from held-out residuals, binned by the predicted RUL (Mondrian).

The fleet regression keeps ``(prediction, true - prediction)`` pairs of lives each predicted by a
model that never saw them (:mod:`twin_models.rul.regression`). The interval around a new
prediction is the ``(1-coverage)/2`` and ``(1+coverage)/2`` quantiles of the errors in the
prediction's bin (quartiles of the cap, else of the predictions), or of all errors when its bin
holds too few. :class:`ConformalTable` computes those quantiles once per set of residuals: a
fitted model predicts every window of every asset, and re-binning up to 20,000 residuals per
window cost more than the regression itself. The bounds are the same as computing them afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_RESIDUALS", "ConformalTable", "conformal_interval"]

FloatArray = npt.NDArray[np.float64]
MIN_RESIDUALS = 30


@dataclass(frozen=True)
class ConformalTable:
    """Per prediction bin, the lower and upper error quantiles (rows of ``q``: bins)."""

    edges: FloatArray
    q: FloatArray

    @classmethod
    def of(cls, residuals: FloatArray, cap_s: float, coverage: float) -> ConformalTable | None:
        """The table of held-out ``(prediction, error)`` residuals; None with too few of them."""
        if len(residuals) < MIN_RESIDUALS:
            return None
        res = residuals
        edges = (cap_s * np.array([0.25, 0.5, 0.75]) if cap_s > 0
                 else np.quantile(res[:, 0], [0.25, 0.5, 0.75]))
        bins = np.searchsorted(edges, res[:, 0])
        alpha = (1.0 - coverage) / 2.0
        q = np.empty((edges.size + 1, 2))
        for b in range(edges.size + 1):
            mine = res[bins == b, 1]
            errs = mine if mine.size >= MIN_RESIDUALS else res[:, 1]
            q[b] = np.quantile(errs, [alpha, 1.0 - alpha])
        return cls(edges, q)

    def interval(self, rul: float) -> tuple[float, float]:
        """The bounds around ``rul`` (never excluding it, never below 0)."""
        q_lo, q_hi = self.q[int(np.searchsorted(self.edges, rul))]
        lo, hi = max(rul + float(q_lo), 0.0), rul + float(q_hi)
        return min(lo, rul), max(hi, rul)


def conformal_interval(rul: float, residuals: FloatArray, cap_s: float,
                       coverage: float) -> tuple[float, float]:
    """Conformal bounds around ``rul`` from held-out ``(prediction, error)`` residuals of its
    prediction bin; a wide default without enough residuals."""
    table = ConformalTable.of(residuals, cap_s, coverage)
    return conformal_default(rul, cap_s) if table is None else table.interval(rul)


def conformal_default(rul: float, cap_s: float) -> tuple[float, float]:
    """The wide interval given before enough held-out residuals exist."""
    return 0.5 * rul, 2.0 * rul if rul > 0 else cap_s
