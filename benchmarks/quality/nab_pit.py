"""NAB: the rungs on the values' prequential probability integral transform (PIT).

Run: ``.venv/bin/python benchmarks/quality/nab_pit.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 49 (NAB49B; design and adoption rule in RESULTS.md before the first run). Every
rung of the novelty detector compares subsequences of the raw values, so on NAB's heavy-tailed,
multiplicative metrics its Euclidean distance is dominated by the largest bursts. Here each rung
sees instead the value's prequential PIT ``u_t = F_{t-1}(x_t)`` (Dawid, JRSS A 1984; Diebold,
Gunther and Tay 1998): its mid-rank among every value seen before it, fixed when the row arrives
(:func:`prequential_pit`), the empirical counterpart of SAX's equiprobable symbols (Lin, Keogh, Wei
and Lonardi 2007). The value tails keep the raw values (rank p-values already); the rungs' floor is
the config's rule on the transformed series; everything else is the config's. The config's rows and
the variant's are scored in every regime of ``nab_fixed.py``, and ``nab_diagnose.py``'s losses name
the windows gained and lost (:func:`nab_twins.compare`). Final line: JSON.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_ladder import RESOLUTION, TAIL_K, OfflineCorpus, rung_channel, tail_channels  # noqa: E402
from benchmarks.quality.nab_twins import compare  # noqa: E402


def prequential_pit(values: Sequence[float]) -> np.ndarray:
    """Per row: ``(#{earlier < x} + #{earlier == x} / 2 + 1/2) / (earlier + 1)``, the value's
    mid-rank among every earlier value (the first one 1/2)."""
    seen: list[float] = []
    out = np.empty(len(values))
    for t, x in enumerate(values):
        lo, hi = bisect.bisect_left(seen, x), bisect.bisect_right(seen, x)
        out[t] = (lo + (hi - lo) / 2 + 0.5) / (t + 1)
        bisect.insort(seen, x)
    return out


def pit_channels(corpus: OfflineCorpus) -> dict[str, np.ndarray]:
    """Per file: the config's value tails, then one column per rung of the config's ladder computed
    on the values' prequential PIT (its floor the config's rule on the PIT)."""
    nov, warmup = corpus.nov, corpus.warmup
    pit = corpus.cached(["pit"], lambda k: prequential_pit(corpus.vals[k]), "prequential PIT")
    floors = corpus.cached(["pit-tails", warmup, nov.value_history, TAIL_K, RESOLUTION],
                           lambda k: tail_channels([float(u) for u in pit[k]], warmup, nov.value_history,
                                                   TAIL_K, RESOLUTION), "PIT floors")
    rungs = [corpus.cached(["rung-pit", warmup, m, d, nov.history, TAIL_K, RESOLUTION],
                           lambda k, m=m, d=d: rung_channel([float(u) for u in pit[k]], floors[k][:, 2],
                                                            warmup, m, d, nov.history, TAIL_K),
                           f"PIT rung {m}x{d}") for m, d in nov.scales]
    return {k: np.concatenate([corpus.tails[k][:, :2], *(r[k][:, None] for r in rungs)], axis=1)
            for k in corpus.series}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and the PIT variant: every regime, and windows gained / lost; JSON last."""
    return compare("nab_pit", (__doc__ or "").splitlines()[0], "rungs on the prequential PIT",
                   pit_channels, argv)


if __name__ == "__main__":
    main()
