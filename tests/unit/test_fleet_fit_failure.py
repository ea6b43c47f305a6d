"""A fleet fit that raises is abandoned; the learner goes on learning lives (round 20, learnfail).

Before: a refit or catch-up job that raised was replayed by the next call and raised again; in
the flow, the guard dead-lettered the item and undid the learner to before it, so the next item
replayed the job to the same unit and failed too: every later item of the kind was a dead letter
(the parts of lives included) and the fleet model of that kind never learnt another life.
A realistic trigger: the first lives of a kind too short for a fit (a refit on 3 lives of 6
windows: LightGBM needs 40 rows), so the refit, and then each cross-fit half, raised.

Now the job is abandoned at the call it raised at (with or without the worker thread): the
versions published stay, nothing the job computed is kept, the failure is counted with its
reason, and the next job starts once more lives are learnt (not the same failing job again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest

from flows.dataflow.fleet_steps import fleet_learn_apply, fleet_rul
from flows.dataflow.guard import guard_stateful
from flows.dataflow.items import DeadLetter
from flows.dataflow.metrics import PipelineMetrics
from tests.unit.test_fleet_background_fit import _call, _cfg, _digest, _items
from tests.unit.test_fleet_catch_up import T0, life_items
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.regression_learner import RefitSpec, RegressionLearner

FAIL_AT = 6  # the refit started when the 6th life is learnt fails (at its 8th unit)


def _failing_refit(lives: int, unit: int, started: list[tuple[str, int]]
                   ) -> Callable[[RegressionLearner, Any], Generator[int, None, Any]]:
    """A job factory that records every job started ((refit | catch-up, lives learnt)) and makes
    the refit on ``lives`` lives raise after ``unit`` units."""
    real = RegressionLearner._job

    def job(self: RegressionLearner, spec: Any) -> Generator[int, None, Any]:
        refit = isinstance(spec, RefitSpec)
        started.append(("refit" if refit else "catch-up", spec.lives_learnt))
        inner = real(self, spec)
        if not refit or spec.lives_learnt != lives:
            return (yield from inner)
        for _ in range(unit):
            yield next(inner)
        msg = f"fit failed after {unit} units"
        raise RuntimeError(msg)

    return job


def _lives_in(learner: FleetLearner) -> int:
    return learner.regression.lives_learnt if learner.regression is not None else 0


@pytest.mark.parametrize("background", [False, True])
def test_a_failing_refit_is_abandoned_and_the_learner_goes_on(
        monkeypatch: pytest.MonkeyPatch, background: bool) -> None:
    cfg = _cfg(background)
    items = _items(cfg, n_lives=8)
    clean = FleetLearner("engine", cfg)
    clean_out = [[_digest(m) for m in _call(clean, item)] for item in items]
    started: list[tuple[str, int]] = []
    monkeypatch.setattr(RegressionLearner, "_job", _failing_refit(FAIL_AT, 7, started))
    learner = FleetLearner("engine", cfg)
    out: list[list[tuple[Any, ...]]] = []
    failed_at = None
    for n, item in enumerate(items):
        before = learner.fitted, learner.version
        out.append([_digest(m) for m in _call(learner, item)])  # never raises
        if failed_at is None and learner.fit_failures:
            failed_at = n
            reg = learner.regression
            assert reg is not None and reg.job_spec is None and reg.job is None
            assert (learner.fitted, learner.version) == before and not out[-1]  # published ones stay
            assert reg.lives_at_fit == 3 and reg.lives_at_residuals == 3  # no half-written state
            assert reg.base is not None and reg.lives_in_model >= 3
    assert failed_at is not None and learner.fit_failures == 1
    assert learner.last_fit_failure == "refit on 6 lives failed: RuntimeError: fit failed after 7 units"
    # up to the failure, the same versions at the same calls as a clean run
    assert out[: failed_at + 1] == clean_out[: failed_at + 1]
    assert sum(len(d) > 3 for v in out[:failed_at] for d in v) >= 2
    # the failing job ran once; no job until the 7th life is learnt; then a refit (due since the
    # 6th) on 7 lives, which cross-fits (the failed one's residuals were never taken)
    assert started.count(("refit", FAIL_AT)) == 1
    after = started[started.index(("refit", FAIL_AT)) + 1:]
    assert after[0] == ("refit", 7)
    first_of_7th = next(n for n, item in enumerate(items) if item.asset_id == "e6")
    assert all(not v for v in out[failed_at + 1: first_of_7th + 1])
    reg = learner.regression
    assert reg is not None
    if reg.job_spec is not None:
        learner.drain(items[-1].failure_s)
    assert reg.lives_at_fit == 7 and reg.lives_at_residuals == 7
    assert reg.base is not None and learner.fitted is not None and learner.fitted is not clean.fitted


def test_the_same_versions_at_the_same_calls_with_and_without_the_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    for background in (False, True):
        monkeypatch.setattr(RegressionLearner, "_job", _failing_refit(FAIL_AT, 7, []))
        cfg = _cfg(background)
        learner = FleetLearner("engine", cfg)
        runs.append([(n, _digest(m)) for n, item in enumerate(_items(cfg, n_lives=8))
                     for m in _call(learner, item)])
        assert learner.fit_failures == 1
    assert sum(len(d) > 3 for _, d in runs[0]) >= 3 and runs[1] == runs[0]


def _short_lives_first(cfg: Any, n_lives: int) -> list[Any]:
    """Three lives of 6 windows, then longer ones: a refit on the first three has 18 rows."""
    rng = np.random.default_rng(5)
    items = []
    for k in range(n_lives):
        length = 6 if k < 3 else 80 + 10 * k
        t = np.arange(length)
        rows = rng.normal(0, 0.3, size=(length, 2)) + np.exp((t - length) / 30.0)[:, None] * [4.0, -2.0]
        items += life_items(cfg, k, rows)
    return items


def test_lives_too_short_for_a_fit_do_not_stop_the_fleet_from_learning() -> None:
    digests = []
    for background in (False, True):
        cfg = _cfg(background)
        items = _short_lives_first(cfg, 7)
        learner = FleetLearner("engine", cfg)
        versions = [m for item in items for m in _call(learner, item)]  # no call raises
        # the refits on 3, 4 and 5 lives fail (the full fit, then a cross-fit half of short lives)
        assert learner.fit_failures == 3
        assert "n >= 40" in learner.last_fit_failure and "ValueError" in learner.last_fit_failure
        assert learner.lives == 7 and [m.lives for m in versions] == list(range(1, 8))  # every life
        # the refit on 5 lives failed during the 7th life; the next, on all 7, is under way
        final = learner.drain(items[-1].failure_s)
        assert final is not None and final.regression is not None and final.version == 8
        assert learner.regression is not None and learner.regression.lives_at_fit == 7
        digests.append([_digest(m) for m in [*versions, final]])
    assert digests[1] == digests[0]


def test_the_flow_step_counts_and_logs_the_failure_and_dead_letters_nothing(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(RegressionLearner, "_job", _failing_refit(FAIL_AT, 7, []))
    cfg = _cfg(True)
    m = PipelineMetrics()
    apply = fleet_learn_apply({}, cfg)
    step = guard_stateful("fleet_rul", fleet_rul({}, m, cfg), lambda s, i: apply(s, i)[0],
                          lambda i: "k", m, lambda: T0)
    state: Any = None
    outs: list[Any] = []
    with caplog.at_level(logging.WARNING):
        for item in _items(cfg, n_lives=8):
            state, out = step(state, item)
            outs += list(out)
    assert not [o for o in outs if isinstance(o, DeadLetter)]
    assert m.value("twin_dead_letters_total", {"reason": "processing_error"}) == 0
    assert isinstance(state, FleetLearner) and state.lives == 8
    assert m.value("twin_fleet_fit_failures_total", {"kind": state.kind}) == 1
    logged = [r.getMessage() for r in caplog.records if "fleet_rul" in r.getMessage()]
    assert len(logged) == 1
    assert f"kind {state.kind!r}" in logged[0] and "refit on 6 lives failed: RuntimeError" in logged[0]
    assert max(mdl.lives for mdl in outs) == 8 and max(mdl.version for mdl in outs) == state.version
