"""NAB's labelled windows described by kinds of signal the detector does not use, each ranked online.

Run: ``.venv/bin/python benchmarks/quality/nab_describe.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 24 (NAB25), step 1: what is inside the windows the detector misses, in terms other
than value level and shape. For every row, eight families of descriptors of the trailing ``w`` =
16, 64 and 256 rows (:data:`WS`), each from what an online detector has at that row:

- ``sampling``: intervals other than the file's median interval;
- ``stuck run``: the longest run of exactly repeated values;
- ``zero-diff share`` / ``distinct share``: the share of zero first differences / of distinct values
  (quantisation);
- ``sd of diffs``: the log spread of the first differences;
- ``trend``: the least-squares slope;
- ``day-lag resid``: the mean ``|x_t - x_(t - day)|``, ``day`` = 86,400 s over the median interval;
- ``day corr``: the correlation with the same rows a day earlier (``w`` >= 64: a missing cycle).

Each is calibrated as the detector's channels are (:func:`tail_p`): the two-sided tail p of the row's
value among the file's values at least ``w`` rows older (the non-overlapping past), from the
warm-up on, in an :class:`~twin_models.anomaly.calibration.EmpiricalTail` (everything remembered,
``k`` 20, 50 before scoring, exponential beyond the extremes; floor one count for the counting
families, one row's share for the shares); a family's p is Bonferroni over the three ``w``.

For every window: the detector's smallest row p (the config's channels, Bonferroni), each family's
smallest p and where, and how rare that is: the null rows (every scored row outside the windows,
probation excluded) per 1000 with a p at least as small, over the corpus and over the file's own
earlier rows. Windows whose smallest row p is above the alarm grade are marked missed. Final line: JSON.
"""

from __future__ import annotations

import bisect
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab import _epoch  # noqa: E402
from benchmarks.quality.nab_ladder import bonferroni, corpus_from_cli  # noqa: E402
from twin_models.anomaly.calibration import EmpiricalTail  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_P  # noqa: E402
from twin_models.evaluate.scoring import probationary_length  # noqa: E402

WS = (16, 64, 256)
DAY_S = 86400.0
COUNTS = ("sampling", "stuck run")  # floor: one count
SHARES = ("zero-diff share", "distinct share")  # floor: one row's share, 1 / w


def _trailing(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, w: int) -> np.ndarray:
    """``fn`` of each row's last ``w`` values (NaN before the window is full)."""
    out = np.full(len(x), np.nan)
    if len(x) >= w:
        out[w - 1:] = fn(sliding_window_view(x, w))
    return out


def distinct_share(a: np.ndarray) -> np.ndarray:
    """Per window (row of ``a``): its distinct values over its length."""
    return np.array([len(np.unique(r)) for r in a]) / a.shape[1]


def repeat_runs(x: np.ndarray) -> np.ndarray:
    """Per row: how many rows in a row, up to this one, repeat the previous value exactly."""
    out = np.zeros(len(x))
    for i in range(1, len(x)):
        out[i] = out[i - 1] + 1 if x[i] == x[i - 1] else 0
    return out


def day_corr(x: np.ndarray, day: int, w: int) -> np.ndarray:
    """Per row: the correlation of the last ``w`` values with the same rows ``day`` rows earlier
    (NaN where either is constant or not yet there)."""
    out = np.full(len(x), np.nan)
    for i in range(day + w - 1, len(x)):
        a, b = x[i - w + 1:i + 1], x[i - w + 1 - day:i + 1 - day]
        sa, sb = a.std(), b.std()
        if sa > 0 and sb > 0:
            out[i] = float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
    return out


def descriptors(secs: np.ndarray, x: np.ndarray) -> dict[str, dict[int, np.ndarray]]:
    """Every family's statistic per row, for each ``w`` (family -> w -> values)."""
    med = float(np.median(np.diff(secs))) if len(secs) > 1 else 0.0
    dt = np.diff(secs, prepend=secs[0] - med)
    d = np.diff(x, prepend=x[0])
    runs = repeat_runs(x)
    day = round(DAY_S / med) if med > 0 else 0
    lag = np.zeros(len(x))
    if 0 < day < len(x):
        lag[day:] = x[day:] - x[:-day]
    out: dict[str, dict[int, np.ndarray]] = {}
    for w in WS:
        t = np.arange(w) - (w - 1) / 2.0
        fam = {
            "sampling": _trailing(lambda a: a.sum(axis=1), (dt != med).astype(float), w),
            "stuck run": _trailing(lambda a: a.max(axis=1), np.minimum(runs, w), w),
            "zero-diff share": _trailing(lambda a: (a == 0).mean(axis=1), d, w),
            "distinct share": _trailing(distinct_share, x, w),
            "sd of diffs": _trailing(lambda a: np.log(a.std(axis=1) + 1e-12), d, w),
            "trend": _trailing(lambda a, t=t: a @ t / float(t @ t), x, w),  # type: ignore[misc]
        }
        if 0 < day < len(x):
            fam["day-lag resid"] = _trailing(lambda a: np.abs(a).mean(axis=1), lag, w)
            if w >= 64:
                fam["day corr"] = day_corr(x, day, w)
        for name, v in fam.items():
            out.setdefault(name, {})[w] = v
    return out


