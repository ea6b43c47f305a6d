"""benchmarks/quality/nab_members.py, NAB6 angle 1: honest p-values for a young detector."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import nab_members
from twin_models.anomaly.novelty import NoveltyDetector

SCALES = ((4, 4), (16, 4), (48, 8))


def _detector_counts(values: np.ndarray, history: int, value_history: int) -> np.ndarray:
    det = NoveltyDetector(warmup=0, scales=SCALES, history=history, value_history=value_history)
    out = np.zeros((len(values), 2 + len(SCALES)), dtype=int)
    for i, v in enumerate(values):
        feat = det.state.get("v.mean")
        if feat is not None:
            held = [sub._nn[: min(sub.n, sub.history)] for sub in feat.subseq]
            out[i] = [feat.values.n] * 2 + [int(np.isfinite(h).sum()) for h in held]
        det.learn_one({"v.mean": float(v)})
    return out


def test_channel_counts_are_the_detectors_own_reference_sizes() -> None:
    rng = np.random.default_rng(2)
    values = np.sin(np.arange(900) / 7) + rng.normal(0, 0.1, 900)
    history, value_history = 300, 500  # both rings wrap within the series
    expected = _detector_counts(values, history, value_history)
    counts = nab_members.channel_counts(len(values), SCALES, history, value_history)
    np.testing.assert_array_equal(counts, expected)
    assert counts[-1].tolist() == [500, 500, 300, 300, 300]


def test_upper_bound_asks_a_young_detector_for_stronger_evidence() -> None:
    # the excess beyond the maximum seen (in fitted tail scales) that reaches p = 1e-4, at three
    # ages: without the bound it shrinks as n grows; the bound adds more of it the younger n is
    z = np.linspace(0.001, 60.0, 60000)
    extra = []
    for n in (300.0, 3000.0, 8000.0):
        p = np.exp(-z) / (n + 1)
        bound = nab_members.tail_upper_bound(p, np.full(z.size, n))
        assert np.all(bound > p)
        extra.append(z[np.argmax(bound <= 1e-4)] - z[np.argmax(p <= 1e-4)])
    assert extra[0] > extra[1] > extra[2] > 0.0
    # inside the range seen: ge exceedances; the bound never falls below the rank p-value,
    # and a bound on many exceedances is tighter than a bound on one (relative to its rank p)
    ge = np.array([1.0, 50.0])
    p = (ge + 1) / (10000 + 1)
    bound = nab_members.tail_upper_bound(p, np.full(2, 10000.0))
    assert np.all(bound >= p) and bound[0] / p[0] > bound[1] / p[1]
    # rows not scored (p = 1) stay 1; a looser level (84 %) bounds less than 95 %
    assert nab_members.tail_upper_bound(np.ones(1), np.full(1, 500.0))[0] == 1.0
    tight = nab_members.tail_upper_bound(np.array([1e-5]), np.array([2000.0]), alpha=0.16)
    loose = nab_members.tail_upper_bound(np.array([1e-5]), np.array([2000.0]), alpha=0.05)
    assert 1e-5 < tight[0] < loose[0]


def test_predictive_tail_is_the_posterior_mean_of_the_exponential_tail() -> None:
    k, n = 20, 4000.0
    z = np.array([0.5, 3.0, 8.0])  # excess beyond the maximum, in fitted scales
    p = np.exp(-z) / (n + 1)
    pred = nab_members.tail_predictive(p, np.full(3, n), k)
    rate = np.random.default_rng(3).gamma(k, 1.0 / k, 200_000)  # the rate's posterior, mean 1
    mc = np.array([np.exp(-rate * zz).mean() for zz in z]) / (n + 1)
    np.testing.assert_allclose(pred, mc, rtol=0.02)
    assert np.all(pred > p) and pred[2] / p[2] > pred[0] / p[0]  # heavier the further out
    inside = np.array([3 / (n + 1), 1.0])  # rank p-values and unscored rows are kept
    np.testing.assert_array_equal(nab_members.tail_predictive(inside, np.full(2, n), k), inside)
