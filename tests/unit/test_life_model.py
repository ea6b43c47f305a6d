"""The bearing life model (issue 12, FEMTO): indicator, posterior over the life, fleet wiring."""

from __future__ import annotations

import math
import pickle
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from flows.config.pipeline import ConfigError, load_config
from twin_models.evaluate.scoring import phm2012_accuracy, phm2012_score
from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView
from twin_models.rul.life_indicator import LifeIndicator
from twin_models.rul.life_model import GRID, LifeModel, LifeRecord, life_record

T0 = datetime(2012, 1, 1, tzinfo=UTC)


def _rms(rng: np.random.Generator, n: int, gain: float = 1.0) -> np.ndarray:
    """Window RMS of a bearing: flat with 10 % scatter, then an exponential rise over the last third."""
    t = np.arange(n) / n
    rise = np.exp(np.clip(t - 2 / 3, 0.0, None) * 9.0)
    return gain * 0.4 * rise * np.exp(rng.normal(0.0, 0.1, n))


def _indicator(values: np.ndarray, **kw: float) -> list[float]:
    ind = LifeIndicator(("*.rms",), **kw)  # type: ignore[arg-type]
    return [ind.update({"acc_h.rms": float(v), "acc_h.kurtosis": 99.0}) for v in values]


def test_indicator_is_monotone_rises_with_degradation_and_is_scale_free() -> None:
    rms = _rms(np.random.default_rng(1), 300)
    z = np.array(_indicator(rms))
    assert np.all(np.diff(z) >= 0.0) and z.min() >= 0.0
    assert z[:30].max() == 0.0  # the baseline windows
    assert z[190] < 0.3 < 1.5 < z[-1]  # flat while healthy, up by ~3 (log units) at the end
    assert _indicator(rms * 25.0) == pytest.approx(list(z))  # unit and gain cancel


def test_indicator_uses_no_future_window() -> None:
    rms = _rms(np.random.default_rng(2), 200)
    full = _indicator(rms)
    for k in (40, 120, 199):
        assert _indicator(rms[:k]) == full[:k]


def test_indicator_ignores_missing_values_and_other_features() -> None:
    ind = LifeIndicator(("*.rms",), baseline_windows=1, smoothing=1.0)
    assert ind.update({"a.rms": 1.0}) == 0.0
    assert ind.update({"a.rms": math.nan, "a.peak": 50.0}) == 0.0
    assert ind.update({"a.rms": 2.0, "b.rms": 2.0}) == pytest.approx(math.log(2.0))
    with pytest.raises(ValueError, match="smoothing"):
        LifeIndicator(("*.rms",), smoothing=0.0)


def _lives(rng: np.random.Generator, n: int, mu: float = math.log(3 * 3600), sd: float = 0.3,
           speed: float = 30.0) -> list[LifeRecord]:
    """Completed lives of known law: log-normal lengths at ``speed`` (at evenly spaced quantiles,
    so that few and many lives have the same spread), indicator of ``_rms``."""
    out = []
    for life_s in np.exp(mu + sd * stats.norm.ppf((np.arange(n) + 0.5) / n)):
        k = 180
        z = _indicator(_rms(rng, k))
        rec = life_record(list(np.linspace(0, life_s, k, endpoint=False)), z, life_s, 0.0, speed)
        assert rec is not None
        out.append(rec)
    return out


def test_posterior_is_honest_about_few_lives_and_sharpens_with_the_indicator() -> None:
    rng = np.random.default_rng(3)
    many, few = LifeModel(_lives(rng, 40)), LifeModel(_lives(rng, 3))
    life = 3 * 3600.0
    healthy = many.predict(0.3 * life, 0.0, 30.0)
    lo, hi = few.predict(0.3 * life, 0.0, 30.0), many.predict(0.3 * life, 0.0, 30.0)
    assert (lo.upper_s - lo.lower_s) > (hi.upper_s - hi.lower_s)  # wide with 3 lives
    # late in the life the indicator has risen (as in the lives it learnt): short, tight RUL
    z_late = float(np.interp(0.95, GRID, np.mean([r.curve for r in many.records], axis=0)))
    late = many.predict(0.95 * life, z_late, 30.0)
    truth = 0.05 * life
    assert late.lower_s <= truth <= late.upper_s
    assert 0.4 * truth < late.rul_s < 2.0 * truth
    assert late.rul_s < healthy.rul_s and late.upper_s - late.lower_s < healthy.upper_s - healthy.lower_s
    # the point maximises the expected accuracy: late errors cost more, so it sits below the median
    rul, w = many.posterior(0.3 * life, 0.0, 30.0)
    order = np.argsort(rul)
    median = rul[order][np.searchsorted(np.cumsum(w[order]), 0.5)]
    assert healthy.rul_s < median and healthy.source == "fleet_life"


