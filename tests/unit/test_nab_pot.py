"""benchmarks/quality/nab_pot.py: the detector's tails anchored at their threshold (POT)."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.quality.nab_ladder import tail_channels
from benchmarks.quality.nab_pot import AnchoredNovelty, AnchoredTail, anchored_p
from twin_models.anomaly.calibration import EmpiricalTail
from twin_models.anomaly.novelty import SubsequenceNovelty


def _tails(values: list[float]) -> tuple[EmpiricalTail, AnchoredTail]:
    today, anchored = EmpiricalTail(window=10_000, k=20), AnchoredTail(window=10_000, k=20)
    for v in values:
        today.learn_one(v)
        anchored.learn_one(v)
    return today, anchored


def test_a_value_below_a_far_largest_one_is_rarer_and_one_above_an_even_top_is_not() -> None:
    body = [float(x) for x in np.linspace(0.0, 10.0, 1000)]
    n = len(body) + 1
    # one past incident far above everything else: today a value just below it is "second largest
    # ever", rank p 2 / (n + 1); anchored at the 21st largest it is 19 mean excesses out
    today, anchored = _tails([*body, 60.0])
    assert today.upper(59.0) == 2 / (n + 1)
    top = sorted(body)[-20:]
    u = top[0]
    beta = (sum(v - u for v in top[1:]) + 60.0 - u) / 20
    assert math.isclose(anchored.upper(59.0), 21 / (n + 1) * math.exp(-(59.0 - u) / beta))
    assert anchored.upper(59.0) < today.upper(59.0) / 1e6
    # the mirror image, on the lower tail
    today, anchored = _tails([-v for v in body] + [-60.0])
    assert math.isclose(anchored.lower(-59.0), 21 / (n + 1) * math.exp(-(59.0 - u) / beta))
    assert anchored.lower(-59.0) < today.lower(-59.0) / 1e6
    # an evenly spread top (a bounded tail): just beyond the largest, today 1 / (n + 1) (anchored at
    # it), anchored at the threshold the top's spread says it is 21 e^(-1.9) / (n + 1), ~3 times more
    today, anchored = _tails(body)
    x = 10.0 + 1e-9
    assert math.isclose(today.upper(x), 1 / len(body) / (1 + 1 / len(body)), rel_tol=1e-6)
    assert 2.5 * today.upper(x) < anchored.upper(x) < 3.5 * today.upper(x)
    # inside the threshold nothing changes
    for v in (0.5, 5.0, 9.7):
        assert anchored.upper(v) == today.upper(v) and anchored.lower(v) == today.lower(v)


def test_a_tied_top_gives_todays_tail_and_the_floor_holds() -> None:
    # the 21 largest all equal: no exceedance of the threshold, the floor is the scale as today
    values = [float(x) for x in np.linspace(0.0, 1.0, 200)] + [5.0] * 21
    today, anchored = _tails(values)
    for x in (5.0 + 1e-3, 5.1, 6.0):
        assert math.isclose(anchored.upper(x, 0.05), today.upper(x, 0.05), rel_tol=1e-12)
    assert anchored_p(1.0, [0.0, 0.0], 99, 0.5) == 1 / 100 * math.exp(-2.0)  # beta = the floor
    assert anchored_p(1.0, [0.0, 1.0, 3.0], 99, 0.5) == 3 / 100 * math.exp(-0.5)  # two exceedances


def test_value_tail_channels_take_the_variant() -> None:
    body = [float(x) for x in np.linspace(0.0, 10.0, 400)]
    xs = [*body, 60.0, *body[::8], 59.0]
    base = tail_channels(xs, 10, 10_000, 20, 0.005)
    pot = tail_channels(xs, 10, 10_000, 20, 0.005, AnchoredTail)
    assert np.array_equal(base[:, 2], pot[:, 2])  # the floors
    assert pot[-1, 0] < base[-1, 0] / 1e6  # the second incident, below the first's extreme


def _series(n: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(11)
    xs = 10.0 + 0.3 * np.sin(np.arange(n) * 2 * np.pi / 48) + rng.normal(0.0, 0.05, n)
    xs[500:508] += np.array([0.0, 2.0, 4.0, 4.0, 4.0, 2.0, 0.0, 0.0])  # a burst
    xs[900:908] += np.array([0.0, 1.5, 3.0, 3.0, 1.5, 0.0, 0.0, 0.0])  # a smaller one, later
    xs[1300:1304] -= 1.0  # a dip
    return xs


def test_a_rungs_p_is_the_threshold_anchored_tail_by_brute_force() -> None:
    xs = _series()
    today, anchored = SubsequenceNovelty(8, 4, 2000, k=20), AnchoredNovelty(8, 4, 2000, k=20)
    floor = 0.01
    above = smaller = larger = 0
    for x in xs:
        v = today.vector(float(x))
        dist = today.distances(v) if v is not None and today.n else None
        stat, p0 = today.p_value(dist, floor)
        stat1, p1 = anchored.p_value(dist, floor)
        assert stat1 == stat or (math.isnan(stat) and math.isnan(stat1))
        if p0 < 1.0:
            ref = np.sort(np.sqrt(today._nn[np.isfinite(today._nn)] / today.d))
            n = ref.size
            u = ref[-21]
            if stat <= u:
                assert p1 == p0
            else:
                above += 1
                ex = ref[-20:] - u
                ex = ex[ex > 0]
                beta = max(float(ex.mean()) if ex.size else 0.0, floor)
                assert math.isclose(p1, (ex.size + 1) / (n + 1) * math.exp(-(stat - u) / beta), rel_tol=1e-9)
                smaller += p1 < p0 * 0.999
                larger += p1 > p0 * 1.001
        today.learn(float(x), v, dist)
        anchored.learn(float(x), v, dist)
    assert np.array_equal(today._nn, anchored._nn)  # only the p changes, not what is learnt
    assert above > 50 and smaller > 5 and larger > 5
