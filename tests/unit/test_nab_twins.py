"""benchmarks/quality/nab_twins.py: a pattern seen once before stays novel; the statistic is the
second of two non-overlapping nearest neighbours."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.quality.nab_twins import TwinFreeNovelty
from twin_models.anomaly.novelty import SubsequenceNovelty


def _series(seed: int = 3, n: int = 1200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10.0 + 0.3 * np.sin(np.arange(n) * 2 * np.pi / 48) + rng.normal(0.0, 0.05, n)


def _p_values(sub: SubsequenceNovelty, xs: np.ndarray) -> list[float]:
    out = []
    for x in xs:
        v = sub.vector(float(x))
        d = sub.distances(v) if v is not None and sub.n else None
        out.append(sub.p_value(d, 0.0)[1])
        sub.learn(float(x), v, d)
    return out


def test_a_repeated_incident_stays_novel_where_the_nearest_neighbour_calls_it_familiar() -> None:
    xs = _series()
    shape = np.array([0.0, 2.0, 4.0, 4.0, 4.0, 2.0, 0.0, 0.0])  # a burst to saturation and back
    xs[600:608] += shape  # first incident
    xs[984:992] += shape  # the same incident again
    nn = _p_values(SubsequenceNovelty(8, 4, history=2000), xs)
    twin = _p_values(TwinFreeNovelty(8, 4, history=2000), xs)
    first_nn, first_twin = min(nn[600:612]), min(twin[600:612])
    again_nn, again_twin = min(nn[984:996]), min(twin[984:996])
    assert first_nn < 0.01 and first_twin < 0.01  # both see the first one
    # the nearest neighbour of the repeat is the first incident; its second one is ordinary. The
    # p-value stays bounded below by the first incident's own references (ranked among them).
    assert again_twin < 0.5 * again_nn
    assert again_nn > 10.0 * first_nn and again_twin > 10.0 * first_twin


def test_statistic_is_the_second_of_two_non_overlapping_neighbours_by_brute_force() -> None:
    xs = _series(seed=5, n=400)
    m, d = 8, 4
    sub = TwinFreeNovelty(m, d, history=1000)
    vecs: list[np.ndarray] = []
    checked = 0
    for x in xs:
        v = sub.vector(float(x))
        dist = sub.distances(v) if v is not None and sub.n else None
        if v is not None and dist is not None and len(vecs) > 3 * m:
            past = np.array([float(np.sum((u - v) ** 2)) for u in vecs])
            past[len(vecs) - m:] = math.inf  # overlapping the newest
            i1 = int(np.argmin(past))
            far = [past[i] for i in range(len(vecs)) if abs(i - i1) >= m]
            expect = math.sqrt(min(far) / d)
            stat = sub.p_value(dist, 0.0)[0]
            if not math.isnan(stat):
                assert math.isclose(stat, expect, rel_tol=1e-6, abs_tol=1e-9)
                checked += 1
        sub.learn(float(x), v, dist)
        if v is not None:
            vecs.append(v.copy())
    assert checked > 200
    # every stored reference is at least its nearest neighbour's distance
    held = min(sub.n, sub.history)
    assert np.all(sub._nn[:held][np.isfinite(sub._nn[:held])] >= sub._d1[:held][np.isfinite(sub._nn[:held])])
