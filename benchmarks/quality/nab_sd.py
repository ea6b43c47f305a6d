"""NAB: the rungs' segments by their mean and standard deviation (SAX-SD), not their mean alone.

Run: ``.venv/bin/python benchmarks/quality/nab_sd.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 50 (NAB50; design and adoption rule in RESULTS.md before the first run). Every
rung of the novelty detector represents a subsequence of ``m`` rows by its piecewise aggregate
approximation, the means of ``d`` segments (Keogh et al., KAIS 2001), whose distance lower-bounds the
subsequences' Euclidean distance (the matrix profile's, Yeh et al. 2016) but cannot tell a segment
that oscillates or turns noisy around an unchanged mean from a quiet one. Here each segment also
keeps its standard deviation (population, over its ``m / d`` rows): the vector ``(mu_1 .. mu_d,
s_1 .. s_d)`` (:class:`MeanSdNovelty`), as SAX-SD does (Zan and Yamana, iiWAS 2016; after ESAX,
Lkhagva et al. 2006). Per segment ``w [(mu_x - mu_y)^2 + (s_x - s_y)^2]`` is still a lower bound of
the rows' squared distance (Cauchy-Schwarz on their covariance), the tightest the first two moments
give. Everything else is the config's. The config's rows and the variant's are scored in every
regime of ``nab_fixed.py``, and ``nab_diagnose.py``'s losses name the windows gained and lost
(:func:`nab_twins.compare`). Final line: JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_ladder import OfflineCorpus, variant_rungs  # noqa: E402
from benchmarks.quality.nab_twins import compare  # noqa: E402
from twin_models.anomaly.novelty import SubsequenceNovelty  # noqa: E402


class MeanSdNovelty(SubsequenceNovelty):
    """:class:`SubsequenceNovelty` whose subsequence vector is its segments' means, then their
    standard deviations (``2d`` numbers); the statistic stays ``sqrt(squared distance / d)``."""

    def __init__(self, m: int, d: int, history: int = 4000, k: int = 20, min_samples: int = 50):
        super().__init__(m, d, history, k, min_samples)
        self._vecs = np.zeros((history, 2 * d))

    def vector(self, x: float) -> npt.NDArray[np.float64] | None:
        """Means and standard deviations of the ``d`` segments of the subsequence ending with ``x``
        (None until ``m`` values are known)."""
        if self._nbuf < self.m - 1:
            return None
        seg = np.append(self._buf[1:], x - (x if self.offset is None else self.offset)).reshape(self.d, -1)
        return np.concatenate([seg.mean(axis=1), seg.std(axis=1)])


def sd_channels(corpus: OfflineCorpus) -> dict[str, np.ndarray]:
    """Per file: the config's value tails, then one mean-and-SD column per rung of its ladder."""
    return variant_rungs(corpus, "rung-mean-sd", MeanSdNovelty)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and the mean-and-SD variant: every regime, and windows gained / lost; JSON last."""
    return compare("nab_sd", (__doc__ or "").splitlines()[0], "segments by mean and SD", sd_channels, argv)


if __name__ == "__main__":
    main()
