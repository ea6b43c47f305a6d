"""NAB: the rungs' distance made complexity-invariant (CID).

Run: ``.venv/bin/python benchmarks/quality/nab_cid.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 44 (NAB44; design and adoption rule in RESULTS.md before the first run). A rung's
distance is today the Euclidean distance (ED) between two subsequences' PAA vectors. Euclidean
nearest neighbours have a complexity bias: subsequences of different roughness can be close when
the roughness is small against the level, and the long rungs' PAA segments average the rows'
texture away. The complexity-invariant distance of Batista, Wang and Keogh ("A complexity-invariant
distance measure for time series", SDM 2011) multiplies ED by the ratio of the two complexities,
``CF = max(CE_q, CE_c) / min(CE_q, CE_c)``, ``CE = sqrt(sum of squared successive differences)``,
here of the ``m`` raw rows the subsequence stands for. A change of texture (a trace gone flat or
erratic) is then novel in proportion to how much the texture changed; equal textures: CF = 1.

Each CE is taken as at least ``e = floor x sqrt(m - 1)``, a subsequence moving by the config's
resolution floor (``resolution`` x the values' 5-95 % range) at every row: differences below the
floor do not matter. ``e = 0`` with both CE 0 (a constant file so far): CF = 1; with one of them
0: 1e12 (unlike). Everything else is the config's: the PAA vectors, the ladder, the rank p-value
and its tail, the value tails, Bonferroni, event mode. The config's rows and the variant's are each
scored in every regime of ``nab_fixed.py`` and ``nab_diagnose.py``'s losses name the windows gained
and lost (:func:`nab_twins.compare`). Final line: JSON.
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

from benchmarks.quality.nab_ladder import RESOLUTION, TAIL_K, OfflineCorpus  # noqa: E402
from benchmarks.quality.nab_twins import compare  # noqa: E402
from twin_models.anomaly.calibration import EmpiricalTail  # noqa: E402
from twin_models.anomaly.novelty import SubsequenceNovelty  # noqa: E402

_UNLIKE = 1e12  # CF when one subsequence is flat and the floor is 0


class ComplexityInvariant(SubsequenceNovelty):
    """:class:`SubsequenceNovelty` whose squared distances are ED^2 x CF^2 (CID).

    ``floor`` (set before each row: the resolution floor of the values before it) gives the CE
    floor ``e``. ``vector`` also measures the raw subsequence's CE (``last_ce``), which
    ``distances`` and ``learn`` use for that subsequence; each stored one keeps its CE.
    """

    def __init__(self, m: int, d: int, history: int = 4000, k: int = 20, min_samples: int = 50):
        super().__init__(m, d, history, k, min_samples)
        self._ce = np.zeros(history)
        self.floor = 0.0
        self.last_ce = 0.0

    def vector(self, x: float) -> npt.NDArray[np.float64] | None:
        """The parent's PAA vector; the raw subsequence's complexity kept in ``last_ce``."""
        vec = super().vector(x)
        if vec is not None:
            off = x if self.offset is None else self.offset
            seq = np.append(self._buf[1:], x - off)
            self.last_ce = float(np.sqrt(np.sum(np.diff(seq) ** 2)))
        return vec

    def factor(self, ce: npt.NDArray[np.float64], ce_q: float) -> npt.NDArray[np.float64]:
        """The complexity correction ``CF`` of the query (CE ``ce_q``) against CEs ``ce``."""
        e = self.floor * math.sqrt(max(self.m - 1, 0))
        hi = np.maximum(np.maximum(ce, ce_q), e)
        lo = np.maximum(np.minimum(ce, ce_q), e)
        with np.errstate(divide="ignore", invalid="ignore"):
            cf = np.where(lo > 0, hi / np.where(lo > 0, lo, 1.0), np.where(hi > 0, _UNLIKE, 1.0))
        out: npt.NDArray[np.float64] = cf
        return out

    def distances(self, v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Squared CID of ``v`` (the subsequence of the last ``vector`` call) to the stored ones."""
        dist = super().distances(v)
        held = dist.size
        cf = self.factor(self._ce[:held], self.last_ce)
        out: npt.NDArray[np.float64] = dist * cf * cf
        return out

    def learn(self, x: float, v: npt.NDArray[np.float64] | None,
              dist: npt.NDArray[np.float64] | None) -> None:
        """The parent's, and the stored subsequence's CE (that of the last ``vector`` call)."""
        j, before = self.n % self.history, self.n
        ce = self.last_ce
        super().learn(x, v, dist)
        if self.n > before:
            self._ce[j] = ce


def cid_channel(values: Sequence[float], warmup: int, m: int, d: int, history: int, tail_k: int,
                resolution: float) -> npt.NDArray[np.float64]:
    """Per row: the CID rung's p-value, in the twin's order (score the row, then learn it); the
    floor of each row from the values before it (warm-up included), as the detector computes it."""
    sub = ComplexityInvariant(m, d, history, k=tail_k)
    tail = EmpiricalTail(window=len(values) + 1, k=tail_k)
    out = np.ones(len(values))
    for i, x in enumerate(values):
        spread = tail.quantile(0.95) - tail.quantile(0.05) if tail.n else 0.0
        sub.floor = resolution * spread if math.isfinite(spread) else 0.0
        vec = sub.vector(x)
        dist = sub.distances(vec) if vec is not None and sub.n else None
        if i >= warmup and i > 0:
            out[i] = sub.p_value(dist, sub.floor)[1]
        sub.learn(x, vec, dist)
        tail.learn_one(x)
    return out


def cid_channels(corpus: OfflineCorpus) -> dict[str, np.ndarray]:
    """Per file: the value tails, then one CID column per rung of the config's ladder."""
    nov, warmup = corpus.nov, corpus.warmup
    rungs = [corpus.cached(["rung-cid", warmup, m, d, nov.history, TAIL_K, RESOLUTION],
                           lambda k, m=m, d=d: cid_channel(corpus.vals[k], warmup, m, d, nov.history,
                                                           TAIL_K, RESOLUTION),
                           f"CID rung {m}x{d}") for m, d in nov.scales]
    return {k: np.concatenate([corpus.tails[k][:, :2], *(r[k][:, None] for r in rungs)], axis=1)
            for k in corpus.series}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and the CID variant: every regime, and windows gained / lost; JSON last."""
    return compare("nab_cid", __doc__.splitlines()[0], "CID", cid_channels, argv)


if __name__ == "__main__":
    main()
