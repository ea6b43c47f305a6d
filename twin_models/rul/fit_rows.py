"""The newest full fit's bins and predictions of every stored life, kept for its catch-ups.

Why: a catch-up (:mod:`twin_models.rul.regression_learner`) boosts the last full fit a few more
trees on the residuals of its predictions of *every* stored life. Binning those rows and
predicting them with the fit's 200 trees was most of a catch-up's work (~40 of its ~70 slices at
100 C-MAPSS lives: 20,000 rows), and the same again for every catch-up on the same fit, although
only the lives completed since had changed. :class:`FitRows` keeps, per stored life, the rows'
bins (:meth:`~twin_models.rul.trees.GradientBoostedTrees.bin_rows`, one byte per value) and the
fit's predictions of them (:meth:`~twin_models.rul.trees.GradientBoostedTrees.predict`): exactly
what the catch-up computed before, so the catch-up's model is the same.

Transient: the learner does not pickle it (recovery state unchanged and bounded); a learner
restored from a snapshot or an undo rebuilds the missing lives' entries in its next catch-up.
Bounded: one entry per stored life (``max_lives``), ~14 KB per 200-row life.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FitRows", "LifeRows"]

FloatArray = npt.NDArray[np.float64]
BinArray = npt.NDArray[np.unsignedinteger[Any]]


@dataclass(frozen=True)
class LifeRows:
    """One stored life's rows under a fit: their bins and the fit's predictions of them."""

    life: object
    bins: BinArray
    pred: FloatArray


class FitRows:
    """Per stored life (by identity: the learner's ``StoredLife`` objects are immutable and kept
    as long as the life is stored), its :class:`LifeRows` under ``model``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.by_life: dict[int, LifeRows] = {}

    def get(self, life: object) -> LifeRows | None:
        """The life's entry, if computed under this model (None for a life not seen yet)."""
        hit = self.by_life.get(id(life))
        return hit if hit is not None and hit.life is life else None

    def put(self, life: object, x: FloatArray) -> LifeRows:
        """Bin and predict the life's feature rows ``x`` under the model; keep and return them."""
        entry = LifeRows(life, self.model.bin_rows(x), self.model.predict(x))
        self.by_life[id(life)] = entry
        return entry

    def put_known(self, life: object, bins: BinArray, pred: FloatArray) -> LifeRows:
        """Keep the life's bins and predictions computed elsewhere (by the fit itself)."""
        entry = LifeRows(life, bins, pred)
        self.by_life[id(life)] = entry
        return entry

    def keep_only(self, lives: tuple[object, ...]) -> None:
        """Forget the lives no longer stored (the learner's store dropped its oldest)."""
        wanted = {id(life) for life in lives}
        self.by_life = {k: v for k, v in self.by_life.items() if k in wanted}
