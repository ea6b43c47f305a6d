"""NAB, PHM08 and PHM 2012 scores on hand-made cases whose scores are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin_models.evaluate.scoring import (
    PROFILES,
    CostMatrix,
    NabFile,
    label_rows,
    nab_score,
    phm08_score,
    phm2012_score,
    probationary_length,
    row_weights,
    scaled_sigmoid,
    window_rows,
)

N = 2000  # rows per toy file: probation = 300 rows
STD = PROFILES["standard"]


def _file(name: str, windows: list[tuple[int, int]], detect_at: list[int], n: int = N,
          level: float = 1.0) -> NabFile:
    ts = np.arange(n)
    s = np.zeros(n)
    s[detect_at] = level
    return NabFile(name, ts, s, windows)


def test_scaled_sigmoid_shape() -> None:
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.9866
    assert scaled_sigmoid(3.0) == pytest.approx(2 / (1 + math.exp(15)) - 1)
    assert scaled_sigmoid(3.0001) == -1.0
    y = np.linspace(-1, 3, 50)
    assert np.all(np.diff(scaled_sigmoid(y)) < 0)  # later is always worse


def test_probationary_length() -> None:
    assert probationary_length(1000) == 150
    assert probationary_length(4032) == 604
    assert probationary_length(22695) == 750
    assert probationary_length(3) == 0


def test_perfect_detector_scores_100_and_null_detector_0() -> None:
    files = [_file("a", [(500, 699)], [500]), _file("b", [(800, 899), (1500, 1599)], [800, 1500]),
             _file("c", [], [])]
    for name, res in nab_score(files).items():
        assert res.score == pytest.approx(100.0), name
        assert res.raw == pytest.approx(3 * PROFILES[name].tp)
    null = [_file("a", [(500, 699)], []), _file("b", [(800, 899), (1500, 1599)], [])]
    for name, res in nab_score(null).items():
        assert res.score == pytest.approx(0.0), name
        assert res.raw == pytest.approx(-3 * PROFILES[name].fn)
        assert res.threshold > 1.0  # nothing detected


def test_early_detection_earns_full_reward_late_detection_almost_nothing() -> None:
    rows = [(1000, 1199)]
    w, win = row_weights(N, rows, STD)
    assert w[1000] == pytest.approx(1.0)  # first row of the window: full A_TP
    assert w[1199] == pytest.approx(scaled_sigmoid(-1 / 200) / scaled_sigmoid(-1.0))
    assert 0 < w[1199] < 0.02
    assert w[1100] == pytest.approx(scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0))  # middle: ~0.85
    assert np.all(np.diff(w[1000:1200]) < 0)
    assert set(np.unique(win[1000:1200])) == {0}
    early = nab_score([_file("a", rows, [1000])])["standard"]
    late = nab_score([_file("a", rows, [1199])])["standard"]
    assert early.score == pytest.approx(100.0)
    # raw = w[1199] ~ 0.012: normalised (raw + 1) / 2 * 100 ~ 50.6
    assert late.score == pytest.approx(100 * (w[1199] + 1) / 2)


def test_only_the_first_detection_in_a_window_counts() -> None:
    rows = [(1000, 1199)]
    one = nab_score([_file("a", rows, [1050])])["standard"]
    many = nab_score([_file("a", rows, [1050, 1060, 1100, 1190])])["standard"]
    assert many.raw == pytest.approx(one.raw)


def test_false_positive_cost_grows_with_distance_after_the_window() -> None:
    rows = [(1000, 1099)]  # width 100
    w, _ = row_weights(N, rows, STD)
    assert w[1100] == pytest.approx(0.11 * scaled_sigmoid(1 / 99))  # just after: ~ -0.003
    assert -0.01 < w[1100] < 0
    assert w[1150] == pytest.approx(0.11 * scaled_sigmoid(51 / 99))
    assert w[1500] == pytest.approx(-0.11)  # more than 3 widths after: full cost
    assert w[400] == pytest.approx(-0.11)  # no preceding window: full cost
    near = nab_score([_file("a", rows, [1000, 1101])])["standard"]
    far = nab_score([_file("a", rows, [1000, 1900])])["standard"]
    assert near.raw == pytest.approx(1.0 + w[1101])
    assert far.raw == pytest.approx(1.0 - 0.11)
    assert near.score > far.score
    low_fp = nab_score([_file("a", rows, [1000, 1900])])["reward_low_FP_rate"]
    assert low_fp.raw == pytest.approx(1.0 - 0.22)


def test_missed_window_costs_a_fn_and_twice_as_much_in_the_low_fn_profile() -> None:
    files = [_file("a", [(500, 599), (1500, 1599)], [500])]
    res = nab_score(files)
    assert res["standard"].raw == pytest.approx(1.0 - 1.0)
    assert res["standard"].score == pytest.approx(50.0)
    assert res["reward_low_FN_rate"].raw == pytest.approx(1.0 - 2.0)
    # null -4, perfect 2: (-1 + 4) / 6
    assert res["reward_low_FN_rate"].score == pytest.approx(50.0)


def test_probationary_period_is_not_scored() -> None:
    # detections inside the first 300 rows neither cost (FP) nor earn
    clean = nab_score([_file("a", [(1000, 1099)], [1000])])["standard"]
    noisy = nab_score([_file("a", [(1000, 1099)], [1000, 10, 100, 299])])["standard"]
    assert noisy.raw == pytest.approx(clean.raw)
    assert noisy.per_file["a"]["fp"] == 0
    after = nab_score([_file("a", [(1000, 1099)], [1000, 300])])["standard"]
    assert after.raw == pytest.approx(clean.raw - 0.11)
    w, win = row_weights(N, [(1000, 1099)], STD)
    assert np.all(w[:300] == 0) and np.all(win[:300] == -2)


def test_threshold_optimisation_picks_the_level_between_true_and_false_detections() -> None:
    n = N
    ts = np.arange(n)
    s = np.full(n, 0.1)
    s[[1000, 1600]] = 0.9  # the start of each window
    s[[400, 500, 700]] = 0.5  # false positives, far from any window
    s[1700] = 0.95  # one strong false positive: worth accepting for two windows
    f = NabFile("a", ts, s, [(1000, 1099), (1600, 1649)])
    res = nab_score([f])["standard"]
    assert res.threshold == pytest.approx(0.9)
    assert res.raw == pytest.approx(2.0 + 0.11 * scaled_sigmoid(51 / 49))
    assert res.per_file["a"]["tp"] == 2 and res.per_file["a"]["fp"] == 1
    # when the only true detection is weak, the best is to detect nothing
    s2 = np.full(n, 0.1)
    s2[1080] = 0.3
    s2[300:1000:2] = 0.5  # 350 false positives above it
    res2 = nab_score([NabFile("a", ts, s2, [(1000, 1099)])])["standard"]
    assert res2.threshold > 1.0 and res2.score == pytest.approx(0.0)


def test_one_threshold_for_the_whole_corpus() -> None:
    # file a needs threshold <= 0.6 to be detected; file b has a false positive at 0.7:
    # one threshold must serve both (0.6: both windows, one FP)
    a = _file("a", [(1000, 1099)], [1000], level=0.6)
    b = _file("b", [(1000, 1099)], [1000], level=0.8)
    b.scores = np.asarray(b.scores, dtype=float)
    b.scores[1500] = 0.7
    res = nab_score([a, b])["standard"]
    assert res.threshold == pytest.approx(0.6)
    assert res.raw == pytest.approx(2.0 - 0.11)


def test_windows_are_found_by_timestamp_and_duplicates_at_the_edge() -> None:
    ts = [0, 1, 2, 3, 3, 4, 5, 6, 7, 8]
    assert window_rows(ts, [(2, 3)]) == [(2, 3)]  # the repeated 3 is outside, as in NAB
    assert window_rows(ts, [(4, 6), (0, 1)]) == [(0, 1), (5, 7)]
    assert window_rows(ts, [(2.5, 2.7)]) == []
    assert label_rows(len(ts), window_rows(ts, [(4, 6)])).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0]


def test_custom_profile_and_lengths_checked() -> None:
    res = nab_score([_file("a", [(1000, 1099)], [1000])], {"x": CostMatrix(tp=2.0, fp=0.5, fn=3.0)})
    assert res["x"].raw == pytest.approx(2.0) and res["x"].score == pytest.approx(100.0)
    with pytest.raises(ValueError, match="timestamps"):
        NabFile("bad", [1, 2, 3], [0.0])


def test_phm08_score() -> None:
    assert phm08_score(0.0) == 0.0
    assert phm08_score([10.0]) == pytest.approx(math.e - 1)  # late by 10 cycles
    assert phm08_score([-13.0]) == pytest.approx(math.e - 1)  # early by 13 cycles
    assert phm08_score([10.0, -13.0, 0.0]) == pytest.approx(2 * (math.e - 1))
    assert phm08_score(5.0) > phm08_score(-5.0)  # late costs more


def test_phm2012_score() -> None:
    assert phm2012_score([100.0], [100.0]) == pytest.approx(1.0)
    assert phm2012_score([100.0], [105.0]) == pytest.approx(0.5)  # 5 % late
    assert phm2012_score([100.0], [80.0]) == pytest.approx(0.5)  # 20 % early
    assert phm2012_score([100.0, 100.0], [105.0, 80.0]) == pytest.approx(0.5)
    assert phm2012_score(100.0, 110.0) < phm2012_score(100.0, 90.0)
    with pytest.raises(ValueError, match="non-zero"):
        phm2012_score([0.0], [1.0])


def _brute_force(files: list[NabFile], thr: float, cost: CostMatrix) -> float:
    """The corpus score at one threshold, the slow and obvious way."""
    total = 0.0
    for f in files:
        rows = window_rows(f.timestamps, f.windows)
        w, win = row_weights(len(f.scores), rows, cost)
        det = (np.asarray(f.scores) >= thr) & (win != -2)
        for k in range(len(rows)):
            hits = np.flatnonzero(det & (win == k))
            total += w[hits[0]] if hits.size else -cost.fn  # the first detection in the window
        total += w[det & (win == -1)].sum()
    return float(total)


def test_vectorised_sweep_matches_scoring_each_threshold_directly() -> None:
    from twin_models.evaluate.scoring import _prepare, sweep_thresholds

    rng = np.random.default_rng(5)
    files = []
    for k in range(4):
        n = 1500 + 200 * k
        s = np.round(rng.random(n) ** 8, 3)  # many ties, few high scores
        wins = [(400 + 100 * k, 499 + 100 * k), (1000, 1000 + 30 * (k + 1))][: 1 + k % 2]
        files.append(NabFile(f"f{k}", np.arange(n), s, wins))
    for name, cost in PROFILES.items():
        parts, n_windows = _prepare(files, cost)
        scores = np.concatenate([np.asarray(f.scores, dtype=float) for f, *_ in parts])
        weights = np.concatenate([w for *_, w, _ in parts])
        wins = np.concatenate([g for *_, g in parts])
        thresholds, raw = sweep_thresholds(scores, weights, wins, n_windows, cost.fn)
        assert np.all(np.diff(thresholds) < 0)
        for i in range(0, len(thresholds), max(1, len(thresholds) // 40)):
            assert raw[i] == pytest.approx(_brute_force(files, thresholds[i], cost)), (name, i)
        best = nab_score(files, {name: cost})[name]
        assert best.raw == pytest.approx(raw.max())
        assert sum(v["raw"] for v in best.per_file.values()) == pytest.approx(best.raw)
