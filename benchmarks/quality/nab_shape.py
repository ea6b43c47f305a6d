"""NAB: the rungs on each subsequence's shape around its own mean (offset removed, amplitude kept).

Run: ``.venv/bin/python benchmarks/quality/nab_shape.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 50 (NAB50B; design and adoption rule in RESULTS.md before the first run). Every
rung of the novelty detector compares subsequences by their PAA vectors, level included, so an
ordinary pattern at a level its memory has not seen is "novel" for ``m`` rows, and past level
changes inflate its reference distances. Here each rung compares the PAA vector minus its own mean
(:class:`ShapeNovelty`): offset translation removed as similarity search on time series does
(Goldin and Kanellakis 1995; Keogh and Kasetty 2003), the amplitude kept (no z-normalisation: a
burst's size still counts); the absolute level is left to the value tails. Everything else is the
config's. The config's rows and the variant's are scored in every regime of ``nab_fixed.py``, and
``nab_diagnose.py``'s losses name the windows gained and lost (:func:`nab_twins.compare`). Final
line: JSON.
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


class ShapeNovelty(SubsequenceNovelty):
    """:class:`SubsequenceNovelty` whose subsequence vector is its PAA minus the PAA's mean."""

    def vector(self, x: float) -> npt.NDArray[np.float64] | None:
        """The segments' means minus their mean (the subsequence's), None until ``m`` values."""
        v = super().vector(x)
        return None if v is None else v - v.mean()


def shape_channels(corpus: OfflineCorpus) -> dict[str, np.ndarray]:
    """Per file: the config's value tails, then one shape column per rung of its ladder."""
    return variant_rungs(corpus, "rung-shape", ShapeNovelty)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and the shape variant: every regime, and windows gained / lost; JSON last."""
    return compare("nab_shape", (__doc__ or "").splitlines()[0], "shape around its mean", shape_channels,
                   argv)


if __name__ == "__main__":
    main()
