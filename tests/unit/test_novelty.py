"""NoveltyDetector and EmpiricalTail: calibration, what they detect, event mode, the twin's API."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from twin_models.anomaly.calibration import EmpiricalTail
from twin_models.anomaly.novelty import NoveltyDetector, SubsequenceNovelty
from twin_models.checks import ALL_CHECKS

SMALL = {"scales": ((4, 4), (16, 4)), "history": 600, "value_history": 2000}


def _run(det: NoveltyDetector, values: np.ndarray, name: str = "v.mean") -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        x = {name: float(v)}
        out[i] = det.score_one(x)
        det.learn_one(x)
    return out


def test_empirical_tail_rank_p_values_are_uniform_on_exchangeable_data() -> None:
    rng = np.random.default_rng(0)
    tail = EmpiricalTail(window=5000)
    ps = []
    for v in rng.normal(size=4000):
        ps.append(tail.upper(float(v)))
        tail.learn_one(float(v))
    ps_arr = np.array(ps[100:])
    # P(p <= a) ~ a for a rank p-value
    for a in (0.01, 0.1, 0.5):
        assert abs(np.mean(ps_arr <= a) - a) < 0.02


def test_empirical_tail_extrapolates_beyond_the_range_and_is_two_sided() -> None:
    tail = EmpiricalTail(window=1000)
    for i in range(1000):
        tail.learn_one(float(i % 100))
    assert tail.upper(99.0) == pytest.approx(11 / 1001)
    assert tail.lower(0.0) == pytest.approx(11 / 1001)
    assert tail.upper(0.0) == 1.0
    beyond = [tail.upper(x) for x in (100.0, 105.0, 120.0)]
    assert beyond[0] < 1 / 1001 and beyond[0] > beyond[1] > beyond[2]
    assert tail.lower(-20.0) == pytest.approx(tail.upper(119.0))  # symmetric data, symmetric tails
    # a flat history: nothing beyond it is a tie, the floor sets the scale of novelty
    flat = EmpiricalTail()
    for _ in range(100):
        flat.learn_one(5.0)
    assert flat.upper(5.0) == 1.0 and flat.lower(5.0) == 1.0
    assert flat.upper(5.0 + 1e-9, floor=0.01) > 0.99 / 101


def test_empirical_tail_forgets_and_ignores_nan() -> None:
    tail = EmpiricalTail(window=10, min_samples=5)
    assert tail.upper(1.0) == 1.0  # still learning
    for v in [100.0] * 10 + [1.0] * 10 + [math.nan]:
        tail.learn_one(v)
    assert tail.n == 10 and tail.quantile(1.0) == 1.0


def test_subsequence_novelty_reference_needs_no_burn_in() -> None:
    # a periodic signal: once a period has been seen, its subsequences are not novel any more
    sub = SubsequenceNovelty(8, 8, history=500)
    period = np.sin(np.arange(24) * 2 * np.pi / 24)
    ps = []
    for i in range(480):
        x = float(period[i % 24])
        v = sub.vector(x)
        d = sub.distances(v) if v is not None and sub.n else None
        ps.append(sub.p_value(d, 1e-3)[1])
        sub.learn(x, v, d)
    assert min(ps[100:]) > 0.01
    v = sub.vector(3.0)  # a spike
    assert v is not None
    assert sub.p_value(sub.distances(v), 1e-3)[1] < 1e-3


def test_detector_flags_a_spike_a_level_shift_and_a_pattern_change() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    t = np.arange(n)
    base = 10 + 3 * np.sin(2 * np.pi * t / 100) + rng.normal(0, 0.2, n)
    cases = {
        "spike": (base.copy(), 2000),
        "shift": (base.copy(), 2000),
        "flat": (base.copy(), 2000),  # the daily pattern stops: the value stays mid-range
    }
    cases["spike"][0][2000] += 6
    cases["shift"][0][2000:] += 8
    cases["flat"][0][2000:2300] = 10 + rng.normal(0, 0.2, 300)
    for name, (values, at) in cases.items():
        s = _run(NoveltyDetector(warmup=100, **SMALL), values)
        assert s[300:at].max() < 0.999, name  # quiet before
        assert s[at : at + 30].max() > 0.9995, name  # and found within 30 windows


def test_flat_and_noise_free_periodic_signals_stay_silent() -> None:
    square = np.where((np.arange(3000) // 50) % 2 == 0, 20.0, 80.0)
    for values in (np.full(3000, 45.0), square):
        s = _run(NoveltyDetector(warmup=100, **SMALL), values)
        assert s.max() < 0.99


def test_event_mode_scores_a_level_shift_once() -> None:
    rng = np.random.default_rng(2)
    values = 5 + rng.normal(0, 0.5, 3000)
    values[2000:] += 10
    cont = _run(NoveltyDetector(warmup=100, **SMALL), values)
    event = _run(NoveltyDetector(warmup=100, refractory=300, **SMALL), values)
    hits = np.flatnonzero(event[2000:] > 0.999)
    assert hits.size >= 1 and hits[0] == 0  # event mode: reported at once,
    assert np.all(event[2001:2300] == 0.0)  # then silent for the refractory period
    assert (cont[2000:2300] > 0.999).sum() > 1  # (continuous mode reports it several times)


def test_prequential_pickle_and_twin_api() -> None:
    det = NoveltyDetector(warmup=20, **SMALL)
    for i in range(200):
        x = {"a.mean": float(i % 10), "a.std": 1.0, "b.mean": float(i % 3), "speed": math.nan}
        before = pickle.dumps(det)
        det.score_one(x)
        det.deviations(x)
        assert pickle.dumps(det) == before
        det.learn_one(x)
    assert det.ready and det.n_learned == 200
    assert set(det.state) == {"a.mean", "b.mean"}  # only the selected, finite features
    x = {"a.mean": 50.0, "b.mean": 2.0}  # b continues its pattern (200 % 3 == 2)
    devs = det.deviations(x)
    assert devs["a.mean"] > 4 and abs(devs["b.mean"]) < 3
    assert det.ratio("a.mean", 9.0) == pytest.approx(9.0 / det.state["a.mean"].values.quantile(0.5))
    assert math.isnan(det.ratio("unknown", 1.0))
    assert det.raw_one(x) == det.surprise(x) > 4
    assert det.channels_per_feature == 4
    clone = pickle.loads(pickle.dumps(det))
    assert clone.score_one(x) == det.score_one(x)


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_contract(check) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    stream = [{"x.mean": float(v)} for v in np.cumsum(rng.normal(size=400)) * 0.1]
    check(lambda: NoveltyDetector(warmup=20, scales=((4, 4),), history=100, value_history=100,
                                  refractory=50), stream)


def test_bad_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple"):
        NoveltyDetector(scales=((10, 3),)).learn_one({"x.mean": 1.0})
