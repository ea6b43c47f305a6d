"""NAB with a silence member: how long since the file's last extreme value, given 10 % of the budget.

Run: ``.venv/bin/python benchmarks/quality/nab_silence.py [--data DIR] [--config FILE]
[--cache-dir DIR] [--no-progress]``

Issue 13, round 24 (NAB25), stated before its first run. Round 23 left 8 windows that no channel of
the detector sees (value tails, pattern novelty); two of them (``ec2_cpu_utilization_fe7f93``'s
third, ``ec2_disk_write_bytes_c0d644``'s third) are a recurring burst that stops. A machine's cycle
that stops (a pump or compressor that no longer loads, a batch that does not run) is of that kind:
every row of the silence is an ordinary value and its flat shape has been seen before. The signal
is the time between events, calibrated a priori as the detector's other channels:

- an *event* of a side is a row whose value-tail p on that side (the detector's own upper / lower
  channel) is at most :data:`EVENT_P` (the top / bottom decile of the file's values so far);
- per side, the current gap is the rows since that side's last event; every completed gap is
  learnt into an :class:`~twin_models.anomaly.calibration.EmpiricalTail` (all remembered, ``k`` 20,
  ``min_samples`` 30, floor one row) and the row's p is its upper tail at the current gap (rank
  p-value, exponential beyond the longest gap seen);
- the member's p is 2 x the smaller side's; ``silence 90/10`` gives it 10 % of the alarm budget,
  ``p' = min(1, p / 0.9, p_member / 0.1)``, then the config's event mode.

``silence alone`` (the member's p as the row's p) is a diagnostic, not a candidate. Both are scored
in both regimes (:func:`nab_fixed.evaluate`) on the config's ladder and its two half-step shifts
(:func:`nab_evidence.score_variants`). Final line: JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_evidence import member_main  # noqa: E402
from twin_models.anomaly.calibration import EmpiricalTail  # noqa: E402

EVENT_P = 0.1  # an event: the top (bottom) decile of the values seen so far
SHARE = 0.1  # the member's share of the alarm budget (NAB24's)
GAP_K, GAP_MIN = 20, 30  # the tail's k and min_samples: EmpiricalTail's defaults


def gap_channel(side_p: np.ndarray, warmup: int) -> np.ndarray:
    """Per row: P(a gap between events lasts at least the current one), from the completed gaps
    before it (1 before ``warmup`` and while fewer than ``GAP_MIN`` gaps are known). A row that is
    an event ends the current gap (learnt) and starts a new one of length 0."""
    tail = EmpiricalTail(window=len(side_p) + 1, k=GAP_K, min_samples=GAP_MIN)
    out = np.ones(len(side_p))
    last = None  # row of the last event
    for i, p in enumerate(side_p):
        if i >= warmup and p <= EVENT_P:
            if last is not None:
                tail.learn_one(float(i - last))
            last = i
            continue
        if last is not None and i >= warmup:
            out[i] = tail.upper(float(i - last), 1.0)
    return out


def silence_member(tails: np.ndarray, warmup: int) -> np.ndarray:
    """The member's p: 2 x the smaller of the upper and lower sides' gap p-values."""
    upper, lower = gap_channel(tails[:, 0], warmup), gap_channel(tails[:, 1], warmup)
    return np.minimum(1.0, 2.0 * np.minimum(upper, lower))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The member from the cached value tails, then the variants on the config's ladder and shifts."""
    return member_main("nab_silence", __doc__.splitlines()[0], argv, "silence", SHARE,
                       lambda c: {k: silence_member(c.tails[k], c.warmup) for k in c.series},
                       {"event_p": EVENT_P, "share": SHARE, "runs": {}})


if __name__ == "__main__":
    main()
