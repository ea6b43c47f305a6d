"""NAB: the detector's exponential tails anchored at their threshold (peaks over threshold).

Run: ``.venv/bin/python benchmarks/quality/nab_pot.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 49 (NAB49; design and adoption rule in RESULTS.md before the first run). Every
tail of the novelty detector (the two value tails, one per rung) is today the rank p-value up to
the largest reference and, beyond it, ``exp(-(x - max) / beta) / (n + 1)``: an exponential anchored
at the single largest reference, ``beta`` the mean excess of the ``k`` largest over the ``k+1``-th.
The peaks-over-threshold model (Pickands 1975; Davison and Smith 1990; Coles 2001, section 4.3;
SPOT, Siffer et al. 2017) states the tail at the threshold ``u`` instead: ``P(X > x) = zeta_u
exp(-(x - u) / beta)``, ``zeta_u`` the share of exceedances. Here, with ``u`` the ``k+1``-th
largest reference and ``N`` the references strictly above it, a statistic ``x > u`` gets
``(N + 1) / (n + 1) exp(-(x - u) / beta)`` (continuous with the rank p at ``u``), ``beta`` the mean
excess of those ``N`` over ``u``, never below the floor; ``x <= u`` keeps its rank p. The largest
reference, one order statistic, no longer sets every extrapolated p (:func:`anchored_p`).

:class:`AnchoredNovelty` (a rung) and :class:`AnchoredTail` (the value tails) are the detector's
classes with that tail; everything else is the config's (statistic, ladder, Bonferroni, event
mode). The config's rows and the variant's are scored in every regime of ``nab_fixed.py``, and
``nab_diagnose.py``'s losses name the windows gained and lost (:func:`nab_twins.compare`). Final
line: JSON.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_ladder import (  # noqa: E402
    RESOLUTION,
    TAIL_K,
    OfflineCorpus,
    rung_channel,
    tail_channels,
)
from benchmarks.quality.nab_twins import compare  # noqa: E402
from twin_models.anomaly.calibration import EmpiricalTail  # noqa: E402
from twin_models.anomaly.novelty import SubsequenceNovelty  # noqa: E402


def anchored_p(excess: float, top: Sequence[float] | npt.NDArray[np.float64], n: int, floor: float) -> float:
    """The tail p of a statistic ``excess`` beyond the threshold ``u``: ``(N + 1) / (n + 1)
    exp(-excess / beta)``; ``top`` the ``k`` largest references' excesses over ``u`` (ties at ``u``
    are 0 and not exceedances), ``n`` the references, ``beta`` the mean of the ``N`` positive
    excesses, never below ``floor`` (nor 1e-300)."""
    ex = np.asarray(top, dtype=float)
    ex = ex[ex > 0.0]
    beta = max(float(ex.mean()) if ex.size else 0.0, floor, 1e-300)
    return (ex.size + 1) / (n + 1) * math.exp(-excess / beta)


class AnchoredNovelty(SubsequenceNovelty):
    """:class:`SubsequenceNovelty` whose tail is anchored at the ``k+1``-th largest reference."""

    def p_value(self, dist: npt.NDArray[np.float64] | None, floor: float) -> tuple[float, float]:
        """The parent's rank p up to the threshold; :func:`anchored_p` above it."""
        stat, p = super().p_value(dist, floor)
        held = min(self.n, self.history)
        ref = self._nn[:held]
        ref = np.sqrt(ref[np.isfinite(ref)] / self.d)
        n = ref.size
        k = min(self.k, n - 1)
        # above the threshold at most k references reach the statistic: p <= (k + 1) / (n + 1)
        if math.isnan(stat) or n < self.min_samples or p > (k + 1) / (n + 1):
            return stat, p
        top = np.sort(np.partition(ref, n - k - 1)[n - k - 1 :])  # the k + 1 largest, ascending
        u = float(top[0])
        if stat <= u:
            return stat, p
        return stat, anchored_p(stat - u, top[1:] - u, n, floor)


class AnchoredTail(EmpiricalTail):
    """:class:`EmpiricalTail` whose two tails are anchored at the ``k+1``-th largest (smallest) value."""

    def upper(self, x: float, floor: float = 0.0) -> float:
        """The parent's rank p up to the threshold; :func:`anchored_p` above it."""
        p = super().upper(x, floor)
        s, n = self._sorted, len(self._sorted)
        if n < self.min_samples or math.isnan(x):
            return p
        k = min(self.k, n - 1)
        u = s[-k - 1]
        return p if x <= u else anchored_p(x - u, [v - u for v in s[-k:]], n, floor)

    def lower(self, x: float, floor: float = 0.0) -> float:
        """The parent's rank p down to the threshold; :func:`anchored_p` below it."""
        p = super().lower(x, floor)
        s, n = self._sorted, len(self._sorted)
        if n < self.min_samples or math.isnan(x):
            return p
        k = min(self.k, n - 1)
        u = s[k]
        return p if x >= u else anchored_p(u - x, [u - v for v in s[:k]], n, floor)


def pot_channels(corpus: OfflineCorpus) -> dict[str, np.ndarray]:
    """Per file: the anchored value tails, then one anchored column per rung of the config's ladder."""
    nov, warmup = corpus.nov, corpus.warmup
    tails = corpus.cached(["tails-pot", warmup, nov.value_history, TAIL_K, RESOLUTION],
                          lambda k: tail_channels(corpus.vals[k], warmup, nov.value_history, TAIL_K,
                                                  RESOLUTION, AnchoredTail), "anchored value tails")
    rungs = [corpus.cached(["rung-pot", warmup, m, d, nov.history, TAIL_K, RESOLUTION],
                           lambda k, m=m, d=d: rung_channel(corpus.vals[k], corpus.tails[k][:, 2], warmup,
                                                            m, d, nov.history, TAIL_K, AnchoredNovelty),
                           f"anchored rung {m}x{d}") for m, d in nov.scales]
    return {k: np.concatenate([tails[k][:, :2], *(r[k][:, None] for r in rungs)], axis=1)
            for k in corpus.series}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and the threshold-anchored variant: every regime, and windows gained / lost;
    JSON last."""
    return compare("nab_pot", (__doc__ or "").splitlines()[0], "tails anchored at the threshold",
                   pot_channels, argv)


if __name__ == "__main__":
    main()
