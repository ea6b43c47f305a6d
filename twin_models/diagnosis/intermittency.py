"""Intermittent race lines: a race line that vanishes right after it was held names no race.

Physics (Randall & Antoni 2011, "Rolling element bearing diagnostics - a tutorial", sections on
the characteristic signals): a race defect is fixed on its race. An outer-race spall sits in
the load zone and is struck by every passing ball; an inner-race spall passes through the load
zone once per shaft turn. At a steady speed and load either one is struck many times in every
window, so its envelope line (BPFO, BPFI) is present in EVERY window: its SNR scatters from
window to window (estimation noise of a ~1 s envelope spectrum), it does not switch off. A
spalled *ball* behaves otherwise: its spin axis wanders, so the spall leaves and re-enters the
contact tracks and the impacts come in bursts. A line that was held (``defect_min_snr`` in
``defect_snr_windows`` windows in a row) and in the very next window is back at the noise
level (:data:`NOISE_SNR`, the SNR of a frequency where no line is) is therefore not the steady
excitation of a race defect; naming the race from it risks a wrong defect (CWRU drive-end
``B021_0``, a ball fault, carries such a BPFI line: 6.3, 7.4, **1.4**, 4.8, 6.0, 7.2, 2.7, 2.1,
7.7, 6.8; no localised IR/OR file of either CWRU set lapses, their smallest window SNR is 4.4).

So a *lapse* (held, then below :data:`NOISE_SNR` the next window it is seen) marks the race
line as intermittent, and an intermittent race line names no defect: the window's verdict is
left to the abnormality judgement (anomalous, not localised, or healthy). The mark is cleared
when the line is held again for :data:`STEADY_RUNS` times the windows that name a defect in a
row: then it is steady again (a machine that stopped, or changed load, and came back). A window
without the line's figure (no frame, a masked channel) is no lapse. Nothing here is fitted: the
noise level and the persistence are the existing ones; ``STEADY_RUNS`` is a stated design choice.

The marks live in the same counter mapping as the runs (keys ``(channel, "<defect>:lapsed")``),
so the twin's state needs no new attribute: a twin restored from before this rule has none.

Pure functions, no state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["NOISE_SNR", "RACE_LINES", "STEADY_RUNS", "intermittent", "is_mark", "mark_lapses"]

LineKey = tuple[str, str]

NOISE_SNR = 2.0
"""Envelope-line SNR of a frequency where no line is (Gaussian noise: 1.4-2.1, see
:data:`twin_models.features.frame.DIAGNOSIS_MIN_SNR`)."""

RACE_LINES: tuple[str, ...] = ("bpfo", "bpfi")
"""Lines of defects fixed on a race: steady at a steady speed and load."""

STEADY_RUNS = 2
"""A lapsed race line is steady again once held ``STEADY_RUNS x defect_snr_windows`` windows in a
row: twice the persistence that names a defect (chosen a priori; CWRU's lapsing ball file's
later runs are 3 and 2 windows, so 1x would name its race line again and any factor >= 2 does not)."""

_MARK = ":lapsed"


def _mark(key: LineKey) -> LineKey:
    return (key[0], key[1] + _MARK)


def is_mark(key: LineKey) -> bool:
    """Whether ``key`` is a lapse mark rather than a line's run counter."""
    return key[1].endswith(_MARK)


def intermittent(runs: Mapping[LineKey, int], key: LineKey) -> bool:
    """Whether the race line ``key`` (channel, defect) is marked intermittent in ``runs``."""
    return runs.get(_mark(key), 0) > 0


def mark_lapses(before: Mapping[LineKey, int], after: dict[LineKey, int], seen: Mapping[LineKey, float],
                min_windows: int) -> dict[LineKey, int]:
    """``after`` (the run counters after this window) with the lapse marks carried over from
    ``before``, set for a race line that lapsed in this window and cleared for one held steady
    again (see the module doc). Returns ``after`` (updated in place, only marks added/removed)."""
    held_for = max(min_windows, 1)
    for key, value in before.items():
        if is_mark(key):
            after[key] = value
    for key, snr in seen.items():
        if key[1] not in RACE_LINES:
            continue
        if before.get(key, 0) >= held_for and math.isfinite(snr) and snr < NOISE_SNR:
            after[_mark(key)] = 1
        elif after.get(key, 0) >= STEADY_RUNS * held_for:
            after.pop(_mark(key), None)
    return after
