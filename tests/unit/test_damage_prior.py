"""The fleet's damage prior (issue 11): completed lives' damage fits travel to the fleet learner,
the fleet model of the kind carries them, and a twin starting a damage state takes the prior of the
version in effect at that event time.

What is under test: a prior built from lives starts a state whose RUL interval is several times narrower
than the default's and centred on the fleet's usage from first evidence to failure; it narrows
further as lives agree; the filter may still leave it (its bounds stay the wide prior's); the
learner keeps the latest fits in failure order whatever order the lives arrive in, a model
applies a life only from its failure + ``model_delay_s``; the twin hands its fit over at a
failure and starts from the prior it is given; old pickles load.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from tests.contract.streams import twin_windows
from tests.factories import metadata
from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.damage import DamagePrior, DamageState
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import DAMAGE_PRIOR_LIVES, FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView
from twin_models.rul.profile import OperatingProfile
from twin_models.twin import AssetTwin, TwinConfig

DAY = 86400.0
REF_HZ = 25.0
T0 = datetime(2000, 1, 1, tzinfo=UTC)
CFG = FleetRulConfig(model_delay_s=DAY)


def _rul_band(prior: DamagePrior | None, seed: int = 3) -> tuple[float, float, float]:
    """(p10, median, p90) RUL in days of a fresh state at full load."""
    state = DamageState(reference_speed_hz=REF_HZ, noise=0.02, prior=prior, seed=seed)
    fc = state.forecast(OperatingProfile.constant(1.0, REF_HZ), horizon_s=1e9)
    lo, mid, hi = (math.inf if v is None else v / DAY for v in (fc.rul_p10_s, fc.rul_median_s, fc.rul_p90_s))
    return lo, mid, hi


def test_a_fleet_prior_starts_a_narrow_rul_around_the_fleets_usage() -> None:
    fits = [(10 * DAY, 1.6, 4 * DAY), (14 * DAY, 1.7, 5 * DAY)]
    lo0, _, hi0 = _rul_band(None)
    lo, mid, hi = _rul_band(DamagePrior().from_lives(fits))
    assert hi / lo < (hi0 / lo0) / 4, ((lo, hi), (lo0, hi0))
    assert 4 / 3 <= mid <= 5 * 3  # the fleet's usage from first evidence to failure, x/ the margin
    agreeing = DamagePrior().from_lives(fits * 4)  # more lives that agree: less of the wide prior
    lo8, _, hi8 = _rul_band(agreeing)
    assert agreeing.wide_share < DamagePrior().from_lives(fits).wide_share
    assert hi8 / lo8 < hi / lo


def test_the_filter_may_leave_a_wrong_fleet_prior() -> None:
    """The prior is where particles start; the wide ranges stay where they may go."""
    narrow = DamagePrior().from_lives([(10 * DAY, 1.6, 4 * DAY)])
    state = DamageState(reference_speed_hz=REF_HZ, noise=0.02, prior=narrow, seed=1)
    limits = state._bounds()  # noqa: SLF001 - the jitter's limits are the point of the test
    wide = DamageState(reference_speed_hz=REF_HZ, noise=0.02, seed=1)._bounds()  # noqa: SLF001
    assert limits == wide
    assert narrow.wide == DamagePrior() and narrow.life_s == (10 * DAY / 3, 30 * DAY)


def _close(view: FleetView, asset: str, fail: datetime, fit: tuple[float, float, float]) -> list:
    for i in range(3):
        ts = fail - timedelta(hours=3 - i)
        view.update(TwinSnapshot(asset, ts, ts - timedelta(hours=1), "degrading", 0.9, 0.5, None, None,
                                 None, False, i, 0), {}, None)
    return view.close(AssetEvent(asset, fail, "failure"), CFG.life_chunk_rows, fit)


def _learn(order: list[int], fails: list[datetime]) -> FleetModel:
    learner, model = FleetLearner("pump", CFG), None
    for k in order:
        fit = (10 * DAY * (k + 1), 1.5, DAY * (k + 1))
        for chunk in _close(FleetView("pump", CFG), f"p{k}", fails[k], fit):
            model = ([model, *learner.learn(chunk)])[-1]
    assert model is not None
    return model


def test_the_learner_keeps_the_latest_fits_in_failure_order_and_applies_them_after_the_delay() -> None:
    fails = [T0 + timedelta(days=3 * k) for k in range(DAMAGE_PRIOR_LIVES + 5)]
    forward = _learn(list(range(len(fails))), fails)
    shuffled = _learn([4, 0, 3, 1, 2, *range(5, len(fails))][::-1], fails)
    assert len(forward.damage_fits) == DAMAGE_PRIOR_LIVES  # bounded: the latest failures
    assert forward.damage_fits == shuffled.damage_fits  # the same whatever order they were learnt in
    assert [f[0] for f in forward.damage_fits] == sorted(f[0] for f in forward.damage_fits)
    first = forward.damage_fits[0][0]
    assert forward.damage_prior(first + DAY - 1.0) is None  # not before its failure + model_delay_s
    one = forward.damage_prior(first + DAY)
    assert one is not None and one.first_usage_s == (6 * DAY / 3, 6 * DAY * 3)  # life p5: usage 6 d
    assert forward.damage_prior(first + DAY) is one  # cached per number of lives in effect
    assert forward.damage_prior(fails[-1].timestamp() + DAY) == shuffled.damage_prior(
        fails[-1].timestamp() + DAY)
    copy = pickle.loads(pickle.dumps(forward))  # noqa: S301 - our own bytes
    assert "_damage_priors" not in copy.__dict__ and copy.damage_prior(first + DAY) == one


def test_the_twin_hands_its_fit_over_at_the_failure_and_starts_from_the_prior_it_is_given() -> None:
    """The contract stream: a BPFO defect grows from window 200, the asset fails at 300."""
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10, calibrator_window=100))
    prior = DamagePrior().from_lives([(5 * DAY, 1.5, 2 * DAY)])
    fits, priors = [], []
    for fv in twin_windows():
        twin.damage_prior = prior
        twin.update(fv)
        fits.append(twin.closed_damage_fit)
        if twin.damage_state is not None:
            priors.append(twin.damage_state.prior)
    assert priors and all(p is prior for p in priors)
    closed = [i for i, f in enumerate(fits) if f is not None]
    assert closed and closed[0] == 300  # the failure's window, not before
    life, q, usage = fits[300]
    assert life > 0 and 1.0 < q <= 2.0 and usage > 0  # usage: first evidence (~window 200) to failure
    scored, inside = twin.indicator_band
    assert scored > 50 and 0 < inside <= scored


def test_states_learners_and_twins_pickled_before_the_prior_load() -> None:
    state = DamageState(reference_speed_hz=REF_HZ, noise=0.02, seed=1)
    state.update(0.0, 0.01, 1.0, REF_HZ)
    del state.__dict__["usage_s"]
    old = pickle.loads(pickle.dumps(state))  # noqa: S301 - our own bytes
    assert old.fit()[2] == 0.0 and np.isfinite(old.fit()[0])
    learner = FleetLearner("pump", CFG)
    del learner.__dict__["damage_fits"]
    assert pickle.loads(pickle.dumps(learner)).damage_fits == []  # noqa: S301
    twin = AssetTwin(metadata())
    for name in ("damage_prior", "closed_damage_fit", "indicator_band"):
        del twin.__dict__[name]
    back = pickle.loads(pickle.dumps(twin))  # noqa: S301
    assert (back.damage_prior, back.closed_damage_fit, back.indicator_band) == (None, None, (0, 0))


def test_the_setting_sets_how_many_lives_a_fleet_prior_needs() -> None:
    fails = [T0 + timedelta(days=3 * k) for k in range(3)]
    model = _learn([0, 1, 2], fails)
    after = [f.timestamp() + DAY for f in fails]
    assert [model.damage_prior(t) is not None for t in after] == [True, True, True]
    two = replace(model, damage_prior_lives=2)
    assert [two.damage_prior(t) is not None for t in after] == [False, True, True]
    never = replace(model, damage_prior_lives=0)
    assert [never.damage_prior(t) for t in after] == [None, None, None]
    learner = FleetLearner("pump", replace(CFG, damage_prior_lives=0))
    assert learner._publish(0.0).damage_prior_lives == 0  # noqa: SLF001 - the setting travels
