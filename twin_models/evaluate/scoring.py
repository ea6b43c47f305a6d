"""Benchmark metrics (pure numpy): the NAB score, the PHM08 score, the PHM 2012 score.

**NAB** (Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly
Benchmark", ICMLA 2015). A detector gives every row of every file an anomaly score in [0, 1]; a row
is a *detection* when its score reaches the threshold. Each file has labelled anomaly windows
(``[start, end]`` timestamps, inclusive). Scoring a file at a threshold:

- rows of the probationary period (the first ``floor(0.15 * n)`` rows, at most 750) do not count;
- a window is worth ``-A_FN`` if nothing in it is detected, else the weight of its **earliest**
  detection (only the first detection in a window counts): ``A_TP * sigma(y) / sigma(-1)`` with the
  scaled sigmoid ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` of the row's relative position
  ``y = -(right - i + 1) / width`` (``y = -1`` on the first row of the window, which earns the full
  ``A_TP``; about 0 on its last row);
- every detection outside a window costs ``A_FP * sigma(y)``, with ``y = (i - right_prev) /
  (width_prev - 1)`` its distance after the end of the preceding window in units of that window's
  width (a detection just after a window costs almost nothing, one 3+ widths later the full
  ``A_FP``); with no preceding window it costs the full ``A_FP``. True negatives earn nothing
  (``A_TN`` is listed for completeness; the published scorer never uses it).

The raw score of a corpus is the sum over its files. One threshold per profile is chosen to
maximise the corpus score (a sweep over every distinct anomaly score), and the score is normalised
as ``100 * (raw - null) / (perfect - null)``: the null detector (no detections: ``-A_FN`` per
window) scores 0, the perfect detector (one detection on the first row of every window) 100.

Profiles (NAB ``config/profiles.json``): ``standard`` A_TP 1, A_FP 0.11, A_TN 1, A_FN 1;
``reward_low_FP_rate`` A_FP 0.22; ``reward_low_FN_rate`` A_FN 2. Costs are stored as positive
weights and subtracted.

Windows are located by timestamp in row order: a window starts at the first row at or after its
start and ends at the last row of the run that follows before its end is passed (on NAB's files
both edges are exact row timestamps; a timestamp repeated at a window edge belongs to the window
only on its first occurrence, as in the published scorer).

>>> ts = np.arange(1000)
>>> f = NabFile("toy", ts, np.where(ts == 500, 1.0, 0.0), [(500, 599)])
>>> round(nab_score([f])["standard"].score, 6)
100.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "PROFILES",
    "CostMatrix",
    "NabFile",
    "ProfileResult",
    "label_rows",
    "nab_score",
    "phm08_score",
    "phm2012_accuracy",
    "phm2012_score",
    "probationary_length",
    "row_weights",
    "scaled_sigmoid",
    "sweep_thresholds",
]

PROBATION_FRACTION = 0.15
PROBATION_MAX_ROWS = 750  # 0.15 * 5000
_NONE = 1.1  # the threshold at which nothing is detected (scores live in [0, 1])


@dataclass(frozen=True)
class CostMatrix:
    """NAB application profile: rewards and costs as positive weights."""

    tp: float = 1.0
    fp: float = 0.11
    tn: float = 1.0
    fn: float = 1.0


PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, tn=1.0, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, tn=1.0, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, tn=1.0, fn=2.0),
}


def scaled_sigmoid(y: float | npt.ArrayLike) -> Any:
    """``2 / (1 + exp(5 y)) - 1`` (in (-1, 1)), and exactly -1 beyond ``y > 3``."""
    arr = np.asarray(y, dtype=float)
    out = np.where(arr > 3.0, -1.0, 2.0 / (1.0 + np.exp(np.clip(5.0 * arr, -700, 700))) - 1.0)
    return float(out) if out.ndim == 0 else out


def probationary_length(n_rows: int) -> int:
    """Rows at the start of a file that are not scored: 15 %, at most 750."""
    return int(min(math.floor(PROBATION_FRACTION * n_rows), PROBATION_FRACTION * 5000))


@dataclass
class NabFile:
    """One file of the corpus: row timestamps (any orderable type, in row order), scores, windows."""

    name: str
    timestamps: Sequence[Any] | npt.NDArray[Any]
    scores: Sequence[float] | npt.NDArray[np.float64]
    windows: Sequence[tuple[Any, Any]] = ()

    def __post_init__(self) -> None:
        if len(self.timestamps) != len(self.scores):
            msg = f"{self.name}: {len(self.timestamps)} timestamps but {len(self.scores)} scores"
            raise ValueError(msg)


def window_rows(timestamps: Sequence[Any] | npt.NDArray[Any],
                windows: Iterable[tuple[Any, Any]]) -> list[tuple[int, int]]:
    """``(first, last)`` row index of every window (windows in time order, rows in row order).

    A window whose rows would be empty (it lies between two rows, or past the end) is dropped.
    """
    ts = list(timestamps)
    out: list[tuple[int, int]] = []
    pos = 0
    for start, end in sorted(windows, key=lambda w: w[0]):
        lo = next((i for i in range(pos, len(ts)) if ts[i] >= start), None)
        if lo is None or ts[lo] > end:
            continue
        hi = lo
        while hi + 1 < len(ts) and ts[hi] < end and ts[hi + 1] <= end:
            hi += 1
        out.append((lo, hi))
        pos = hi + 1
    return out


def label_rows(n_rows: int, rows: Sequence[tuple[int, int]]) -> npt.NDArray[np.int8]:
    """1 for rows inside a window, else 0 (NAB's ``label`` column)."""
    lab = np.zeros(n_rows, dtype=np.int8)
    for lo, hi in rows:
        lab[lo : hi + 1] = 1
    return lab


def row_weights(n_rows: int, rows: Sequence[tuple[int, int]],
                cost: CostMatrix) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """What a detection on each row is worth, and the index of its window (-1: outside, -2: probation).

    Inside a window the weight is the TP reward of a first detection there (> 0); outside it is the
    (negative) FP cost. Probationary rows get weight 0 and window index -2.
    """
    w = np.empty(n_rows, dtype=float)
    win = np.full(n_rows, -1, dtype=np.int64)
    idx = np.arange(n_rows)
    max_tp = scaled_sigmoid(-1.0)
    # before the first window: full FP cost
    first = rows[0][0] if rows else n_rows
    w[:first] = -cost.fp
    for k, (lo, hi) in enumerate(rows):
        width = hi - lo + 1
        pos = -(hi - idx[lo : hi + 1] + 1) / width
        w[lo : hi + 1] = cost.tp * scaled_sigmoid(pos) / max_tp
        win[lo : hi + 1] = k
        nxt = rows[k + 1][0] if k + 1 < len(rows) else n_rows
        after = idx[hi + 1 : nxt]
        if after.size:
            if width > 1:
                w[hi + 1 : nxt] = cost.fp * scaled_sigmoid((after - hi) / (width - 1))
            else:  # a one-row window: every later row is "far" (the published scorer divides by 0)
                w[hi + 1 : nxt] = -cost.fp
    prob = probationary_length(n_rows)
    w[:prob] = 0.0
    win[:prob] = -2
    return w, win


@dataclass
class ProfileResult:
    """A profile's result on a corpus at its optimised threshold."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float
    per_file: dict[str, dict[str, float]] = field(default_factory=dict)


def sweep_thresholds(scores: npt.NDArray[np.float64], weights: npt.NDArray[np.float64],
                     window_ids: npt.NDArray[np.int64], n_windows: int,
                     fn_cost: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Raw corpus score for every candidate threshold (detections: ``score >= threshold``).

    ``window_ids`` are global (``0 .. n_windows-1``), -1 outside windows, -2 not scored. Returns
    ``(thresholds, raw)`` with thresholds in decreasing order, the first being 1.1 (no detection).
    """
    keep = window_ids != -2
    s, w, g = scores[keep], weights[keep], window_ids[keep]
    order = np.argsort(-s, kind="stable")
    s, w, g = s[order], w[order], g[order]
    base = -fn_cost * n_windows
    fp_gain = np.where(g < 0, w, 0.0)
    # each window is worth the best (earliest) detection seen so far; a running max per window
    tp_gain = np.zeros_like(w)
    inw = np.flatnonzero(g >= 0)
    if inw.size:
        gi = g[inw]
        by_window = np.lexsort((inw, gi))  # group by window, keep sweep order inside a group
        rows_sorted = inw[by_window]
        vals = w[rows_sorted]
        groups = gi[by_window]
        # running max restarted at every group: offset groups by more than the value range
        offset = groups.astype(float) * 10.0
        run = np.maximum.accumulate(vals + offset) - offset
        prev = np.empty_like(run)
        prev[1:] = run[:-1]
        starts = np.ones(groups.size, dtype=bool)
        starts[1:] = groups[1:] != groups[:-1]
        prev[starts] = -fn_cost
        tp_gain[rows_sorted] = run - prev
    total = base + np.cumsum(fp_gain + tp_gain)
    # a threshold is a distinct score: take the total after the last row of each tie group
    last = np.ones(s.size, dtype=bool)
    last[:-1] = s[:-1] != s[1:]
    thresholds = np.concatenate([[_NONE], s[last]])
    raw = np.concatenate([[base], total[last]])
    return thresholds, raw


def _prepare(files: Sequence[NabFile], cost: CostMatrix) -> tuple[list[Any], int]:
    parts = []
    offset = 0
    for f in files:
        rows = window_rows(f.timestamps, f.windows)
        w, win = row_weights(len(f.scores), rows, cost)
        gw = np.where(win >= 0, win + offset, win)
        parts.append((f, rows, w, gw))
        offset += len(rows)
    return parts, offset


def _file_at(f: NabFile, rows: Sequence[tuple[int, int]], w: npt.NDArray[np.float64],
             win: npt.NDArray[np.int64], threshold: float, cost: CostMatrix) -> dict[str, float]:
    s = np.asarray(f.scores, dtype=float)
    det = (s >= threshold) & (win != -2)
    score = 0.0
    tp = fn = 0
    for k in np.unique(win[win >= 0]):
        hit = det & (win == k)
        if hit.any():
            score += float(w[hit].max())
            tp += 1
        else:
            score -= cost.fn
            fn += 1
    fp_rows = det & (win == -1)
    score += float(w[fp_rows].sum())
    n_win = len(rows)
    return {"raw": score, "null": -cost.fn * n_win, "perfect": cost.tp * n_win,
            "windows": float(n_win), "tp": float(tp), "fn": float(fn), "fp": float(fp_rows.sum())}


def nab_score(files: Sequence[NabFile],
              profiles: Mapping[str, CostMatrix] | None = None,
              thresholds: Mapping[str, float] | None = None) -> dict[str, ProfileResult]:
    """Score a corpus with every profile: one optimised threshold each, normalised scores.

    Every window of a file must contain at least one scored row; a file's rows are scored in
    the order given. ``thresholds`` (profile -> threshold) fixes a profile's threshold instead of
    optimising it on ``files`` (held-out scoring: the threshold was chosen on other files); the
    normalised score of a corpus without windows is 0 (its raw score, the FP costs, is in ``raw``).
    """
    out: dict[str, ProfileResult] = {}
    for name, cost in (profiles or PROFILES).items():
        parts, n_windows = _prepare(files, cost)
        if parts:
            scores = np.concatenate([np.asarray(f.scores, dtype=float) for f, *_ in parts])
            weights = np.concatenate([w for *_, w, _ in parts])
            wins = np.concatenate([g for *_, g in parts])
        else:
            scores = weights = np.zeros(0)
            wins = np.zeros(0, dtype=np.int64)
        cands, raw = sweep_thresholds(scores, weights, wins, n_windows, cost.fn)
        if thresholds is not None and name in thresholds:
            fixed = float(thresholds[name])
            # raw at a fixed threshold: the sweep's total after every score >= it (-> 1.1 if none)
            at_or_above = np.flatnonzero(cands >= fixed)
            best = int(at_or_above[-1]) if at_or_above.size else 0
            threshold = fixed
        else:
            best = int(np.argmax(raw))  # first maximum = the highest threshold among ties
            threshold = float(cands[best])
        null, perfect = -cost.fn * n_windows, cost.tp * n_windows
        score = 100.0 * (raw[best] - null) / (perfect - null) if perfect > null else 0.0
        per_file = {}
        offset = 0
        for f, rows, w, gw in parts:
            local = np.where(gw >= 0, gw - offset, gw)
            per_file[f.name] = _file_at(f, rows, w, local, threshold, cost)
            offset += len(rows)
        out[name] = ProfileResult(name, threshold, float(raw[best]), null, perfect, float(score),
                                  per_file)
    return out


def normalised(per_file: Mapping[str, Mapping[str, float]], names: Iterable[str]) -> float:
    """Normalised score of a subset of files (at the corpus threshold); NaN without windows."""
    sel = [per_file[n] for n in names]
    raw = sum(p["raw"] for p in sel)
    null = sum(p["null"] for p in sel)
    perfect = sum(p["perfect"] for p in sel)
    return 100.0 * (raw - null) / (perfect - null) if perfect > null else math.nan


# --------------------------------------------------------------------------- prognostics


def phm08_score(d: float | npt.ArrayLike) -> float:
    """PHM08 challenge score (C-MAPSS): ``sum(exp(-d/13) - 1 if d < 0 else exp(d/10) - 1)``.

    ``d = predicted RUL - true RUL`` per unit: late predictions (d > 0) cost more than early ones.
    Lower is better; 0 is perfect.
    """
    arr = np.atleast_1d(np.asarray(d, dtype=float))
    return float(np.where(arr < 0, np.expm1(-arr / 13.0), np.expm1(arr / 10.0)).sum())


def phm2012_score(actual: float | npt.ArrayLike, predicted: float | npt.ArrayLike) -> float:
    """IEEE PHM 2012 challenge score (FEMTO bearings): the mean accuracy ``A`` over bearings.

    ``Er = 100 (actual - predicted) / actual`` (percent); ``A = exp(-ln(0.5) Er / 5)`` if
    ``Er <= 0`` (an over-estimate, i.e. a late prediction: penalised faster) else
    ``exp(ln(0.5) Er / 20)``. 1 is perfect; an error of -5 % or +20 % scores 0.5.
    """
    return float(phm2012_accuracy(actual, predicted).mean())


def phm2012_accuracy(actual: float | npt.ArrayLike, predicted: float | npt.ArrayLike) -> FloatArray:
    """The PHM 2012 accuracy ``A`` of each (actual, predicted) pair (see :func:`phm2012_score`)."""
    act = np.atleast_1d(np.asarray(actual, dtype=float))
    pred = np.atleast_1d(np.asarray(predicted, dtype=float))
    if act.shape != pred.shape:
        msg = f"actual and predicted differ in shape: {act.shape} vs {pred.shape}"
        raise ValueError(msg)
    if np.any(act == 0):
        msg = "actual RUL must be non-zero (the percent error divides by it)"
        raise ValueError(msg)
    er = 100.0 * (act - pred) / act
    # each branch on its own side only (no overflow warnings from the branch np.where drops)
    return np.asarray(np.exp(math.log(0.5) * np.where(er <= 0, -er / 5.0, er / 20.0)), dtype=float)
