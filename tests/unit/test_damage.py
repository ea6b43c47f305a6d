"""The damage state (twin_models.rul.damage): recovery of synthetic Paris-law damage, calibrated
RUL intervals, pure and monotone forecasts, pickling, and its life inside the twin."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from tests.contract.streams import twin_windows
from tests.factories import metadata
from twin_models.rul.damage import DamagePrior, DamageState
from twin_models.rul.profile import OperatingProfile, time_of_usage, usage_integral
from twin_models.twin import AssetTwin, TwinConfig

DAY = 86400.0
REF_HZ = 25.0
PRIOR = DamagePrior(life_s=(2 * DAY, 60 * DAY))
NOISE = 0.02


def _truth(rng: np.random.Generator, prior: DamagePrior) -> dict[str, float]:
    """One asset's hidden law, drawn from the filter's own prior (so nominal coverage holds)."""
    q = rng.uniform(*prior.q)
    d0 = prior.d0
    g1 = (d0 ** (1 - q) - (d0 + 1) ** (1 - q)) / (q - 1)
    life = math.exp(rng.uniform(math.log(prior.life_s[0]), math.log(prior.life_s[1])))
    return {"q": q, "k": g1 / life, "d": rng.uniform(*prior.damage), "gamma": rng.uniform(*prior.gamma),
            "linear": rng.uniform(*prior.linear), "level": rng.uniform(*prior.fail_level)}


def _damage_at(law: dict[str, float], usage: float) -> float:
    """Closed-form Paris-law damage after ``usage`` (written independently of the module)."""
    d0, q = DamagePrior().d0, law["q"]
    z = (d0 + law["d"]) ** (1 - q) - (q - 1) * law["k"] * usage
    zf = (d0 + 1) ** (1 - q)
    return 1.0 if z <= zf else min(z ** (1 / (1 - q)) - d0, 1.0)


def _failure_s(law: dict[str, float], rate: float) -> float:
    d0, q = DamagePrior().d0, law["q"]
    need = ((d0 + law["d"]) ** (1 - q) - (d0 + 1) ** (1 - q)) / ((q - 1) * law["k"])
    return need / rate


def _stream(seed: int, checks: tuple[float, ...] = (0.2, 0.5, 0.8)) -> list[tuple[bool, bool, float]]:
    """Feed one synthetic asset (load 0.8, an hourly window) and, at each share of its life in
    ``checks``, record (RUL interval covers, damage interval covers, |damage error|)."""
    rng = np.random.default_rng(seed)
    law = _truth(rng, PRIOR)
    load = 0.8
    rate = load**3
    fail = _failure_s(law, rate)
    state = DamageState(reference_speed_hz=REF_HZ, noise=NOISE, prior=PRIOR, seed=seed)
    out, t = [], 0.0
    step = max(fail / 200.0, 600.0)
    for share in checks:
        while t < share * fail:
            t += step
            d = _damage_at(law, rate * t)
            y = law["level"] * (law["linear"] * d + (1 - law["linear"]) * d ** law["gamma"])
            state.update(t, y + NOISE * rng.standard_normal(), load, REF_HZ)
        fc = state.forecast(OperatingProfile.constant(load, REF_HZ), horizon_s=1e9)
        lo, hi = fc.rul_p10_s or math.inf, fc.rul_p90_s or math.inf
        d_lo, d_mid, d_hi = state.damage_quantiles()
        d_true = _damage_at(law, rate * t)
        out.append((lo <= fail - t <= hi, d_lo <= d_true <= d_hi, abs(d_mid - d_true)))
    return out


def test_filter_recovers_synthetic_damage_and_covers_its_rul_at_the_nominal_rate() -> None:
    """40 seeded assets whose laws are drawn from the filter's prior, 3 checks each: the 80 %
    intervals hold the truth about 80 % of the time. 120 checks that are not independent
    (3 per asset): with ~60 effective, the binomial sd is ~0.05, so [0.65, 0.95] is 3 sd around
    0.8 (a broken filter, e.g. the prior alone or a collapsed cloud, lands far outside)."""
    rows = [r for seed in range(40) for r in _stream(seed)]
    rul_cover = np.mean([r[0] for r in rows])
    dmg_cover = np.mean([r[1] for r in rows])
    assert 0.65 <= rul_cover <= 0.95, rul_cover
    assert 0.6 <= dmg_cover <= 0.97, dmg_cover
    late = [r[2] for i, r in enumerate(rows) if i % 3 == 2]  # at 80 % of life
    assert float(np.median(late)) < 0.1  # the damage itself is recovered, not just covered


def _state(seed: int = 1, n: int = 40) -> DamageState:
    rng = np.random.default_rng(seed)
    state = DamageState(reference_speed_hz=REF_HZ, noise=NOISE, prior=PRIOR, seed=seed)
    for i in range(n):
        state.update(i * 3600.0, 0.01 * i / n + NOISE * rng.standard_normal(), 0.75, REF_HZ)
    return state


def test_forecast_and_prediction_are_pure() -> None:
    state = _state()
    before = pickle.dumps(state)
    state.forecast(OperatingProfile.constant(0.9, REF_HZ), horizon_s=1e8, times_s=(DAY, 10 * DAY))
    state.predict_indicator(state.t_s or 0.0 + 3600.0, 0.9, REF_HZ)
    state.fit()
    state.damage_quantiles()
    assert pickle.dumps(state) == before


def test_lower_load_means_longer_life() -> None:
    state = _state()
    times = (5 * DAY, 20 * DAY, 60 * DAY)
    fcs = [state.forecast(OperatingProfile.constant(load, REF_HZ), horizon_s=1e9, times_s=times)
           for load in (1.0, 0.8, 0.6)]
    for hi, lo in zip(fcs, fcs[1:], strict=False):
        assert hi.rul_median_s is not None and lo.rul_median_s is not None
        assert hi.rul_median_s < lo.rul_median_s
        assert hi.rul_p10_s is not None and lo.rul_p10_s is not None and hi.rul_p10_s < lo.rul_p10_s
        assert all(a >= b for a, b in zip(hi.p_failure, lo.p_failure, strict=True))
    assert fcs[0].p_failure[-1] > fcs[-1].p_failure[-1]
    # a derate after 5 days lies between running at full load and derating now
    derate = OperatingProfile((0.0, 5 * DAY), (1.0, 0.6), (REF_HZ,) * 2, (20.0,) * 2, (1.0,) * 2)
    mid = state.forecast(derate, horizon_s=1e9).rul_median_s
    assert mid is not None and fcs[0].rul_median_s < mid < fcs[-1].rul_median_s  # type: ignore[operator]


def test_forecast_reports_horizon_and_indicator_quantiles() -> None:
    state = _state()
    fc = state.forecast(OperatingProfile.constant(0.75, REF_HZ), horizon_s=3600.0, times_s=(1800.0,))
    assert fc.rul_median_s is None and fc.rul_p90_s is None  # nothing fails within an hour
    assert fc.p_failure == (0.0,)
    assert [q for q, _ in fc.indicator] == [0.1, 0.5, 0.9]
    lo, mid, hi = (vals for _, vals in fc.indicator)
    assert all(a <= b <= c for a, b, c in zip(lo, mid, hi, strict=True))
    assert mid[-1] >= mid[0]  # damage only grows


def test_pickle_round_trip_continues_identically() -> None:
    state = _state()
    copy = pickle.loads(pickle.dumps(state))  # noqa: S301 - our own bytes
    for s in (state, copy):
        s.update(41 * 3600.0, 0.02, 0.8, REF_HZ)
    assert pickle.dumps(copy) == pickle.dumps(state)
    profile = OperatingProfile.constant(0.8, REF_HZ)
    assert copy.forecast(profile, horizon_s=1e9) == state.forecast(profile, horizon_s=1e9)


def test_bad_indicator_only_advances_time() -> None:
    state = _state()
    weights = state.weights.copy()
    state.update(50 * 3600.0, math.nan, 0.8, REF_HZ)
    assert state.t_s == 50 * 3600.0
    assert np.array_equal(state.weights, weights)


def test_prior_tightened_by_completed_lives() -> None:
    prior = DamagePrior()
    tight = prior.from_lives([(5 * DAY, 1.5), (8 * DAY, 1.7)])
    assert tight.life_s == (5 * DAY / 3, 8 * DAY * 3)
    assert tight.q == pytest.approx((1.3, 1.9))
    assert prior.from_lives([]) is prior


def test_usage_integral_and_its_inverse() -> None:
    plan = OperatingProfile((0.0, 100.0, 300.0), (1.0, 0.0, 0.5), (REF_HZ,) * 3, (20.0,) * 3,
                            (1.0, 1.0, 0.5))
    t = np.array([0.0, 50.0, 100.0, 200.0, 300.0, 500.0])
    u = usage_integral(plan, REF_HZ, t)
    assert u.tolist() == pytest.approx([0.0, 50.0, 100.0, 100.0, 100.0, 100.0 + 200 * 0.0625])
    back = time_of_usage(plan, REF_HZ, np.array([50.0, 100.0, 101.0]))
    assert back.tolist() == pytest.approx([50.0, 100.0, 300.0 + 1 / 0.0625])
    stop = OperatingProfile((0.0, 10.0), (1.0, 0.0), (REF_HZ,) * 2, (20.0,) * 2, (1.0,) * 2)
    assert time_of_usage(stop, REF_HZ, np.array([20.0]))[0] == math.inf


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"starts_s": (5.0,)}, "starts_s"), ({"load": (-1.0,)}, "load"), ({"duty": (1.5,)}, "duty"),
    ({"speed_hz": (0.0,)}, "speed_hz"), ({"load": (1.0, 1.0)}, "one value per segment"),
])
def test_bad_profiles_are_refused_by_name(kwargs: dict[str, tuple[float, ...]], word: str) -> None:
    base = {"starts_s": (0.0,), "load": (1.0,), "speed_hz": (REF_HZ,), "ambient_c": (20.0,), "duty": (1.0,)}
    with pytest.raises(ValueError, match=word):
        OperatingProfile(**{**base, **kwargs})


def test_twin_starts_damage_at_the_defect_and_resets_it_with_the_life() -> None:
    """The contract stream: a BPFO defect grows from window 200, the asset fails at 300."""
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10, calibrator_window=100))
    seen: list[tuple[int, bool, float | None]] = []
    fed: list[int] = []
    for fv in twin_windows():
        snap = twin.update(fv)
        seen.append((snap.life_id, twin.damage_state is not None, snap.damage_rul_s))
        fed.append(0 if twin.damage_state is None else twin.damage_state.n_obs)
    first = next(i for i, (_, has, _) in enumerate(seen) if has)
    assert 200 <= first < 300  # nothing before the first diagnosed defect
    assert all(rul is None for _, _, rul in seen[:first])
    assert any(rul is not None for _, _, rul in seen[first:300])
    assert fed[299] == 299 - first + 1  # one observation per window since the defect
    assert not seen[300][1] and seen[301][0] == seen[299][0] + 1  # the failure reset it
    assert max(fed[300:303]) <= 2  # the new life's state (the stream's defect persists) is new


def test_an_absurd_load_counts_as_missing_and_the_as_now_plan_stays_a_plan() -> None:
    """A window whose mean load is a sensor's absurd value (9e12, beyond what a plan may hold) is
    as a window without load: the same state after it, and the "as now" plan is still one the
    damage law runs (it raised 'OperatingProfile load must be within [0, 1e+09]', and the twin
    step failed on every later window of the asset)."""
    def run(bad_load: float) -> DamageState:
        s = DamageState(reference_speed_hz=REF_HZ, noise=NOISE, prior=PRIOR, seed=3)
        for h in range(30):
            load = bad_load if h == 12 else 0.8
            s.update(h * 3600.0, 0.05 + 0.001 * h, load, REF_HZ)
        return s

    absurd, missing = run(9e12), run(math.nan)
    assert absurd.rate == missing.rate
    assert np.array_equal(absurd.d, missing.d)
    assert absurd.load_mean == missing.load_mean
    assert absurd.as_now() == missing.as_now()
    fast = DamageState(reference_speed_hz=REF_HZ, noise=NOISE, prior=PRIOR, seed=3)
    fast.update(0.0, 0.05, 1.0, 9e5)  # a plausible but extreme speed: its rate as a load beyond MAX_LOAD
    fast.update(3600.0, 0.05, 1e8, 9e5)
    assert fast.as_now().load[0] <= 1e9


@pytest.mark.parametrize("first_load", [9e12, 7e8])
def test_an_absurd_load_at_the_first_evidence_is_no_reference_and_a_whatif_plan_stays_a_plan(
        first_load: float) -> None:
    """Round 32 (HOSTILE32): the load of the window where damage starts sets the law's reference
    when it is not a fraction of rated (a channel in %, kW); a sensor's 9e12 there, a value the law
    itself counts as missing, made every later window's rate ~1e-39 (RUL for ever) and a what-if
    at 1.5 x rated no plan ('OperatingProfile load must be within [0, 1e+09]')."""
    from twin_models.rul.damage_track import MAX_LOAD_FRACTION, start_state
    from twin_models.whatif import PlanSegment, Scenario

    absurd = start_state("pump-1", 0, REF_HZ, NOISE, PRIOR, load=first_load)
    missing = start_state("pump-1", 0, REF_HZ, NOISE, PRIOR, load=math.nan)
    assert absurd.reference_load == missing.reference_load == 1.0
    assert absurd.usage_rate(0.8, REF_HZ) == pytest.approx(0.8**3)
    plan = Scenario((PlanSegment(0.0, MAX_LOAD_FRACTION, None, None, None),))
    assert plan.profile(absurd.as_now(), absurd.reference_load).load == (MAX_LOAD_FRACTION,)
    assert start_state("pump-1", 0, REF_HZ, NOISE, PRIOR, load=40.0).reference_load == 40.0  # a load in %
