"""The fleet learner's catch-ups: lives completed after the last refit reach the model.

Why: refits start once the lives have grown by ``refit_growth`` (10 %), so the model missed up to
a tenth of the lives, and the last lives of a fleet (on C-MAPSS the longest: the ones that teach
old ages) were never learnt when no more failed. The work tickets that follow a life give an
idle learner the capacity to boost the last refit a few more trees on every life.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np

from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import FleetView, LifeChunk, RefitWork
from twin_models.rul.regression_learner import POINT_MODEL_STAGES
from twin_models.rul.trees import GradientBoostedTrees

T0 = datetime(2000, 1, 1, tzinfo=UTC)
H = 3600.0
FULL = round(GradientBoostedTrees().n_trees * POINT_MODEL_STAGES)
"""Trees of a refit's point model."""


def _cfg(catch_up_trees: int = 20, steps: int = 25, tickets: int = 40) -> FleetRulConfig:
    # refits at 3 and 6 lives (growth 100 %): lives 4 and 5 only reach a model by catching up;
    # the numpy trees (their tree counts are asserted here; LightGBM's: tests/unit/test_lgbm_trees.py)
    return FleetRulConfig(regressor="trees", rul_features=("s*.mean",), rul_cap_s=100 * H, min_lives=3,
                          refit_growth=1.0, model_delay_s=0.0, life_chunk_rows=500, fit_steps_per_call=steps,
                          refit_work_parts=tickets, catch_up_trees=catch_up_trees)


def _life(rng: np.random.Generator, length: int) -> np.ndarray:
    t = np.arange(length)
    wear = np.exp((t - length) / 30.0)
    return rng.normal(0, 0.3, size=(length, 2)) + wear[:, None] * [4.0, -2.0]


def life_items(cfg: FleetRulConfig, k: int, rows: np.ndarray) -> list[LifeChunk | RefitWork]:
    """Asset ``e{k}``'s life of ``rows`` (columns ``s0.mean``, ``s1.mean`` ...) through a view,
    closed by a failure: its parts, then its work tickets (the learner's input)."""
    view, start = FleetView("engine", cfg), T0 + timedelta(days=30 * k)
    for i, row in enumerate(rows):
        ts = start + timedelta(hours=i + 1)
        snap = TwinSnapshot(f"e{k}", ts, ts - timedelta(hours=1), "healthy", 0.0, 1.0, None, None, None,
                            False, 0, 0)
        view.update(snap, {f"s{j}.mean": float(v) for j, v in enumerate(row)}, None)
    failure = AssetEvent(f"e{k}", start + timedelta(hours=len(rows) + 1), "failure")
    return [*view.close(failure, cfg.life_chunk_rows), *view.refit_work(failure)]


def _feed(learner: FleetLearner, cfg: FleetRulConfig, k: int, rows: np.ndarray) -> list[FleetModel]:
    """One life through a view, closed by a failure: its parts, then its work tickets."""
    models: list[FleetModel] = []
    for item in life_items(cfg, k, rows):
        models += learner.learn(item) if isinstance(item, LifeChunk) else learner.work(item)
    return models


def _trees(model: FleetModel) -> int:
    assert model.regression is not None
    return int(model.regression.model.value.shape[0])  # type: ignore[attr-defined]


def test_lives_after_the_last_refit_reach_the_model_by_catching_up() -> None:
    rng = np.random.default_rng(3)
    lives = [_life(rng, n) for n in (90, 100, 110, 120, 130)]
    with_catch_up, without = FleetLearner("engine", _cfg()), FleetLearner("engine", _cfg(0))
    last: dict[int, FleetModel] = {}
    for k, rows in enumerate(lives):
        for learner in (with_catch_up, without):
            models = _feed(learner, learner.config, k, rows)
            if models:
                last[learner.config.catch_up_trees] = models[-1]
    # without catch-ups the newest model is still the refit on the first 3 lives
    assert _trees(last[0]) == FULL
    assert without.regression is not None and without.regression.lives_in_model == 3
    # with them, the refit on 3 lives boosted 20 more trees on all 5 (the base kept as it was)
    assert _trees(last[20]) == FULL + 20
    assert with_catch_up.regression is not None and with_catch_up.regression.lives_in_model == 5
    base = with_catch_up.regression.base
    assert base is not None and base.model.value.shape[0] == FULL  # type: ignore[attr-defined]
    # the two newest models predict the longest life differently (the catch-up learnt it)
    reg0, reg20 = last[0].regression, last[20].regression
    assert reg0 is not None and reg20 is not None
    x = np.random.default_rng(0).normal(size=(50, reg0.model.edges.__len__()))  # type: ignore[attr-defined]
    assert not np.allclose(reg0.model.predict(x), reg20.model.predict(x))


