"""NAB with a window-features novelty member (ARTime-like), given 10 % of the alarm budget.

Run: ``.venv/bin/python benchmarks/quality/nab_features.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 23 (NAB24, the brief's idea (b)); stated before its first run. ARTime matches a
window's summary against prototypes with a vigilance threshold; here the vigilance is replaced by
the ladder's own calibration, so no threshold is chosen:

- for each window length ``w`` in 8, 64, 512 (every third rung of the config's ladder), each row's
  vector is ``(min, max, mean, std, slope * (w - 1))`` of the last ``w`` values; the first three
  minus the file's running minimum, all five divided by its running range (0 while the range is 0);
- the statistic is the distance to the nearest stored vector of the last ``history`` rows (the
  ``w - 1`` overlapping ones excluded), and its p-value the rank among the stored vectors' own
  nearest-neighbour distances, with the exponential tail beyond the largest, exactly as a rung of
  the novelty detector (:class:`~twin_models.anomaly.novelty.SubsequenceNovelty`, whose store is
  reused: ``min_samples`` 50, ``k`` 20, the floor the detector's tail floor over the running range);
- the member's p is 3 x the smallest of the three (Bonferroni), and ``features 90/10`` gives it 10 %
  of the budget: ``p' = min(1, p / 0.9, p_member / 0.1)``, ``p`` the config's row p; then the
  config's event mode (refractory, echo from the row's channels, hold).

``features alone`` (the member's p as the row's p) is a diagnostic, not a candidate. Both are scored
in both regimes (:func:`nab_fixed.evaluate`) on the config's ladder and its two half-step shifts,
with the config as the base, and the variant chosen out of fold among the three. Channels come
from the same cache as ``nab_ladder.py`` (the member's own entries added). Final line: JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_evidence import member_main  # noqa: E402
from benchmarks.quality.nab_ladder import RESOLUTION, TAIL_K, OfflineCorpus  # noqa: E402
from twin_models.anomaly.novelty import SubsequenceNovelty  # noqa: E402

WINDOWS = (8, 64, 512)
SHARE = 0.1
N_FEATURES = 5


def window_features(values: np.ndarray, w: int) -> np.ndarray:
    """Per row (NaN before the window is full): min, max, mean, std, slope x (w - 1) of the last
    ``w`` values, the first three minus the running minimum, all over the running range."""
    x = np.asarray(values, dtype=float)
    out = np.full((len(x), N_FEATURES), np.nan)
    if len(x) < w:
        return out
    win = sliding_window_view(x, w)
    t = np.arange(w) - (w - 1) / 2.0
    slope = (win @ t) / float(t @ t) if w > 1 else np.zeros(len(win))
    lo = np.minimum.accumulate(x)[w - 1:]
    rng = np.maximum.accumulate(x)[w - 1:] - lo
    scale = np.where(rng > 0, 1.0 / np.where(rng > 0, rng, 1.0), 0.0)
    feats = np.stack([win.min(axis=1) - lo, win.max(axis=1) - lo, win.mean(axis=1) - lo,
                      win.std(axis=1), slope * (w - 1)], axis=1)
    out[w - 1:] = feats * scale[:, None]
    return out


class FeatureStore(SubsequenceNovelty):
    """A rung's store and rank p-value over given vectors (5 features instead of a PAA)."""

    def __init__(self, w: int, history: int, k: int) -> None:
        super().__init__(w, 1, history, k=k)
        self.d = N_FEATURES
        self._vecs = np.zeros((history, N_FEATURES))


def feature_channel(values: np.ndarray, floors: np.ndarray, warmup: int, w: int, history: int) -> np.ndarray:
    """Per row: the window-features p-value of window length ``w`` (1 before ``warmup``)."""
    x = np.asarray(values, dtype=float)
    feats = window_features(x, w)
    lo = np.minimum.accumulate(x)
    rng = np.maximum.accumulate(x) - lo
    store = FeatureStore(w, history, TAIL_K)
    out = np.ones(len(x))
    for i in range(len(x)):
        v = feats[i] if i >= w - 1 else None
        dist = store.distances(v) if v is not None and store.n else None
        if i >= warmup and i > 0:
            floor = float(floors[i]) / float(rng[i]) if rng[i] > 0 else 0.0
            out[i] = store.p_value(dist, floor)[1]
        store.learn(float(x[i]), v, dist)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The member's channels (cached), then the variants on the config's ladder and its shifts."""

    def member_of(corpus: OfflineCorpus) -> dict[str, np.ndarray]:
        nov, warmup = corpus.nov, corpus.warmup

        def channel(w: int) -> dict[str, np.ndarray]:
            return corpus.cached(["features", warmup, w, nov.history, TAIL_K, RESOLUTION],
                                 lambda k: feature_channel(corpus.vals[k], corpus.tails[k][:, 2], warmup, w,
                                                           nov.history),
                                 f"features w={w}")

        member_ws = [channel(w) for w in WINDOWS]
        return {k: np.minimum(1.0, len(WINDOWS) * np.min([m[k] for m in member_ws], axis=0))
                for k in corpus.series}

    return member_main("nab_features", __doc__.splitlines()[0], argv, "features", SHARE, member_of,
                       {"windows": WINDOWS, "share": SHARE, "runs": {}})


if __name__ == "__main__":
    main()
