"""The baseline detector's per-feature statistics as arrays are River's ``stats.Var`` bit for bit
(issue 10, part TWIN4), and detectors pickled with one ``Var`` per feature resume unchanged."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
from river import stats

from twin_models.anomaly.baseline import BaselineDetector, is_log_feature
from twin_models.anomaly.feature_stats import FeatureStats

NAMES = ["vib.rms", "vib.kurtosis", "temp.mean", "temp.std", "temp.slope_per_h", "p.mean", "late.mean"]


def _stream(seed: int, n: int) -> list[dict[str, float]]:
    """Windows with amplitudes (log features), signed values, -0.0, non-finite values and a
    feature that appears late."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        names = NAMES if i > n // 2 else NAMES[:-1]
        x = {k: rng.gauss(5.0, 2.0) * rng.choice([1e-3, 1.0, 1e4]) for k in names}
        x["p.mean"] = rng.choice([0.0, -0.0, 1.5, -2.25, x["p.mean"]])
        if rng.random() < 0.1:
            x[rng.choice(NAMES[:-1])] = rng.choice([math.nan, math.inf, -math.inf])
        out.append(x)
    return out


def _transform(name: str, value: float) -> float:
    return math.log(max(value, 1e-12)) if is_log_feature(name) else value


def _river(xs: list[dict[str, float]]) -> dict[str, stats.Var]:
    """The statistics as the detector kept them before: one River ``Var`` per feature."""
    out: dict[str, stats.Var] = {}
    for x in xs:
        for name, value in x.items():
            if math.isfinite(value):
                out.setdefault(name, stats.Var()).update(_transform(name, value))
    return out


def _old_deviations(ref: dict[str, stats.Var], x: dict[str, float], log_floor: float = 0.05,
                    rel_floor: float = 0.01) -> dict[str, float]:
    """BaselineDetector.deviations as written before the arrays."""
    out = {}
    for name, value in x.items():
        var = ref.get(name)
        if var is None or var.mean.n < 2 or not math.isfinite(value):
            continue
        v = _transform(name, value)
        mean = var.mean.get()
        floor = log_floor if is_log_feature(name) else rel_floor * abs(mean)
        out[name] = (v - mean) / max(math.sqrt(max(var.get(), 0.0)), floor, 1e-9)
    return out


def _bits(values: list[float]) -> list[str]:
    return [float(v).hex() for v in values]


def test_running_statistics_are_river_var_bit_for_bit() -> None:
    for seed in range(5):
        xs = _stream(seed, 200)
        fs = FeatureStats(is_log_feature)
        for x in xs:
            fs.update(x)
        ref = _river(xs)
        assert fs.names == list(ref)  # features in order of their first finite value
        assert _bits([fs.count(k) for k in ref]) == _bits([v.mean.n for v in ref.values()])
        assert _bits([fs.mean_of(k) for k in ref]) == _bits([v.mean.get() for v in ref.values()])
        assert _bits([fs.variance(k) for k in ref]) == _bits([v.get() for v in ref.values()])


def test_deviations_are_the_per_feature_formula_bit_for_bit_in_the_window_order() -> None:
    for seed in range(5):
        xs = _stream(100 + seed, 150)
        fs = FeatureStats(is_log_feature)
        for i, x in enumerate(xs):
            want = _old_deviations(_river(xs[:i]), x)
            got = fs.deviations(x, 0.05, 0.01)
            assert list(got) == list(want), i
            assert _bits(list(got.values())) == _bits(list(want.values())), i
            fs.update(x)


def test_a_detector_pickled_with_one_river_var_per_feature_resumes_unchanged() -> None:
    """Recovery state written before the arrays holds ``stats: dict[str, Var]``."""
    xs = _stream(7, 120)
    new = BaselineDetector(warmup=10)
    for x in xs[:60]:
        new.learn_one(x)
    old_state = dict(new.__dict__)
    old_state["stats"] = _river([x for x in xs[:60]])
    old = BaselineDetector.__new__(BaselineDetector)
    old.__setstate__(pickle.loads(pickle.dumps(old_state)))
    assert isinstance(old.stats, FeatureStats)
    assert pickle.dumps(old) == pickle.dumps(new)
    for x in xs[60:]:
        assert old.score_one(x) == new.score_one(x)
        assert old.deviations(x) == new.deviations(x)
        old.learn_one(x)
        new.learn_one(x)
    assert pickle.dumps(old) == pickle.dumps(new)


def test_the_statistics_pickle_without_their_cached_plans() -> None:
    fs = FeatureStats(is_log_feature)
    for x in _stream(3, 30):
        fs.update(x)
        fs.deviations(x, 0.05, 0.01)
    copy = pickle.loads(pickle.dumps(fs))
    assert copy._plans == {} and fs._plans  # noqa: SLF001 - the cache is not state
    assert copy.names == fs.names and np.array_equal(copy.sq, fs.sq)
    assert pickle.dumps(copy) == pickle.dumps(fs)
