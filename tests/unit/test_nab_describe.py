"""benchmarks/quality/nab_describe.py (NAB25): the descriptors of the trailing rows and their p."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import nab_describe


def test_descriptors_by_hand() -> None:
    secs = np.array([0, 300, 600, 1200, 1500, 1800, 1800, 2100, 2400, 2700, 3000, 3300, 3600, 3900, 4200,
                     4500, 4800, 5100, 5400, 5700], dtype=float)  # one doubled interval, one repeat
    x = np.array([1.0, 2.0, 2.0, 2.0, 5.0, 4.0, 4.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.0,
                  9.0, 9.0])
    np.testing.assert_array_equal(nab_describe.repeat_runs(x)[:7], [0, 0, 1, 2, 0, 0, 1])
    fam = nab_describe.descriptors(secs, x)
    assert set(fam) == {"sampling", "stuck run", "zero-diff share", "distinct share", "sd of diffs", "trend"}
    row, w = 19, 16  # the last 16 rows: x[4:20], secs[4:20]
    assert fam["sampling"][w][row] == 1  # the repeat (0 s); the doubled interval is at row 3, outside
    assert fam["stuck run"][w][row] == 3  # 9, 9, 9, 9: three repeats
    assert fam["zero-diff share"][w][row] == 4 / 16  # 4 -> 4 and three 9 -> 9
    assert fam["distinct share"][w][row] == 9 / 16  # 1 ... 9
    np.testing.assert_allclose(fam["trend"][w][row], np.polyfit(np.arange(16), x[4:20], 1)[0])
    np.testing.assert_allclose(fam["sd of diffs"][w][row], np.log(np.diff(x)[3:19].std() + 1e-12))
    assert np.isnan(fam["trend"][w][14]) and not np.isnan(fam["trend"][w][15])


def test_tail_p_ranks_only_the_past_at_least_w_rows_older() -> None:
    s = np.arange(300, dtype=float)
    p = nab_describe.tail_p(s, 10, 100, 0.0)
    assert np.all(p[:159] == 1.0) and p[159] < 1.0  # 50 values (rows 100 ... 149) known from row 159
    # row 200: rows 100 ... 190 known (91 values, all below 200): exponential beyond the largest
    beta = np.mean(np.arange(171, 191)) - 170.0
    np.testing.assert_allclose(p[200], 2.0 * np.exp(-(200 - 190) / beta) / 92)
    s[250] = 150.0  # back inside the range: rank p, not small
    assert nab_describe.tail_p(s, 10, 100, 0.0)[250] > 0.5


def test_a_stuck_run_is_rare_against_a_noisy_past() -> None:
    rng = np.random.default_rng(25)
    x = rng.normal(0.0, 1.0, 1200)
    x[1100:] = x[1099]  # the sensor sticks
    secs = np.arange(1200) * 300.0
    p = nab_describe.family_p(secs, x, 200)["stuck run"]
    assert p[200:1100].min() > 0.01  # no repeats at all before: nothing rare
    assert p[1100:1120].min() < 1e-6
