"""NAB: the rungs' novelty as the distance to the second of two non-overlapping neighbours.

Run: ``.venv/bin/python benchmarks/quality/nab_twins.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 43 (NAB43; design and adoption rule in RESULTS.md before the first run). A rung's
statistic is today the distance of the newest subsequence to its nearest past one (a left matrix
profile). A pattern seen ONCE before is then no longer novel: the "twin freak" of nearest-neighbour
discords (Wei et al., "Assumption-free anomaly detection in time series", SSDBM 2005). An
incident that repeats its shape on the same machine (a CPU spike to saturation, a restart, a
stalled job) is judged by its first occurrence. The outlier score of Ramaswamy, Rastogi and Shim
(SIGMOD 2000), the distance to the k-th nearest neighbour, with ``k = 2``, the smallest k for which
a single earlier occurrence does not make a pattern familiar, and the two neighbours mutually
non-overlapping (more than ``m`` rows apart, the matrix profile's exclusion zone, so that one
earlier occurrence seen at two shifts does not count twice).

:class:`TwinFreeNovelty` is :class:`~twin_models.anomaly.novelty.SubsequenceNovelty` with that
statistic for the newest subsequence AND for every stored one (the rank p-value's references, kept
up to date as new subsequences arrive; greedily, see :meth:`TwinFreeNovelty.learn`). Everything
else is the config's: value tails, the ladder, Bonferroni, event mode. The config's rows and the
variant's are each scored in every regime of ``nab_fixed.py`` (dev, thresholds out of fold,
fixed p), and ``nab_diagnose.py``'s losses name the windows gained and lost. Final line: JSON.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_diagnose import losses, scored_rows  # noqa: E402
from benchmarks.quality.nab_fixed import evaluate  # noqa: E402
from benchmarks.quality.nab_ladder import (  # noqa: E402
    RESOLUTION,
    TAIL_K,
    OfflineCorpus,
    corpus_from_cli,
    rung_channel,
)
from benchmarks.quality.nab_logo import category_of, logo  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_P  # noqa: E402
from twin_models.anomaly.novelty import SubsequenceNovelty  # noqa: E402

_NONE = -(2**62)  # "no neighbour yet": far from every index


class TwinFreeNovelty(SubsequenceNovelty):
    """Squared distance to the second of two mutually non-overlapping nearest neighbours.

    Per stored subsequence: its nearest neighbour (squared distance ``_d1``, index ``_i1``) and the
    nearest one at least ``m`` rows from that neighbour (``_nn``, the rank p-value's reference, and
    ``_i2``). Indices count subsequences stored (``n`` at storing).
    """

    def __init__(self, m: int, d: int, history: int = 4000, k: int = 20, min_samples: int = 50):
        super().__init__(m, d, history, k, min_samples)
        self._d1 = np.full(history, np.inf)
        self._i1 = np.full(history, _NONE, dtype=np.int64)
        self._i2 = np.full(history, _NONE, dtype=np.int64)
        self._idx = np.zeros(history, dtype=np.int64)

    def second(self, dist: npt.NDArray[np.float64]) -> tuple[float, int, float, int]:
        """(d1, index of the nearest, d2, index of the nearest at least m rows from it) among the
        stored subsequences at squared distances ``dist`` (inf: none)."""
        held = dist.size
        if not held:
            return math.inf, _NONE, math.inf, _NONE
        j1 = int(np.argmin(dist))
        d1 = float(dist[j1])
        if not math.isfinite(d1):
            return math.inf, _NONE, math.inf, _NONE
        i1 = int(self._idx[j1])
        far = np.where(np.abs(self._idx[:held] - i1) >= self.m, dist, np.inf)
        j2 = int(np.argmin(far))
        d2 = float(far[j2])
        return d1, i1, d2, (int(self._idx[j2]) if math.isfinite(d2) else _NONE)

    def p_value(self, dist: npt.NDArray[np.float64] | None, floor: float) -> tuple[float, float]:
        """The parent's rank p-value, of the second neighbour's distance."""
        if dist is None:
            return super().p_value(None, floor)
        return super().p_value(np.array([self.second(dist)[2]]), floor)

    def learn(self, x: float, v: npt.NDArray[np.float64] | None,
              dist: npt.NDArray[np.float64] | None) -> None:
        """Store the subsequence ending with ``x``; update every stored one's two neighbours.

        The newcomer ``c`` (the latest index) at squared distance ``e`` from a stored one: nearer
        than its nearest and at least ``m`` rows from it: the old nearest becomes the second; nearer
        but overlapping it: the second is kept (greedy: a neighbour overlapping the newcomer but not
        the old nearest is not tracked); not nearer, at least ``m`` rows from the nearest and nearer
        than the second: it becomes the second. The newcomer's own pair is exact.
        """
        if self.offset is None or v is None:
            super().learn(x, v, dist)  # the first value (offset) or no subsequence yet: the parent's
            return
        if dist is None:
            dist = self.distances(v)
        held, c = min(self.n, self.history), self.n
        d1, i1, d2, i2 = self._d1[:held], self._i1[:held], self._nn[:held], self._i2[:held]
        nearer = dist < d1
        apart = (c - i1) >= self.m
        shift = nearer & apart
        second = ~nearer & apart & (dist < d2)
        d2[:] = np.where(shift, d1, np.where(second, dist, d2))
        i2[:] = np.where(shift, i1, np.where(second, c, i2))
        d1[:] = np.where(nearer, dist, d1)
        i1[:] = np.where(nearer, c, i1)
        own = self.second(dist) if held else (math.inf, _NONE, math.inf, _NONE)
        j = self.n % self.history
        self._vecs[j] = v
        self._sq[j] = float(v @ v)
        self._d1[j], self._i1[j], self._nn[j], self._i2[j] = own
        self._idx[j] = c
        self.n += 1
        super().learn(x, None, None)  # the parent's ring of recent values


def twin_channels(corpus: OfflineCorpus) -> dict[str, np.ndarray]:
    """Per file: the value tails, then one twin-free column per rung of the config's ladder."""
    nov, warmup = corpus.nov, corpus.warmup
    rungs = [corpus.cached(["rung-twin-free-2", warmup, m, d, nov.history, TAIL_K, RESOLUTION],
                           lambda k, m=m, d=d: rung_channel(corpus.vals[k], corpus.tails[k][:, 2], warmup,
                                                            m, d, nov.history, TAIL_K, TwinFreeNovelty),
                           f"twin-free rung {m}x{d}") for m, d in nov.scales]
    return {k: np.concatenate([corpus.tails[k][:, :2], *(r[k][:, None] for r in rungs)], axis=1)
            for k in corpus.series}


