"""benchmarks/quality/nab_sd.py: the rungs' segments by their mean and standard deviation."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.quality.nab_ladder import rung_on
from benchmarks.quality.nab_sd import MeanSdNovelty
from twin_models.anomaly.novelty import SubsequenceNovelty


def _series() -> np.ndarray:
    rng = np.random.default_rng(11)
    xs = 10.0 + rng.normal(0.0, 0.02, 1400)
    # rows 1200-1215 oscillate +-1 around the same level: every 2-row segment keeps its mean
    xs[1200:1216] = 10.0 + np.tile([1.0, -1.0], 8)
    return xs


def test_a_segment_turning_noisy_at_the_same_mean_is_seen_by_the_variant_only() -> None:
    xs = list(_series())
    today, sd = rung_on(xs, 100, 8, 4), rung_on(xs, 100, 8, 4, MeanSdNovelty)
    inside = slice(1207, 1216)  # the subsequences whose 8 rows all oscillate (the first ones also
    # hold a segment half in, half out of it, whose mean moves: both rungs see those)
    # today's rung averages each 2-row segment: the oscillation is its usual noise
    assert today[inside].min() > 0.1
    # with each segment's standard deviation every one of them is among the rung's rarest (the
    # first, 1207, far beyond anything seen; the later ones ranked after the oscillation's own
    # earlier subsequences, which joined the references with large distances)
    assert sd[inside].max() < 0.02
    assert sd[1207] < 1e-3
    assert not np.array_equal(today, sd)


def test_the_statistic_is_the_nearest_non_overlapping_mean_and_sd_vector() -> None:
    xs = _series()[1000:1300]
    m, d = 8, 4
    sub = MeanSdNovelty(m, d, history=4000, k=20, min_samples=10)
    ref = SubsequenceNovelty(m, d, history=4000, k=20, min_samples=10)
    checked = 0
    for t, x in enumerate(xs):
        vec = sub.vector(float(x))
        dist = sub.distances(vec) if vec is not None and sub.n else None
        stat, _ = sub.p_value(dist, 0.0)
        if vec is not None:
            seg = (xs[t - m + 1:t + 1] - xs[0]).reshape(d, -1)
            want = np.concatenate([seg.mean(axis=1), seg.std(axis=1)])
            assert np.allclose(vec, want, rtol=0, atol=1e-9)
            # brute force: every earlier subsequence ending more than m rows before this one
            ends = range(m - 1, t - m)
            if math.isfinite(stat) and len(ends):
                best = min(float(np.sum((want - np.concatenate([s.mean(axis=1), s.std(axis=1)])) ** 2))
                           for s in ((xs[e - m + 1:e + 1] - xs[0]).reshape(d, -1) for e in ends))
                assert math.isclose(stat, math.sqrt(best / d), rel_tol=1e-6, abs_tol=1e-9)
                checked += 1
        sub.learn(float(x), vec, dist)
        ref.learn(float(x), ref.vector(float(x)), None)
    assert checked > 200
