"""What-if runs (twin_models.whatif): forks that never change the twin, plans, honest answers."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.streams import twin_windows
from tests.factories import metadata
from twin_models.records import FeatureVector, PlanSegment
from twin_models.rul.profile import OperatingProfile
from twin_models.rul.relation import IndicatorRelation
from twin_models.twin import AssetTwin, TwinConfig
from twin_models.whatif import NO_DAMAGE, Scenario, run_whatif
from twin_models.whatif_checkpoint import basis_from_checkpoint, checkpoint_of

HORIZON = 90 * 86400.0


def _twin(n: int) -> tuple[AssetTwin, FeatureVector]:
    """The contract stream's pump after ``n`` windows (its defect grows from window 200)."""
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10, calibrator_window=100))
    windows = twin_windows()[:n]
    for fv in windows:
        twin.update(fv)
    return twin, windows[-1]


Degrading = tuple[AssetTwin, FeatureVector]


@pytest.fixture(scope="module")
def degrading() -> Degrading:
    twin, last = _twin(225)
    assert twin.damage_state is not None
    return twin, last


def test_a_whatif_never_changes_the_twin(degrading: Degrading) -> None:
    twin, last = degrading
    before = pickle.dumps(twin)
    later = last.window_end + timedelta(days=2)  # the fork is moved forward; the twin is not
    result = run_whatif(twin, Scenario.constant(load=0.7), now=later, horizon_s=HORIZON,
                        dates=(later + timedelta(days=1),))
    assert result.status == "ok"
    assert pickle.dumps(twin) == before


def test_lower_load_gives_a_longer_life_and_a_lower_risk(degrading: Degrading) -> None:
    twin, last = degrading
    now = last.window_end
    dates = (now + timedelta(hours=12), now + timedelta(days=1))
    runs = [run_whatif(twin, Scenario.constant(load=load), now=now, horizon_s=HORIZON, dates=dates)
            for load in (0.6, 0.8, 1.0)]
    medians = [r.scenario.rul_median_s for r in runs if r.scenario]
    assert all(m is not None for m in medians) and len(medians) == 3
    assert medians[0] > medians[1] > medians[2]  # type: ignore[operator]
    p_first = [r.scenario.p_failure[1][1] for r in runs if r.scenario]
    assert p_first[0] <= p_first[1] <= p_first[2]
    assert runs[0].baseline == runs[2].baseline  # running as now does not depend on the plan
    assert [d for d, _ in runs[0].scenario.p_failure] == list(dates)  # type: ignore[union-attr]


def test_trajectory_maps_the_indicator_to_the_failure_feature(degrading: Degrading) -> None:
    twin, last = degrading
    result = run_whatif(twin, Scenario.constant(load=1.0), now=last.window_end, horizon_s=HORIZON)
    assert twin.health is not None and result.scenario is not None
    traj = result.scenario.trajectory
    assert len(traj) >= 2 and traj[0].at == result.timestamp
    span = twin.health.threshold - twin.health.baseline.get()
    for p in traj:
        assert p.failure_feature == pytest.approx(twin.health.baseline.get() + p.indicator * span)
        assert p.envelope_line is not None and p.temperature_c is not None  # bpfo line, temperature seen
    assert [p.indicator for p in traj] == sorted(p.indicator for p in traj)  # damage never heals
    warm = run_whatif(twin, Scenario.constant(load=1.0, ambient_c=35.0), now=last.window_end,
                      horizon_s=HORIZON)
    assert warm.scenario is not None
    assert warm.scenario.trajectory[0].temperature_c == pytest.approx(traj[0].temperature_c + 15.0)  # type: ignore[operator]


def test_an_asset_without_damage_gets_an_honest_answer() -> None:
    twin, last = _twin(60)
    assert twin.damage_state is None
    dates = (last.window_end + timedelta(days=1),)
    result = run_whatif(twin, Scenario.constant(load=0.8), now=last.window_end, horizon_s=HORIZON,
                        dates=dates)
    assert (result.status, result.reason) == ("no_damage", NO_DAMAGE)
    for outcome in (result.scenario, result.baseline):
        assert outcome is not None and outcome.rul_median_s is None
        assert outcome.p_failure == ((dates[0], 0.0),)


def test_operating_profiles_run_as_given(degrading: Degrading) -> None:
    twin, last = degrading
    state = twin.damage_state
    assert state is not None
    as_now = state.as_now()
    same = run_whatif(twin, as_now, now=last.window_end, horizon_s=HORIZON)
    assert same.scenario == same.baseline
    piecewise = OperatingProfile((0.0, 3600.0), (0.5, as_now.load[0]), (as_now.speed_hz[0],) * 2,
                                 (20.0, 20.0), (1.0, 1.0))
    slower = run_whatif(twin, piecewise, now=last.window_end, horizon_s=HORIZON)
    assert slower.scenario and slower.baseline
    assert slower.scenario.rul_median_s and slower.baseline.rul_median_s
    assert slower.scenario.rul_median_s > slower.baseline.rul_median_s
    assert slower.plan == Scenario.from_profile(piecewise).segments


