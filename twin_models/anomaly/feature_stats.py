"""Running mean and variance of many named features at once, as arrays (Welford, River's formulas).

Why: the baseline detector kept one ``river.stats.Var`` per feature. A C-MAPSS window has ~126
model features, so every window walked 126 objects twice (deviations, then learning), and
pickling the twin (the guard's undo copy before every window) or deep-copying it (Bytewax's
snapshot at every epoch end) walked 252 small objects: together ~1/5 of the FD001 backtest's CPU
(``benchmarks/RESULTS.md``, issue 10, part TWIN4). Here the counts, means and sums of squared
deviations are three float64 arrays indexed by feature.

The numbers are River's, bit for bit: ``Var.update`` (``n += 1; mean += (1 / n) * (x - mean);
S += (x - old) * (x - mean)``) and ``Var.get`` (``S / (n - 1)``) are elementwise IEEE operations,
the same in NumPy as in Python floats; the log transform stays ``math.log`` (NumPy's may differ
in the last bit). ``tests/unit/test_feature_stats.py`` compares with ``river.stats.Var``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureStats"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
_PLAN_CACHE = 64
"""Key sequences whose positions are kept (a twin sees one or a few)."""


class FeatureStats:
    """Per-feature count, mean and sum of squared deviations of transformed values.

    ``is_log(name)`` says which features are compared in log space (their values go through
    ``log(max(value, 1e-12))`` before the statistics, as the detector always did)."""

    def __init__(self, is_log: Callable[[str], bool]) -> None:
        self.is_log = is_log
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.n: FloatArray = np.zeros(0)
        self.mean: FloatArray = np.zeros(0)
        self.sq: FloatArray = np.zeros(0)
        self._plans: dict[tuple[str, ...], tuple[IntArray, npt.NDArray[np.bool_], list[int]]] = {}

    # ------------------------------------------------------------------ state

    def __getstate__(self) -> dict[str, Any]:
        """The statistics (not the per-key-sequence plans, rebuilt on use)."""
        return {"is_log": self.is_log, "names": self.names, "n": self.n, "mean": self.mean, "sq": self.sq}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.index = {k: i for i, k in enumerate(self.names)}
        self._plans = {}

    @classmethod
    def from_vars(cls, is_log: Callable[[str], bool], stats: Mapping[str, Any]) -> FeatureStats:
        """From ``river.stats.Var`` objects by name (a detector pickled before this class)."""
        out = cls(is_log)
        out.names = list(stats)
        out.index = {k: i for i, k in enumerate(out.names)}
        out.n = np.array([float(v.mean.n) for v in stats.values()], dtype=np.float64)
        out.mean = np.array([float(v.mean._mean) for v in stats.values()], dtype=np.float64)  # noqa: SLF001
        out.sq = np.array([float(v._S) for v in stats.values()], dtype=np.float64)  # noqa: SLF001
        return out

    def __len__(self) -> int:
        """Features known."""
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.index

    def count(self, name: str) -> float:
        """Values learnt for ``name`` (0 if unknown)."""
        i = self.index.get(name)
        return 0.0 if i is None else float(self.n[i])

    def mean_of(self, name: str) -> float:
        """The running mean of ``name``'s transformed values (0.0 if unknown, as River's)."""
        i = self.index.get(name)
        return 0.0 if i is None else float(self.mean[i])

    def variance(self, name: str) -> float:
        """River's ``Var.get()``: the sample variance (ddof 1), 0.0 below two values."""
        i = self.index.get(name)
        if i is None or self.n[i] <= 1.0:
            return 0.0
        return float(self.sq[i] / (self.n[i] - 1.0))

    # ------------------------------------------------------------------ per window

    def _plan(self, keys: tuple[str, ...]) -> tuple[IntArray, npt.NDArray[np.bool_], list[int]]:
        """Positions of ``keys`` (-1 = unknown), their log mask, the log positions."""
        plan = self._plans.get(keys)
        if plan is None:
            slots = np.array([self.index.get(k, -1) for k in keys], dtype=np.intp)
            logs = np.array([self.is_log(k) for k in keys], dtype=bool)
            plan = (slots, logs, np.flatnonzero(logs).tolist())
            if (slots >= 0).all() and len(self._plans) < _PLAN_CACHE:
                self._plans[keys] = plan
        return plan

    def _values(self, x: Mapping[str, float], log_at: list[int]) -> tuple[list[float], FloatArray]:
        """The raw values and the transformed ones (``math.log`` for log features)."""
        raw = list(x.values())
        v = np.array(raw, dtype=np.float64)
        for i in log_at:
            v[i] = math.log(max(raw[i], 1e-12))
        return raw, v

    def deviations(self, x: Mapping[str, float], log_floor: float, rel_floor: float) -> dict[str, float]:
        """Signed z of every finite value of a feature learnt at least twice, in ``x``'s order:
        ``(v - mean) / max(sqrt(var), floor, 1e-9)``, the floor ``log_floor`` for log features,
        else ``rel_floor * |mean|``."""
        keys = tuple(x)
        if not keys:
            return {}
        slots, logs, log_at = self._plan(keys)
        raw, v = self._values(x, log_at)
        at = np.where(slots >= 0, slots, 0)
        n = self.n[at] if len(self.names) else np.zeros(len(keys))
        ok = (slots >= 0) & np.isfinite(np.array(raw, dtype=np.float64)) & (n >= 2.0)
        if ok.all():  # the usual window (every feature known, finite, learnt twice): no masking
            mean, sq = self.mean[at], self.sq[at]
            names: tuple[str, ...] | list[str] = keys
        elif ok.any():
            mean, n, sq, logs, v = self.mean[at[ok]], n[ok], self.sq[at[ok]], logs[ok], v[ok]
            names = [k for k, keep in zip(keys, ok.tolist(), strict=True) if keep]
        else:
            return {}
        var = sq / (n - 1.0)
        floor = np.where(logs, log_floor, rel_floor * np.abs(mean))
        std = np.maximum(np.maximum(np.sqrt(np.maximum(var, 0.0)), floor), 1e-9)
        return dict(zip(names, ((v - mean) / std).tolist(), strict=True))

    def update(self, x: Mapping[str, float]) -> None:
        """Learn every finite value of ``x`` (a new feature starts at n = 0, mean = 0, S = 0)."""
        keys = tuple(x)
        if not keys:
            return
        slots, _logs, log_at = self._plan(keys)
        raw, v = self._values(x, log_at)
        finite = np.isfinite(np.array(raw, dtype=np.float64))
        if ((slots < 0) & finite).any():
            unknown = (slots < 0) & finite
            self._add([k for k, is_new in zip(keys, unknown.tolist(), strict=True) if is_new])
            slots, _logs, log_at = self._plan(keys)
        s, v = (slots, v) if finite.all() else (slots[finite], v[finite])
        n = self.n[s] + 1.0
        old = self.mean[s]
        new = old + (1.0 / n) * (v - old)
        self.sq[s] = self.sq[s] + (v - old) * (v - new)
        self.n[s] = n
        self.mean[s] = new

    def _add(self, names: list[str]) -> None:
        """New features, at the end."""
        for k in names:
            self.index[k] = len(self.names)
            self.names.append(k)
        zeros = np.zeros(len(names))
        self.n = np.concatenate([self.n, zeros])
        self.mean = np.concatenate([self.mean, zeros])
        self.sq = np.concatenate([self.sq, zeros])
        self._plans = {}