def test_a_learner_pickled_mid_catch_up_resumes_to_the_same_model() -> None:
    rng = np.random.default_rng(4)
    cfg = _cfg(steps=5, tickets=200)  # a catch-up (~22 units of work) takes several tickets
    learner = FleetLearner("engine", cfg)
    for k, rows in enumerate([_life(rng, n) for n in (90, 100, 110)]):
        _feed(learner, cfg, k, rows)
    view, rows = FleetView("engine", cfg), _life(rng, 95)
    for i, row in enumerate(rows):
        ts = T0 + timedelta(days=200, hours=i + 1)
        view.update(TwinSnapshot("e9", ts, ts - timedelta(hours=1), "healthy", 0.0, 1.0, None, None, None,
                                 False, 0, 0), {f"s{j}.mean": float(v) for j, v in enumerate(row)}, None)
    failure = AssetEvent("e9", T0 + timedelta(days=200, hours=96), "failure")
    for part in view.close(failure, cfg.life_chunk_rows):
        learner.learn(part)
    tickets = view.refit_work(failure)
    assert not learner.work(tickets[0])  # one slice of the catch-up done, not finished
    assert learner.regression is not None and learner.regression.job_units > 0
    restored = pickle.loads(pickle.dumps(learner))
    done = [m for t in tickets[1:] for m in learner.work(t)]
    done_restored = [m for t in tickets[1:] for m in restored.work(t)]
    assert len(done) == len(done_restored) == 1
    x = np.random.default_rng(1).normal(size=(40, 7))
    a, b = done[0].regression, done_restored[0].regression
    assert a is not None and b is not None
    assert np.array_equal(a.model.predict(x), b.model.predict(x))
    assert _trees(done[0]) == FULL + 20


def test_learners_pickled_before_catch_ups_resume_and_wait_for_the_next_refit() -> None:
    rng = np.random.default_rng(5)
    cfg = _cfg()
    learner = FleetLearner("engine", cfg)
    for k, rows in enumerate([_life(rng, n) for n in (90, 100, 110)]):
        _feed(learner, cfg, k, rows)
    reg = learner.regression
    assert reg is not None
    state = reg.__dict__.copy()
    for name in ("base", "lives_in_model", "catch_up_trees"):  # what older code did not have
        del state[name]
    old = type(reg).__new__(type(reg))
    old.__setstate__(state)
    assert old.base is None and old.lives_in_model == old.lives_at_fit == 3
    assert old.work(10**6, catch_up=True) is None  # nothing to extend until the next refit


def test_extending_boosted_trees_leaves_the_fitted_model_unchanged() -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, size=(3000, 3))
    y = 3.0 * x[:, 0] + np.where(x[:, 1] > 0.5, 4.0, 0.0)
    base = GradientBoostedTrees(n_trees=30, seed=1).fit(x[:1500], y[:1500] * (x[:1500, 2] < 0))
    before = base.predict(x)
    steps = base.extend_steps(x, y, 15, seed=2)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            ext = done.value
            break
    assert np.array_equal(base.predict(x), before) and base.value.shape[0] == 30
    assert ext.value.shape[0] == 45 and np.array_equal(ext.value[:30], base.value)
    assert np.mean((ext.predict(x) - y) ** 2) < 0.8 * np.mean((before - y) ** 2)
