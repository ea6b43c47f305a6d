"""benchmarks/quality/nab_shape.py: the rungs on each subsequence's shape around its own mean."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.quality.nab_ladder import rung_on
from benchmarks.quality.nab_shape import ShapeNovelty


def _series() -> np.ndarray:
    rng = np.random.default_rng(3)
    xs = 10.0 + rng.normal(0.0, 0.05, 1600)
    xs[1200:] += 2.0  # a level shift, then the same noise at the new level
    xs[1500:1504] += np.array([0.5, 1.0, 0.5, 0.0])  # a small bump at the new level
    return xs


def test_the_same_noise_at_a_new_level_is_familiar_to_the_variant_only() -> None:
    xs = list(_series())
    today, shape = rung_on(xs, 100, 8, 4), rung_on(xs, 100, 8, 4, ShapeNovelty)
    # the step itself is a shape inside the subsequences that hold it: both rungs see it
    assert max(today[1200], shape[1200]) < 1e-30
    # the subsequences wholly at the new level: novel to today's rung (a level its memory lacks),
    # ordinary noise around their own mean to the variant
    after = slice(1208, 1226)
    assert today[after].max() < 0.05
    assert shape[after].min() > 0.1
    # a changed shape at the new level: among both rungs' rarest (only the step's own
    # subsequences, in the references, are farther)
    assert max(today[1500:1508].min(), shape[1500:1508].min()) < 0.01


def test_the_statistic_is_the_nearest_non_overlapping_mean_removed_paa() -> None:
    xs = _series()[1100:1400]
    m, d = 8, 4
    sub = ShapeNovelty(m, d, history=4000, k=20, min_samples=10)
    checked = 0

    def shape(e: int) -> np.ndarray:
        v = (xs[e - m + 1:e + 1] - xs[0]).reshape(d, -1).mean(axis=1)
        return v - v.mean()

    for t, x in enumerate(xs):
        vec = sub.vector(float(x))
        dist = sub.distances(vec) if vec is not None and sub.n else None
        stat, _ = sub.p_value(dist, 0.0)
        if vec is not None:
            assert np.allclose(vec, shape(t), rtol=0, atol=1e-9)
            ends = range(m - 1, t - m)  # every earlier subsequence ending more than m rows before
            if math.isfinite(stat) and len(ends):
                best = min(float(np.sum((shape(t) - shape(e)) ** 2)) for e in ends)
                assert math.isclose(stat, math.sqrt(best / d), rel_tol=1e-6, abs_tol=1e-9)
                checked += 1
        sub.learn(float(x), vec, dist)
    assert checked > 200
