"""The fleet learner's background fit: the job runs ahead in a thread, the model comes at the same call.

Why: the refit and catch-up jobs are mostly LightGBM's C code, which runs without the GIL, so a
worker thread can fit on a second core. The calls keep their quota of units, and a call that
reaches the job's end takes the model (waiting for the thread if it is behind): the versions, and
so every output, must not depend on the thread's speed, on a snapshot taken mid-job, or on the
switch. These tests run the thread behind (a pause after every unit) and ahead (joined before
every call) and compare call by call with the calls doing the work themselves.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flows.config.fingerprint import config_hash
from flows.config.pipeline import ConfigError, PipelineConfig, load_config
from tests.unit.test_fleet_catch_up import life_items
from twin_models.rul.fleet import FleetRulConfig
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.fleet_view import LifeChunk, RefitWork
from twin_models.rul.job_thread import JobThread
from twin_models.rul.regression_learner import RegressionLearner

H = 3600.0
Item = LifeChunk | RefitWork


def _cfg(background: bool) -> FleetRulConfig:
    # LightGBM (the default regressor, the one whose C code runs without the GIL); refits at 3, 6
    # lives (growth 100 %) with catch-ups between; one unit per call, so jobs span many calls
    return FleetRulConfig(rul_features=("s*.mean",), rul_cap_s=100 * H, min_lives=3, refit_growth=1.0,
                          model_delay_s=0.0, life_chunk_rows=40, fit_steps_per_call=1,
                          refit_work_parts=60, background_fit=background)


def _items(cfg: FleetRulConfig, n_lives: int = 7) -> list[Item]:
    """The learner's input for ``n_lives`` lives: each life's parts, then its work tickets."""
    rng = np.random.default_rng(5)
    out: list[Item] = []
    for k in range(n_lives):
        length = 80 + 10 * k
        t = np.arange(length)
        rows = rng.normal(0, 0.3, size=(length, 2)) + np.exp((t - length) / 30.0)[:, None] * [4.0, -2.0]
        out += life_items(cfg, k, rows)
    return out


def _call(learner: FleetLearner, item: Item) -> list[FleetModel]:
    return learner.learn(item) if isinstance(item, LifeChunk) else learner.work(item)


def _digest(model: FleetModel) -> tuple[Any, ...]:
    """What a version is: its number, effective time, lives and regression (LightGBM's model
    strings and the residuals behind the interval)."""
    reg = model.regression
    if reg is None:
        return model.version, model.effective_from_s, model.lives
    return (model.version, model.effective_from_s, model.lives, reg.model.models,  # type: ignore[attr-defined]
            reg.residuals.tobytes())


def _run(cfg: FleetRulConfig, items: list[Item], *, before: Callable[[FleetLearner], None] | None = None
         ) -> list[tuple[int, tuple[Any, ...]]]:
    """(call index, version digest) of every version the learner published."""
    learner = FleetLearner("engine", cfg)
    out = []
    for n, item in enumerate(items):
        if before is not None:
            before(learner)
        out += [(n, _digest(m)) for m in _call(learner, item)]
    return out


def _join_job(learner: FleetLearner) -> None:
    """The thread ahead: let it finish its whole job before the call."""
    job = learner.regression.job if learner.regression is not None else None
    if isinstance(job, JobThread):
        job.join()


def test_versions_come_at_the_same_calls_whatever_the_threads_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    items = _items(_cfg(False))
    inline = _run(_cfg(False), items)
    ahead = _run(_cfg(True), items, before=_join_job)
    monkeypatch.setattr(RegressionLearner, "job_pace", staticmethod(lambda _units: time.sleep(0.002)))
    behind = _run(_cfg(True), items)
    # refits at 3 and 6 lives and catch-ups between: several versions, all at the same calls
    assert sum(len(d) > 3 for _, d in inline) >= 4
    assert ahead == inline
    assert behind == inline


def test_a_learner_pickled_mid_job_publishes_the_same_model() -> None:
    cfg = _cfg(True)
    items = _items(cfg)
    learner = FleetLearner("engine", cfg)
    n = 0
    while learner.regression is None or learner.regression.job_units < 5:  # a refit under way
        _call(learner, items[n])
        n += 1
    assert isinstance(learner.regression.job, JobThread)
    copy = pickle.loads(pickle.dumps(learner))
    assert copy.regression is not None and copy.regression.job is None  # the thread is not pickled
    ours, theirs = [], []
    for item in items[n:]:
        ours += [_digest(m) for m in _call(learner, item)]
        theirs += [_digest(m) for m in _call(copy, item)]
    assert sum(len(d) > 3 for d in ours) >= 2 and theirs == ours
    # and the same as the calls doing the work themselves, restored at the same point
    inline = FleetLearner("engine", _cfg(False))
    for item in items[:n]:
        _call(inline, item)
    restored = pickle.loads(pickle.dumps(inline))
    assert [_digest(m) for item in items[n:] for m in _call(restored, item)] == ours


def test_the_switch(tmp_path: Path) -> None:
    items = _items(_cfg(False), n_lives=4)
    for background, kind in ((True, JobThread), (False, Generator)):
        learner = FleetLearner("engine", _cfg(background))
        for item in items:
            _call(learner, item)
            if learner.regression is not None and learner.regression.job is not None:
                break
        assert learner.regression is not None and learner.regression.background is background
        assert isinstance(learner.regression.job, kind)
    path = tmp_path / "c.toml"
    path.write_text("[pipeline.twin.fleet]\nbackground_fit = false\n")
    cfg = load_config(path)
    assert cfg.twin.fleet.background_fit is False
    # the same outputs either way: the switch does not change the configuration's hash
    assert config_hash(cfg) == config_hash(PipelineConfig())
    path.write_text("[pipeline.twin.fleet]\nbackground_fit = 'maybe'\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "twin.fleet.background_fit" in str(exc.value) and "expected true or false" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_cancelled_thread_stops_between_units() -> None:
    ran = []

    def job() -> Generator[int, None, str]:
        for i in range(10**6):
            ran.append(i)
            yield 0
        return "done"

    thread = JobThread(job(), pace=lambda _n: time.sleep(0.001))
    assert thread.advance(3) == (False, None)
    thread.cancel()
    assert thread.join(10.0)
    assert len(ran) < 10**6
    with pytest.raises(RuntimeError, match="cancelled"):
        thread.advance(10**7)


def test_drain_finishes_the_job_under_way_as_the_calls_would() -> None:
    digests = []
    for background in (False, True):
        cfg = _cfg(background)
        learner, items, n = FleetLearner("engine", cfg), _items(cfg), 0
        while learner.regression is None or learner.regression.job_units < 5:  # a refit under way
            _call(learner, items[n])
            n += 1
        model = learner.drain(items[n].failure_s)
        assert model is not None and learner.regression.job is None
        digests.append(_digest(model))
    assert len(digests[0]) > 3 and digests[1] == digests[0]
