"""benchmarks/quality/nab_features.py (NAB24): the window-features member's vectors and p-values."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import nab_features


def test_window_features_by_hand() -> None:
    x = np.array([2.0, 4.0, 3.0, 7.0, 5.0])  # running min 2; running range 2, 2, 5, 5 at rows 1-4
    f = nab_features.window_features(x, 3)
    assert np.isnan(f[:2]).all()
    win = x[1:4]  # row 3: the last three values 4, 3, 7
    slope = np.polyfit(np.arange(3), win, 1)[0]
    want = np.array([3.0 - 2.0, 7.0 - 2.0, win.mean() - 2.0, win.std(), slope * 2]) / 5.0
    np.testing.assert_allclose(f[3], want)
    assert np.all(nab_features.window_features(np.full(6, 4.0), 3)[2:] == 0.0)  # no range yet: zeros


def test_feature_channel_is_quiet_on_a_repeating_pattern_and_sees_a_change_in_spread() -> None:
    rng = np.random.default_rng(24)
    t = np.arange(3000)
    x = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.05, len(t))
    x[2500:] += rng.normal(0, 0.6, 500)  # the same level and shape, a much larger spread
    floors = np.full(len(x), 0.005 * 2.0)
    p = nab_features.feature_channel(x, floors, 200, 8, 8064)
    assert np.all(p[:200] == 1.0)  # warm-up: nothing scored
    assert p[200:2500].min() > 2e-3  # about 2300 ordinary rows: none near the alarm grade
    # the spread change reaches the alarm grade within 100 rows (not the member's 1e-4 share: the
    # running range grows with the noise, so the range-scaled features move less than the values)
    assert p[2500:2600].min() < 1e-3


def test_a_constant_series_never_alarms() -> None:
    p = nab_features.feature_channel(np.full(1500, 3.0), np.zeros(1500), 100, 64, 8064)
    assert np.all(p == 1.0)
