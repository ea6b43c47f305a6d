"""benchmarks/quality/nab_cid.py: the rungs' distance made complexity-invariant (CID)."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.quality.nab_cid import ComplexityInvariant, cid_channel
from benchmarks.quality.nab_ladder import rung_channel, tail_channels


def _series(seed: int = 3, n: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10.0 + np.sin(np.arange(n) * 2 * np.pi / 48) + rng.normal(0.0, 0.05, n)


def test_a_change_of_texture_is_more_novel_than_with_the_euclidean_distance() -> None:
    xs = _series()
    # the same daily shape, now chattering: +-0.15 from row to row for 64 rows (zero mean over
    # every 8-row PAA segment, so the PAA vectors, and ED, do not change)
    xs[1100:1164] += 0.15 * (-1.0) ** np.arange(64)
    vals = [float(x) for x in xs]
    floors = tail_channels(vals, 200, 10**6, 20, 0.005)[:, 2]
    ed = rung_channel(vals, floors, 200, 64, 8, 4000, 20)
    cid = cid_channel(vals, 200, 64, 8, 4000, 20, 0.005)
    # ED does not see it; CID does
    assert ed[1100:1170].min() > 0.01
    assert cid[1100:1170].min() < 1e-3  # (ED: 0.04; CID: 3.9e-4)
    # before the change both are ordinary: the variant does not just lower every p
    assert cid[300:1100].min() > 5e-4  # (ED: 1.2e-3 there; CID: 1.3e-3)


def test_statistic_is_the_cid_nearest_neighbour_by_brute_force() -> None:
    xs = _series(seed=5, n=400)
    xs[250:262] = 10.0  # a flat stretch: CE at the floor
    m, d = 8, 4
    sub = ComplexityInvariant(m, d, history=1000)
    sub.floor = 0.01
    vecs: list[np.ndarray] = []
    ces: list[float] = []
    raw: list[float] = []
    checked = 0
    for x in xs:
        raw.append(float(x))
        v = sub.vector(float(x))
        dist = sub.distances(v) if v is not None and sub.n else None
        if v is not None:
            seq = np.array(raw[-m:])
            ce = math.sqrt(float(np.sum(np.diff(seq) ** 2)))
            assert math.isclose(sub.last_ce, ce, rel_tol=1e-9, abs_tol=1e-12)
            if dist is not None and len(vecs) > 3 * m:
                e = 0.01 * math.sqrt(m - 1)
                past = np.array([float(np.sum((u - v) ** 2)) * (max(c, ce, e) / max(min(c, ce), e)) ** 2
                                 for u, c in zip(vecs, ces, strict=True)])
                past[len(vecs) - m:] = math.inf  # overlapping the newest
                stat = sub.p_value(dist, 0.0)[0]
                if not math.isnan(stat):
                    assert math.isclose(stat, math.sqrt(float(past.min()) / d), rel_tol=1e-6, abs_tol=1e-9)
                    checked += 1
        sub.learn(float(x), v, dist)
        if v is not None:
            vecs.append(v.copy())
            ces.append(ce)
    assert checked > 250


def test_factor_is_one_for_equal_complexities_and_bounded_by_the_floor() -> None:
    sub = ComplexityInvariant(9, 3)
    sub.floor = 0.5  # e = 0.5 * sqrt(8)
    e = 0.5 * math.sqrt(8)
    cf = sub.factor(np.array([3.0, 6.0, 0.0, 0.1]), 3.0)
    assert np.allclose(cf, [1.0, 2.0, 3.0 / e, 3.0 / e])
    sub.floor = 0.0  # a constant file so far: flat against flat alike, flat against rough unlike
    assert np.allclose(sub.factor(np.array([0.0, 2.0]), 0.0), [1.0, 1e12])
