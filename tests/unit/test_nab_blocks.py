"""benchmarks/quality/nab_blocks.py (NAB23): per-rung CUSUMs on non-overlapping segments, their
a-priori calibration under dependence, and the event mode they feed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.quality import nab_blocks, nab_members
from benchmarks.quality.nab_cusum import equivalent_p


def test_each_rung_takes_an_increment_only_every_spacing_rows() -> None:
    ev = nab_blocks.BlockEvidence([2, 4], k=1.0, start=10)
    small = math.exp(-3.0)  # -ln p = 3: an increment of 2 at k = 1
    got = []
    for i in range(10, 18):
        q, new = ev.peek(i, [small, small])
        assert ev.s == (got[-1][1] if got else [0.0, 0.0])  # peek leaves the state alone
        ev.commit(new)
        got.append((q, new))
    # rung 0 moves at rows 10, 12, 14, 16; rung 1 at rows 10 and 14
    assert [s for _, s in got] == [[2.0, 2.0], [2.0, 2.0], [4.0, 2.0], [4.0, 2.0],
                                   [6.0, 4.0], [6.0, 4.0], [8.0, 4.0], [8.0, 4.0]]
    # between increments no evidence is reported; at one, C * min_j equivalent_p(S_j) / s_j
    assert got[1][0] == 1.0 and got[3][0] == 1.0
    assert got[4][0] == pytest.approx(2 * min(equivalent_p(6.0, 1.0) / 2, equivalent_p(4.0, 1.0) / 4))
    assert got[2][0] == pytest.approx(min(1.0, 2 * equivalent_p(4.0, 1.0) / 2))
    ev.reset()
    assert ev.s == [0.0, 0.0] and ev.peek(11, [small, small])[0] == 1.0


def _blocky_channels(spacings: list[int], n: int, seed: int) -> np.ndarray:
    """Two value tails at 1, then one column per rung whose uniform p-value is repeated over each
    block of ``s`` rows: the most dependent a rung's rows can be."""
    rng = np.random.default_rng(seed)
    ch = np.ones((n, 2 + len(spacings)))
    for j, s in enumerate(spacings):
        ch[:, 2 + j] = np.repeat(rng.uniform(size=n // s + 1), s)[:n]
    return ch


def _raw_alarms(ch: np.ndarray, spacings: list[int], k: float) -> int:
    ev, alarms = nab_blocks.BlockEvidence(spacings, k, 0), 0
    for i in range(len(ch)):
        q, new = ev.peek(i, ch[i, 2:])
        if q <= 1e-3:
            alarms += 1
            ev.reset()
        else:
            ev.commit(new)
    return alarms


@pytest.mark.parametrize("k", [1.0, nab_blocks.K_ALARM])
def test_block_evidence_keeps_its_rate_under_overlap_and_row_sampling_does_not(k: float) -> None:
    spacings, n = [8, 32, 128], 200_000
    ch = _blocky_channels(spacings, n, seed=23)
    # nominal: at most one alarm per 1000 rows (Bonferroni over the rungs): 200
    assert 130 <= _raw_alarms(ch, spacings, k) <= 240
    # the same CUSUMs taking every row (NAB22's i.i.d. assumption) alarm far more often
    assert _raw_alarms(ch, [1, 1, 1], k) > 600


def test_no_rung_evidence_is_the_event_mode_at_half_the_budget() -> None:
    rng = np.random.default_rng(5)
    n, warmup = 3000, 100
    ch = np.ones((n, 4))
    ch[:, :2] = rng.uniform(size=(n, 2)) ** 3  # tails carry the signal; rungs never scored (p = 1)
    horizon = rng.integers(0, 20, size=n)
    got = nab_blocks.block_event_scores(ch, 50, warmup, horizon, 8, [8, 16], 1.0)
    want = nab_members.event_scores(np.minimum(1.0, 2.0 * nab_blocks.bonferroni(ch)), 50, warmup, horizon, 8)
    np.testing.assert_array_equal(got, want)
    assert np.count_nonzero(got) > 10


def test_rung_evidence_reports_a_slow_drift_the_rows_miss() -> None:
    n, warmup = 4000, 0
    ch = np.ones((n, 3))
    ch[:, 2] = 0.05  # every row mildly surprising on the rung (p 0.05: never alarm-grade alone)
    got = nab_blocks.block_event_scores(ch, 0, warmup, None, 0, [16], 1.0)
    assert got.max() >= 0.999  # -ln 0.05 - 1 = 2.0 per 16 rows accumulates to an alarm
    assert nab_members.event_scores(np.minimum(1.0, 2.0 * nab_blocks.bonferroni(ch)), 0, warmup).max() < 0.999