@pytest.mark.parametrize(("segments", "word"), [
    ((), "at least one segment"),
    ((PlanSegment(10.0, 0.8),), "start at 0"),
    ((PlanSegment(0.0, 0.8), PlanSegment(0.0, 0.9)), "later and later"),
    ((PlanSegment(0.0, -0.1),), "load"),
    ((PlanSegment(0.0, math.nan),), "load"),
    ((PlanSegment(0.0, speed_hz=0.0),), "speed_hz"),
    ((PlanSegment(0.0, duty=1.5),), "duty"),
    ((PlanSegment(0.0, ambient_c=500.0),), "ambient_c"),
])
def test_bad_plans_are_refused_in_one_line(segments: tuple[PlanSegment, ...], word: str) -> None:
    with pytest.raises(ValueError, match=word) as err:
        Scenario(segments)
    assert "\n" not in str(err.value)


def test_bad_horizons_and_dates_are_refused(degrading: Degrading) -> None:
    twin, last = degrading
    plan, now = Scenario.constant(load=0.8), last.window_end
    for horizon in (0.0, -1.0, math.inf, 1e12):
        with pytest.raises(ValueError, match="horizon"):
            run_whatif(twin, plan, now=now, horizon_s=horizon)
    with pytest.raises(ValueError, match="date"):
        run_whatif(twin, plan, now=now, horizon_s=HORIZON, dates=(now - timedelta(hours=1),))
    with pytest.raises(ValueError, match="timezone"):
        run_whatif(twin, plan, now=now.replace(tzinfo=None), horizon_s=HORIZON)


def test_a_date_after_the_horizon_is_refused_not_given_the_horizons_p(degrading: Degrading) -> None:
    """Round 49 (HOSTILE49): failures later than the horizon count as never (``inf``), so a date
    after the horizon's end got P(failure within the horizon): a day's horizon and a date a year on
    said a few % for a pump failing within weeks. Refused (one line), the asset without damage too."""
    twin, last = degrading
    plan, now = Scenario.constant(load=0.8), last.window_end
    far = now + timedelta(days=365)
    within = run_whatif(twin, plan, now=now, horizon_s=400 * 86400.0, dates=(far,))
    assert within.status == "ok"
    for asset in (twin, _twin(60)[0]):
        with pytest.raises(ValueError, match="after the horizon's end") as err:
            run_whatif(asset, plan, now=now, horizon_s=86400.0, dates=(far,))
        assert "\n" not in str(err.value)


def test_a_checkpoint_gives_the_twins_answer(degrading: Degrading) -> None:
    twin, last = degrading
    cp = checkpoint_of(twin)
    assert cp is not None and cp.asset_id == twin.metadata.asset_id and len(cp.d) == len(cp.logw) == 400
    now = last.window_end + timedelta(hours=6)
    args = {"now": now, "horizon_s": HORIZON, "dates": (now + timedelta(days=1),)}
    plan = Scenario.constant(load=0.9)
    assert run_whatif(basis_from_checkpoint(cp), plan, **args) == run_whatif(twin, plan, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "word"), [
    ({"d": (math.nan,) * 400}, "finite"),
    ({"q": (1.5,) * 12}, "same number"),
    ({"scalars": {"noise": 0.1}}, "lacks"),
    ({"prior": {}}, "lacks"),
    ({"health_threshold": math.inf}, "health_threshold"),
    ({"relation": {"vib.rms|zz": 1.0}}, "relation"),
])
def test_bad_checkpoints_are_refused_by_name(degrading: Degrading,
                                             change: dict[str, object], word: str) -> None:
    cp = checkpoint_of(degrading[0])
    assert cp is not None
    with pytest.raises(ValueError, match=word):
        basis_from_checkpoint(replace(cp, **change))  # type: ignore[arg-type]


def test_relation_follows_the_slow_trend_and_never_falls() -> None:
    rel = IndicatorRelation()
    for i in range(200):
        y = i / 200
        daily = 3.0 if i % 24 < 12 else -3.0  # a fast swing that the smoothing removes
        rel.learn(y, {"temperature.mean": 40.0 + 20.0 * y + daily, "vib.env_bpfo_amp": 1.0 - y,
                      "vib.rms": 5.0})
    line = rel.line("temperature.mean")
    assert line is not None and line[1] == pytest.approx(20.0, rel=0.2)
    assert rel.line("vib.env_bpfo_amp") == (pytest.approx(rel.predict("vib.env_bpfo_amp", 0.0)), 0.0)
    assert rel.line("vib.rms") is None  # not a tracked feature
    assert rel.envelope_feature("bpfo") == "vib.env_bpfo_amp" and rel.envelope_feature("bsf") is None