def test_life_is_counted_in_revolutions() -> None:
    model = LifeModel(_lives(np.random.default_rng(4), 10, speed=30.0))
    fast, slow = model.predict(600.0, 0.0, 30.0), model.predict(600.0, 0.0, 15.0)
    assert slow.rul_s > 1.5 * fast.rul_s
    with pytest.raises(ValueError, match="at least 2"):
        LifeModel(model.records[:1])


def test_phm2012_accuracy_is_elementwise_and_quiet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = phm2012_accuracy([100.0, 100.0, 1.0], [105.0, 80.0, 1e6])
    assert a == pytest.approx([0.5, 0.5, 0.0])
    assert phm2012_score([100.0, 100.0], [105.0, 80.0]) == pytest.approx(0.5)


def _snap(asset: str, ts: datetime, life: int = 0) -> TwinSnapshot:
    return TwinSnapshot(asset, ts, ts - timedelta(minutes=1), "healthy", 0.0, 1.0, None, None, None,
                        False, 0, life)


def test_fleet_view_learner_and_model_carry_the_life_model() -> None:
    cfg = FleetRulConfig(life_model=True, life_baseline_windows=10, model_delay_s=600.0)
    rng, learner = np.random.default_rng(6), FleetLearner("femto", cfg)
    model: FleetModel | None = None
    start, sources = T0, []
    for k, n in enumerate((150, 90, 120, 100)):
        view = FleetView("femto", cfg, speed_hz=30.0)
        for i, v in enumerate(_rms(rng, n)):
            ts = start + timedelta(minutes=i + 1)
            sources.append((k, view.update(_snap(f"b{k}", ts), {"acc.rms": float(v)}, model).rul_source))
        failure = AssetEvent(f"b{k}", start + timedelta(minutes=n + 1), "failure")
        for chunk in view.close(failure, cfg.life_chunk_rows):
            for m in learner.learn(chunk):
                model = m
        start = failure.timestamp + timedelta(hours=1)
    assert model is not None and len(model.life_records) == 4
    # from the first window (its end: the age of the bearing counts from there too) to the failure
    assert model.life_records[0][1].life_s == pytest.approx(150 * 60.0)
    # the first two bearings had fewer than two lives behind them: no life model
    assert {s for k, s in sources if k < 2} == {""} and {s for k, s in sources if k == 3} == {"fleet_life"}
    # lives that failed less than model_delay_s ago do not count
    last = model.life_records[-1][0]
    before = model.predict_life(last - 1.0, 60.0, 0.0, 30.0)
    assert model.predict_life(last + 599.0, 60.0, 0.0, 30.0) == before
    assert model.predict_life(model.life_records[1][0] + 599.0, 60.0, 0.0, 30.0) is None


@pytest.mark.parametrize(("text", "needle"), [
    ("life_features = []", "twin.fleet.life_features"),
    ("life_smoothing = 0.0", "twin.fleet.life_smoothing must be > 0"),
    ("life_baseline_windows = 0", "twin.fleet.life_baseline_windows must be >= 1"),
    ("life_model = 2", "expected true or false"),
])
def test_bad_life_model_settings_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[pipeline.twin.fleet]\n{text}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_a_view_pickled_mid_life_resumes_the_same_indicator() -> None:
    cfg = FleetRulConfig(life_model=True, life_baseline_windows=5)
    rms = _rms(np.random.default_rng(8), 60)
    view = FleetView("femto", cfg, speed_hz=25.0)
    for i, v in enumerate(rms[:30]):
        view.update(_snap("b", T0 + timedelta(minutes=i + 1)), {"a.rms": float(v)}, None)
    copy = pickle.loads(pickle.dumps(view))
    for i, v in enumerate(rms[30:], start=30):
        for w in (view, copy):
            w.update(_snap("b", T0 + timedelta(minutes=i + 1)), {"a.rms": float(v)}, None)
    assert list(copy.life_hi) == list(view.life_hi) and view.life_hi[-1][1] > 0.0
    old = FleetView("femto", FleetRulConfig())  # a view pickled before the life model
    state = {k: v for k, v in old.__dict__.items()
             if k not in ("speed_hz", "indicator", "life_t0_s", "life_hi")}
    restored = FleetView.__new__(FleetView)
    restored.__setstate__(state)
    assert restored.indicator is None and restored.speed_hz is None and len(restored.life_hi) == 0
