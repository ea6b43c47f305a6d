"""benchmarks/quality/nab_budget.py (NAB24): the uneven split of the alarm budget and Bonferroni
over the tests live at each row."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.quality import nab_blocks, nab_budget, nab_members
from twin_models.anomaly.novelty import SubsequenceNovelty


@pytest.mark.parametrize("m,d", [(8, 4), (32, 8)])
def test_first_live_row_is_where_a_rung_can_first_speak(m: int, d: int) -> None:
    rng = np.random.default_rng(24)
    sub = SubsequenceNovelty(m, d, history=1000)
    first_below_one = None
    for row, x in enumerate(rng.normal(size=400)):
        v = sub.vector(float(x))
        dist = sub.distances(v) if v is not None and sub.n else None
        live = sub.n - sub.m >= sub.min_samples  # the rung's own condition for a p below 1
        assert live == (row >= nab_budget.first_live_row(m))
        p = sub.p_value(dist, 0.0)[1]
        if p < 1.0 and first_below_one is None:
            first_below_one = row
        sub.learn(float(x), v, dist)
    assert first_below_one is not None and first_below_one >= nab_budget.first_live_row(m)


def test_live_bonferroni_counts_the_tails_and_the_live_rungs() -> None:
    n = 200
    ch = np.ones((n, 4))
    ch[:, 0] = 1e-4  # a tail at 1e-4 on every row; rungs 4 and 16 live from rows 57 and 81
    got = nab_budget.live_bonferroni(ch, [4, 16])
    assert nab_budget.first_live_row(4) == 57 and nab_budget.first_live_row(16) == 81
    np.testing.assert_allclose(got[[0, 56, 57, 80, 81, 199]], [2e-4, 2e-4, 3e-4, 3e-4, 4e-4, 4e-4])
    assert got.max() <= nab_blocks.bonferroni(ch).max()  # never larger than all-channel Bonferroni


def test_split_without_rung_evidence_is_the_row_rule_at_nine_tenths_of_the_budget() -> None:
    rng = np.random.default_rng(5)
    n, warmup = 3000, 100
    ch = np.ones((n, 4))
    ch[:, :2] = rng.uniform(size=(n, 2)) ** 4  # tails carry the signal; rungs never scored (p = 1)
    horizon = rng.integers(0, 20, size=n)
    got = nab_budget.budget_scores(ch, [8, 16], horizon, 8, 50, warmup, (False, 1.0))
    want = nab_members.event_scores(np.minimum(1.0, nab_blocks.bonferroni(ch) / 0.9), 50, warmup, horizon, 8)
    np.testing.assert_array_equal(got, want)
    assert np.count_nonzero(got) > 10
    # and live Bonferroni alone is the config's event mode on the live count's p
    live = nab_budget.budget_scores(ch, [8, 16], horizon, 8, 50, warmup, (True, None))
    want = nab_members.event_scores(nab_budget.live_bonferroni(ch, [8, 16]), 50, warmup, horizon, 8)
    np.testing.assert_array_equal(live, want)


def test_a_tenth_of_the_budget_still_reports_a_slow_drift_the_rows_miss() -> None:
    n = 4000
    ch = np.ones((n, 3))
    ch[:, 2] = 0.05  # every row mildly surprising on the one rung: never alarm-grade alone
    got = nab_budget.budget_scores(ch, [16], None, 0, 0, 0, (False, 1.0))
    assert got.max() >= 0.999
    first = int(np.argmax(got >= 0.999))
    half = nab_blocks.block_event_scores(ch, 0, 0, None, 0, [16], 1.0)  # NAB23's half budget
    assert first > int(np.argmax(half >= 0.999))  # a smaller share needs more evidence
