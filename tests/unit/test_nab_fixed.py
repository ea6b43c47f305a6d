"""benchmarks/quality/nab_fixed.py (NAB9): fixed-threshold scoring per category and the two rules."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import nab_fixed
from twin_models.evaluate.scoring import NabFile, nab_score


def test_self_calibrated_is_the_file_s_own_rank_and_never_lowers_p() -> None:
    p = np.array([1.0, 1.0, 1e-4, 0.5, 1e-4, 0.2, 1e-5, 1e-4])
    q = nab_fixed.self_calibrated(p, warmup=2)
    # row 2: nothing scored before (warm-up rows do not count): untouched
    assert q[2] == 1e-4
    assert q[3] == 1.0  # the one earlier row (1e-4) was at least as surprising as 0.5: 1/1
    # row 4: one of the two rows before it (1e-4) was as surprising: 1/2
    assert q[4] == 0.5
    assert q[5] == max(0.2, 2 / 3)
    assert q[6] == 1e-5  # the file's most surprising row so far: its own p
    assert q[7] == 3 / 5  # three earlier rows at <= 1e-4 (1e-4, 1e-4, 1e-5) among five
    assert np.all(q >= p)


def test_self_calibrated_silences_an_always_surprising_file_but_not_a_calm_one() -> None:
    rng = np.random.default_rng(3)
    calm = rng.uniform(size=2000)
    calm[1500] = 1e-5
    noisy = calm.copy()
    noisy[100:1500:50] = 1e-5  # 28 earlier rows as surprising as row 1500
    assert nab_fixed.self_calibrated(calm, 0)[1500] == 1e-5
    assert nab_fixed.self_calibrated(noisy, 0)[1500] > 0.01


def test_recent_min_looks_back_only() -> None:
    x = np.array([5.0, 4.0, 9.0, 9.0, 9.0, 1.0, 9.0, 9.0])
    np.testing.assert_array_equal(nab_fixed.recent_min(x, 3), [5, 4, 4, 4, 9, 1, 1, 1])
    np.testing.assert_array_equal(nab_fixed.recent_min(x, 1), x)


def test_confirmation_needs_the_change_member_within_the_last_rows() -> None:
    p = np.full(20, 1e-4)
    change = np.ones((20, 10))
    change[5, 3] = 0.004  # Bonferroni over 10 channels: 0.04 <= 0.05
    change[15, 0] = 0.006  # 0.06: not enough
    q = nab_fixed.confirmed(p, change)
    confirmed_rows = np.flatnonzero(q < 1.0)
    np.testing.assert_array_equal(confirmed_rows, np.arange(5, 5 + nab_fixed.CONFIRM_ROWS))
    assert np.all(q[confirmed_rows] == 1e-4)  # a confirmed row keeps its own p
    assert np.all(nab_fixed.confirmed(p, change, level=0.1)[15:20] == 1e-4)


def _toy(name: str, hits: list[int], windows: list[tuple[int, int]]) -> NabFile:
    scores = np.zeros(2000)
    scores[hits] = 0.9995  # p = 0.0005: a detection at p <= 0.001, not at p <= 0.0004
    return NabFile(name, np.arange(2000), scores, windows)


def test_fixed_report_scores_each_category_alone_at_the_fixed_threshold() -> None:
    rows = [_toy("catA/a.csv", [1010], [(1000, 1100)]),  # found early in its window
            _toy("catA/b.csv", [], [(1000, 1100)]),  # missed
            _toy("catB/c.csv", [1500], [(1000, 1100)]),  # a false row far after its window
            _toy("catC/d.csv", [1500], [])]  # no window: only a false row
    rep = nab_fixed.fixed_report(rows, 0.001)
    assert rep["counts"] == {"tp": 1, "fn": 2, "fp": 2}
    a = nab_score(rows[:2], thresholds={"standard": 0.999})
    assert rep["categories"]["catA"]["standard"] == round(a["standard"].score, 2)
    assert 40 < rep["categories"]["catA"]["standard"] < 50  # one of two windows, found early
    assert rep["categories"]["catB"]["standard"] < 0  # a miss and a false row: below the null
    assert rep["categories"]["catC"]["standard"] == "raw -0.11"  # no window: its FP cost
    assert rep["categories"]["catA"]["fp"] == 0 and rep["categories"]["catC"]["fp"] == 1
    strict = nab_fixed.fixed_report(rows, 0.0004)
    assert strict["counts"] == {"tp": 0, "fn": 3, "fp": 0} and strict["pooled"]["standard"] == 0.0