def tail_p(s: np.ndarray, w: int, warmup: int, floor: float) -> np.ndarray:
    """Per row: the two-sided tail p of ``s[i]`` among ``s[j]``, ``warmup <= j <= i - w``
    (1 before the warm-up, for NaN, and while fewer than 50 are known)."""
    tail = EmpiricalTail(window=len(s) + 1, k=20, min_samples=50)
    out = np.ones(len(s))
    for i in range(len(s)):
        j = i - w
        if j >= warmup and not math.isnan(s[j]):
            tail.learn_one(float(s[j]))
        if i >= warmup and not math.isnan(s[i]):
            out[i] = min(1.0, 2.0 * min(tail.upper(float(s[i]), floor), tail.lower(float(s[i]), floor)))
    return out


def family_p(secs: np.ndarray, x: np.ndarray, warmup: int) -> dict[str, np.ndarray]:
    """Per family: Bonferroni over the ``w`` of the rows' tail p-values."""
    out = {}
    for name, by_w in descriptors(secs, x).items():
        ps = [tail_p(s, w, warmup, 1.0 if name in COUNTS else 1.0 / w if name in SHARES else 0.0)
              for w, s in by_w.items()]
        out[name] = np.minimum(1.0, len(ps) * np.min(ps, axis=0))
    return out


def window_rows(secs: np.ndarray, windows: list[list[str]]) -> list[tuple[int, int]]:
    """Each labelled window's rows ``[start, end)``."""
    return [(int(np.searchsorted(secs, _epoch(a))), int(np.searchsorted(secs, _epoch(b), side="right")))
            for a, b in windows]


def describe(corpus: Any, labels: dict[str, Any], row_p: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Every window's row: the detector's smallest p, each family's smallest p, where, how rare."""
    per: dict[str, tuple[dict[str, np.ndarray], list[tuple[int, int]], np.ndarray]] = {}
    null: dict[str, list[np.ndarray]] = {}
    for key, (_, _, (_, _, secs)) in corpus.series.items():
        fam = family_p(secs, np.asarray(corpus.vals[key], dtype=float), corpus.warmup)
        wins = window_rows(secs, labels[key])
        scored = np.zeros(len(secs), bool)
        scored[probationary_length(len(secs)):] = True
        for a, b in wins:
            scored[a:b] = False
        per[key] = (fam, wins, scored)
        for name, p in fam.items():
            null.setdefault(name, []).append(p[scored])
        if corpus.progress:
            print(f"    {key}", flush=True)
    pooled = {name: np.sort(np.concatenate(v)) for name, v in null.items()}
    rows = []
    for key, (fam, wins, scored) in per.items():
        for j, (a, b) in enumerate(wins):
            cells = {}
            for name, p in fam.items():
                m = float(p[a:b].min())
                own = p[:a][scored[:a]]
                cells[name] = {"p": m, "at": int(np.argmin(p[a:b])),
                               "null_per_1000": round(1000 * bisect.bisect_right(pooled[name].tolist(), m)
                                                      / len(pooled[name]), 1),
                               "own_earlier": [int(np.sum(own <= m)), len(own)]}
            smallest = float(row_p[key][a:b].min())
            rows.append({"file": key, "window": j + 1, "rows": [a, b - 1], "row_p": smallest,
                         "missed": smallest > ALARM_P, "families": cells})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The table of the missed windows (the two families rarest over the corpus), then the JSON."""
    start = time.perf_counter()
    _, corpus, labels = corpus_from_cli("nab_describe", __doc__.splitlines()[0], argv)
    ch = corpus.channels(tuple(tuple(s) for s in corpus.nov.scales))
    rows = describe(corpus, labels, {k: bonferroni(v) for k, v in ch.items()})
    print("| window (rows) | detector's smallest row p | two families rarest over the corpus: p, at row, "
          "null rows per 1000 as small (earlier rows of the file as small) |\n|---|---|---|")
    for r in rows:
        if r["missed"]:
            best = sorted(r["families"].items(), key=lambda kv: kv[1]["null_per_1000"])[:2]
            cells = "; ".join(f"{n} {c['p']:.1g} at +{c['at']}, {c['null_per_1000']} "
                              f"({c['own_earlier'][0]} of {c['own_earlier'][1]})" for n, c in best)
            print(f"| `{r['file'].split('/')[1]}` #{r['window']} {r['rows'][0]}-{r['rows'][1]} | "
                  f"{r['row_p']:.2g} | {cells} |")
    summary = {"ws": WS, "windows": rows, "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
