"""NAB with the alarm budget split unevenly, and Bonferroni over the tests that can speak.

Run: ``.venv/bin/python benchmarks/quality/nab_budget.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 23 (NAB24). Two a-priori changes to how the config's row p-value is made, both
post-processing of the cached channels (value tails and one column per rung, as the detector):

- **(a) uneven split** (the brief's cheap idea, stated before its first run): NAB23's per-rung block
  evidence ``q`` (:mod:`benchmarks.quality.nab_blocks`, ``s_j = m_j``) gets 10 % of the alarm
  budget and the row rule 90 %: ``p' = min(1, p / 0.9, q / 0.1)`` (NAB23 gave each half, which put
  the row rule at p <= 0.0005, the cliff). Variants ``split 90/10 blocks k=2.26`` and
  ``split 90/10 blocks k=1``.
- **(c) live Bonferroni** (stated after a diagnosis of the config's misses and after (a)'s
  figures, before any figure of its own): a rung of length ``m`` cannot give a p below 1 until it
  holds ``min_samples`` (50) subsequences beyond its own length, i.e. before row ``2m - 1 + 50`` of
  the file; there it is not a test. The row's smallest p is multiplied by the number of tests
  live at that row (the two tails and every rung past that row) instead of by all of them. The set
  depends on the row's index only, so the Bonferroni bound still holds. On the 4032-row files the
  2048-row rung never speaks and the 1024-row rung only after row 2097. Variants ``live
  Bonferroni`` and ``live Bonferroni + split 90/10 blocks k=2.26``.

A check first (printed): no rung of any ladder gives p < 1 on any file before the row the live
count assumes. Then every variant, with the config (evidence off) as the base, in both regimes
(:func:`nab_fixed.evaluate`) on the config's ladder and its two half-step shifts, and the variant
chosen out of fold among them (:func:`nab_evidence.score_variants`). Channels come from the same
cache as ``nab_ladder.py``. Final line: JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_blocks import K_ALARM, block_event_scores, spacings_of  # noqa: E402
from benchmarks.quality.nab_evidence import score_variants  # noqa: E402
from benchmarks.quality.nab_fixed import SHIFTS  # noqa: E402
from benchmarks.quality.nab_ladder import LADDERS, corpus_from_cli  # noqa: E402
from benchmarks.quality.nab_members import event_scores  # noqa: E402

MIN_SAMPLES = 50  # SubsequenceNovelty's default min_samples (the detector's rungs use it)
SHARE = 0.1  # the evidence's part of the alarm budget in the split variants
VARIANTS: dict[str, tuple[bool, float | None] | None] = {  # (live Bonferroni, evidence k or None)
    "config (evidence off)": None,
    f"split 90/10 blocks k={K_ALARM:.2f}": (False, K_ALARM),
    "split 90/10 blocks k=1": (False, 1.0),
    "live Bonferroni": (True, None),
    f"live Bonferroni + split 90/10 blocks k={K_ALARM:.2f}": (True, K_ALARM),
}


def first_live_row(m: int, min_samples: int = MIN_SAMPLES) -> int:
    """The first row (0-based) at which a rung of length ``m`` can give p < 1: it needs
    ``min_samples`` stored subsequences beyond ``m``, and its first is stored at row ``m - 1``."""
    return 2 * m - 1 + min_samples


def live_bonferroni(ch: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """Per row: the smallest channel p times the number of tests live at that row (the two value
    tails always, a rung from :func:`first_live_row` on)."""
    rows = np.arange(len(ch))
    live = 2 + sum((rows >= first_live_row(m)).astype(int) for m in lengths)
    return np.minimum(1.0, ch.min(axis=1) * live)


def early_rungs(channels: dict[str, np.ndarray], lengths: Sequence[int]) -> list[tuple[str, int, int]]:
    """(file, m, row) of every rung that gives p < 1 before :func:`first_live_row` (should be none)."""
    out = []
    for key, x in channels.items():
        for j, m in enumerate(lengths):
            below = np.flatnonzero(x[:, 2 + j] < 1.0)
            if below.size and below[0] < first_live_row(m):
                out.append((key, m, int(below[0])))
    return out


def budget_scores(ch: np.ndarray, lengths: Sequence[int], horizon: np.ndarray | None, hold: int,
                  refractory: int, warmup: int, variant: tuple[bool, float | None]) -> np.ndarray:
    """One file's event-mode scores under a variant (live Bonferroni or not; split or not)."""
    live, k = variant
    row_p = live_bonferroni(ch, lengths) if live else None
    if k is None:
        return event_scores(row_p if row_p is not None else np.minimum(1.0, ch.min(axis=1) * ch.shape[1]),
                            refractory, warmup, horizon, hold)
    return block_event_scores(ch, refractory, warmup, horizon, hold, spacings_of(lengths, 1.0), k,
                              share=SHARE, row_p=row_p)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The live-count check, then every variant on the config's ladder and its two shifts, both
    regimes; the JSON line last."""
    start = time.perf_counter()
    args, corpus, labels = corpus_from_cli("nab_budget", __doc__.splitlines()[0], argv)
    nov, warmup = corpus.nov, corpus.warmup
    summary: dict[str, Any] = {"k_alarm": K_ALARM, "share": SHARE, "runs": {}, "early_rungs": {}}
    ladders = {"config": tuple(tuple(s) for s in nov.scales), **{s: LADDERS[s] for s in SHIFTS}}
    for lname, scales in ladders.items():
        early = early_rungs(corpus.channels(scales), [m for m, _ in scales])
        summary["early_rungs"][lname] = early
        print(f"rungs giving p < 1 before their first live row, {lname}: {len(early)} {early[:5]}")
    score_variants(corpus, labels, VARIANTS, lambda x, lengths, hor, hold, v, _: budget_scores(
        x, lengths, hor, hold, nov.refractory, warmup, v), summary)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