def window_changes(base: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    """Windows missed by one of two ``losses`` results and found by the other."""
    def missed(res: dict[str, Any]) -> set[str]:
        return {f"{n} rows {m['rows'][0]}-{m['rows'][1]}"
                for n, v in res["files"].items() for m in v["missed"]}
    a, b = missed(base), missed(new)
    return {"gained": sorted(a - b), "lost": sorted(b - a)}


def compare(prog: str, description: str, variant: str,
            variant_channels: Callable[[OfflineCorpus], dict[str, np.ndarray]],
            argv: list[str] | None) -> dict[str, Any]:
    """The config and a variant of its channels: every regime of ``nab_fixed.py``, and
    ``nab_diagnose.py``'s windows gained / lost; JSON last (shared by the variant harnesses)."""
    start = time.perf_counter()
    _, corpus, labels = corpus_from_cli(prog, description, argv)
    out: dict[str, Any] = {"runs": {}, "windows": {}}
    res: dict[str, dict[str, Any]] = {}
    for name, ch in (("config", corpus.channels([tuple(s) for s in corpus.nov.scales])),
                     (variant, variant_channels(corpus))):
        rows, ps = scored_rows(corpus, ch, labels)
        out["runs"][name] = evaluate(name, rows)
        folds, _ = logo({name: rows})
        oof = {f.held_out: f.thresholds["standard"] for f in folds}
        res[name] = {"out_of_fold": losses(rows, ps, oof),
                     "fixed": losses(rows, ps, {category_of(f.name): 1.0 - ALARM_P for f in rows})}
    for regime in ("out_of_fold", "fixed"):
        ch_ = window_changes(res["config"][regime], res[variant][regime])
        out["windows"][regime] = dict(ch_)
        print(f"\n{regime}: windows gained {ch_['gained']}\n  lost {ch_['lost']}")
        for n, r in res.items():
            fp = sum(len(v["fp_rows"]) for v in r[regime]["files"].values())
            out["windows"][regime][n] = {"points_lost": r[regime]["points_lost"], "false_rows": fp}
            print(f"  {n}: points lost {r[regime]['points_lost']}, false rows {fp}")
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and the twin-free variant: every regime, and windows gained / lost; JSON last."""
    return compare("nab_twins", __doc__.splitlines()[0], "twin-free k=2", twin_channels, argv)

if __name__ == "__main__":
    main()
