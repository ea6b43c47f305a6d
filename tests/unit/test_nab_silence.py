"""benchmarks/quality/nab_silence.py (NAB25): the silence member's gaps and p-values."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import nab_silence


def test_gap_channel_by_hand() -> None:
    # events (p <= 0.1) every 3rd row from row 0: gaps of 3 rows; 31 completed gaps by row 93
    side = np.ones(130)
    side[0:96:3] = 0.05
    p = nab_silence.gap_channel(side, warmup=0)
    assert np.all(p[:94] == 1.0)  # fewer than 30 gaps learnt, and event rows are not scored
    # row 94: 31 gaps of 3 known, current gap 1 (every gap is >= 1): rank p (31 + 1) / (31 + 1)
    assert p[94] == 1.0
    # row 96: current gap 3, 31 gaps of 3: still every gap is at least as long
    assert p[96] == 1.0
    # row 97: gap 4, longer than all 31 (k = 20 equal gaps: mean excess 0, floor 1 row)
    np.testing.assert_allclose(p[97], np.exp(-1.0) / 32)
    np.testing.assert_allclose(p[100], np.exp(-4.0) / 32)


def test_a_cycle_that_stops_reaches_the_alarm_grade_and_a_steady_cycle_does_not() -> None:
    rng = np.random.default_rng(25)
    t = np.arange(3000)
    x = rng.normal(0.0, 0.05, len(t))
    x[(t % 24 < 2) & (t < 2400)] += 5.0  # a 2-row burst every 24 rows (8 % of rows), then none
    tails = np.ones((len(t), 3))
    for i in range(200, len(t)):  # the value tails' p, computed exactly on the past
        past = x[:i]
        tails[i, 0] = (np.sum(past >= x[i]) + 1) / (i + 1)
        tails[i, 1] = (np.sum(past <= x[i]) + 1) / (i + 1)
    q = nab_silence.silence_member(tails, 200)
    assert q[200:2400].min() > 1e-4  # 2,200 rows of the steady cycle: not at the member's alarm grade
    stop = int(np.argmax(q[2400:] <= 1e-4))
    assert 0 < stop < 60  # the member's 10 % share of the alarm grade within 60 rows of the stop


def test_a_constant_series_never_alarms() -> None:
    tails = np.ones((1500, 3))
    assert np.all(nab_silence.silence_member(tails, 100) == 1.0)
