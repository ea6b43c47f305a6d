"""Accumulated evidence over consecutive windows: Page's CUSUM of ``-ln p``, calibrated a priori.

A window's combined p-value is (at least) uniform when nothing is wrong, so ``X = -ln p`` is
(at most) an Exp(1) variable. Page's CUSUM ``S = max(0, S + X - k)`` adds the evidence of
consecutive windows: several windows at p 1e-3 ... 1e-2 build up what one window at p 1e-4 says
at once. Its calibration needs no data: for a threshold ``h`` the null average run length
``ARL0(h)`` (windows until ``S >= h`` when every p is uniform) follows from the Exp(1) law alone
(:func:`null_arl`, a Markov chain on ``[0, h)``, Brook and Evans 1972), so ``S`` maps to an
equivalent per-window p-value ``1 / ARL0(S)`` (:func:`equivalent_p`): ``S`` reaching the level
whose null run length is 1000 windows is as rare as one window at p 0.001.

``k``: the reference value. ``k = 1`` is the null mean of ``X`` (a drift-free walk: it keeps
evidence longest); :func:`reference_for` derives ``k`` from a target run length ``A`` instead:
the log-likelihood ratio of an alternative where ``X`` is Exp(theta) with mean ``ln A`` (a window
at the alarm grade on average) against the null, ``k = -ln(theta) / (1 - theta)``.

:class:`EvidenceCusum` keeps ``S`` for one stream: :meth:`~EvidenceCusum.peek` tells what a window
would make of it without changing it (River's ``score_one``), :meth:`~EvidenceCusum.commit` keeps
it (``learn_one``); :meth:`~EvidenceCusum.reset` restarts it after an alarm, as Page's procedure
does. Engine-free, NumPy only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["EVIDENCE_MODES", "EvidenceCusum", "combine", "equivalent_p", "null_arl", "reference_for",
           "threshold_for"]

_H_STEP = 0.25  # the table of ln ARL0(h) is computed every quarter of h up to 10, every 1 after ...
_H_MAX = 60.0  # ... up to here or to _LOG_ARL_MAX, whichever comes first, then extended along its
_LOG_ARL_MAX = 30.0  # last slope: in h when k > 1 (the walk drifts down: ARL0 grows exponentially),
# in ln h when k <= 1 (no drift or an upward one: ARL0 grows like a power of h)
_CELLS_PER_NAT = 20  # Markov chain resolution: 20 cells per unit of h, from 100 up to 400 cells
_MIN_CELLS, _MAX_CELLS = 100, 400  # (ln ARL0 within 0.01 of a 40-per-unit chain up to h 60)
_P_FLOOR = 1e-300
EVIDENCE_MODES = ("off", "cusum", "either")


def null_arl(h: float, k: float, cells: int | None = None) -> float:
    """Average run length to ``S >= h`` from ``S = 0`` when every increment is Exp(1) - ``k``.

    Brook and Evans' Markov chain: ``S = 0`` and ``(0, h)`` in ``n`` cells, each represented by its
    midpoint, with the exact Exp(1) probabilities of landing at 0 (``S + X - k <= 0``), in each
    cell, or at ``h`` and past it (the alarm). ``h <= 0``: 1 (the first window alarms).
    """
    if h <= 0.0:
        return 1.0
    n = cells or min(_MAX_CELLS, max(_MIN_CELLS, int(math.ceil(h * _CELLS_PER_NAT))))
    w = h / n
    # states: S = 0 exactly (an atom: every window that brings less than k evidence ends there),
    # then n cells of (0, h), each represented by its midpoint
    pos = np.concatenate([[0.0], (np.arange(n) + 0.5) * w])
    edges = np.arange(n + 1) * w
    # P(s + X - k <= e) = P(X <= e - s + k) = 1 - exp(-(e - s + k)) for e - s + k > 0
    shift = edges[None, :] - pos[:, None] + k
    cdf = np.where(shift > 0.0, -np.expm1(-np.maximum(shift, 0.0)), 0.0)
    q = np.concatenate([cdf[:, :1], np.diff(cdf, axis=1)], axis=1)  # to the atom, to each cell
    arl = np.linalg.solve(np.eye(n + 1) - q, np.ones(n + 1))
    return float(arl[0])


@lru_cache(maxsize=16)
def _log_arl_table(k: float) -> tuple[np.ndarray, np.ndarray]:
    hs, la = [0.0], [0.0]
    while hs[-1] < _H_MAX and la[-1] < _LOG_ARL_MAX:
        hs.append(hs[-1] + (_H_STEP if hs[-1] < 10.0 else 4 * _H_STEP))
        la.append(math.log(null_arl(hs[-1], k)))
    return np.asarray(hs), np.asarray(la)


def log_null_arl(h: float, k: float) -> float:
    """``ln ARL0(h)`` from the table (linear between its points, along its last slope past it)."""
    hs, la = _log_arl_table(float(k))
    if h <= 0.0:
        return 0.0
    if h < hs[-1]:
        return float(np.interp(h, hs, la))
    if k > 1.0:
        return float(la[-1] + (h - hs[-1]) * (la[-1] - la[-2]) / (hs[-1] - hs[-2]))
    j = int(np.searchsorted(hs, hs[-1] / 2.0))  # a power's exponent over the table's last octave
    slope = (la[-1] - la[j]) / (math.log(hs[-1]) - math.log(hs[j]))
    return float(la[-1] + slope * (math.log(h) - math.log(hs[-1])))


def equivalent_p(s: float, k: float) -> float:
    """The per-window p-value that ``S = s`` is worth: ``1 / ARL0(s)`` (1 at ``s = 0``)."""
    return max(_P_FLOOR, math.exp(-log_null_arl(s, k)))


def threshold_for(arl: float, k: float) -> float:
    """The ``h`` whose null run length is ``arl`` windows (bisection on the table)."""
    lo, hi = 0.0, 1.0
    while log_null_arl(hi, k) < math.log(arl):
        hi *= 2.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if log_null_arl(mid, k) < math.log(arl) else (lo, mid)
    return hi


def reference_for(arl: float) -> float:
    """``k`` of the likelihood ratio for ``X ~ Exp(theta)``, ``1 / theta = ln arl``, against Exp(1)."""
    theta = 1.0 / math.log(arl)
    return -math.log(theta) / (1.0 - theta)


def combine(p: float, evidence_p: float, mode: str) -> float:
    """The window's p: ``"cusum"`` the evidence alone; ``"either"`` the smaller of the window's own
    p and the evidence's, Bonferroni over the two (each gets half the false-alarm budget)."""
    if mode == "cusum":
        return evidence_p
    return min(1.0, 2.0 * min(p, evidence_p))


class EvidenceCusum:
    """``S`` of one stream of p-values, reference value ``k``."""

    def __init__(self, k: float = 1.0) -> None:
        if not (math.isfinite(k) and k > 0.0):
            msg = f"evidence reference value must be positive and finite, not {k!r}"
            raise ValueError(msg)
        self.k = float(k)
        self.s = 0.0

    def peek(self, p: float) -> float:
        """``S`` after a window of p-value ``p`` (the state is not changed)."""
        return max(0.0, self.s - math.log(min(1.0, max(p, _P_FLOOR))) - self.k)

    def commit(self, s: float) -> None:
        """Keep ``s`` (what :meth:`peek` returned for the window being learnt)."""
        self.s = s

    def reset(self) -> None:
        """Restart from no evidence (after an alarm)."""
        self.s = 0.0

    def p_value(self, s: float) -> float:
        """``S = s`` as a per-window p-value (:func:`equivalent_p`)."""
        return equivalent_p(s, self.k)
