"""Prescriptions in the dataflow (issue 11, level 4): the twin's recommendations reach the
archive with the alert episode they answer, the alerts mention the plan, and two runs of the
same input give the same recommendations."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from bytewax.testing import run_main

from flows.app.backtest import BacktestResult, print_summary
from flows.app.outputs import Collected, local_outputs
from flows.app.report_html import write_report
from flows.app.scores_file import ScoresSpool
from flows.archive.query import query
from flows.config.pipeline import PipelineConfig, load_config
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from flows.dataflow.sources.simulator import SimulatorSource
from tests.factories import recommendation
from tests.flows.test_cli_errors import fails
from twin_models.simulator.fleet import FleetConfig, fleet_metadata

FLEET = FleetConfig(n_assets=2, days=12.0, seed=3, fault_fraction=1.0, scalar_interval_s=1800.0)
CFG = PipelineConfig(clock="data")


METRICS: dict[Path, PipelineMetrics] = {}


def _run(archive: Path, cfg: PipelineConfig = CFG) -> Collected:
    m = METRICS[archive] = PipelineMetrics()
    sinks, got = local_outputs(cfg, m, archive_dir=archive, collect=("alerts", "recommendations"))
    run_main(get_flow(cfg, source=SimulatorSource(FLEET), sinks=sinks, metadata=fleet_metadata(FLEET),
                      metrics=m))
    return got


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Collected, Collected]:
    base = tmp_path_factory.mktemp("prescribe")
    return base / "a", _run(base / "a"), _run(base / "b")


def test_recommendations_reach_the_archive_with_their_alert(runs: tuple[Path, Collected, Collected]) -> None:
    archive, got, _ = runs
    assert got.recommendations, "a degrading asset gets recommendations"
    assert METRICS[archive].total("twin_recommendations_total") == len(got.recommendations)
    _, rows = query(archive, "SELECT recommendation_id, alert_id, chosen->>'plan', expected_saving, "
                             "lineage IS NOT NULL FROM recommendations ORDER BY timestamp")
    assert sorted(r[0] for r in rows) == sorted(r.recommendation_id for r in got.recommendations)
    raised = {a.alert_id for a in got.alerts if a.status == "raised"}
    attached = {r[1] for r in rows if r[1] is not None}
    assert attached and attached <= raised  # every alert_id names a real episode
    assert all(r[2] in ("as_is", "derate", "replace_planned", "replace_now") for r in rows)
    assert all(r[3] >= 0 and r[4] for r in rows)  # chosen never costs more than as is; lineage set
    for rec in got.recommendations:  # the chosen plan is the cheapest within the hysteresis margin
        best = min(o.expected_cost for o in rec.options)
        assert rec.chosen in rec.options
        assert rec.chosen.expected_cost * (1 - CFG.prescribe.switch_margin) <= best + 1e-6


def test_alerts_of_an_episode_with_a_plan_mention_it(runs: tuple[Path, Collected, Collected]) -> None:
    _, got, _ = runs
    with_plan = {r.alert_id for r in got.recommendations if r.alert_id}
    raised = [a for a in got.alerts if a.status == "raised" and a.alert_id in with_plan]
    assert raised
    assert all("Recommended plan: " in a.explanation for a in raised)


def test_two_runs_give_the_same_recommendations(runs: tuple[Path, Collected, Collected]) -> None:
    _, a, b = runs
    assert a.recommendations == b.recommendations


def test_disabled_prescriptions_emit_none_and_leave_the_alerts_alone(
        runs: tuple[Path, Collected, Collected], tmp_path: Path) -> None:
    _, on, _ = runs
    off = _run(tmp_path, load_config(env={}, overrides={"prescribe.enabled": "false"}, base=CFG))
    assert not off.recommendations
    key = lambda a: (a.alert_id, a.sequence, a.status, a.timestamp)  # noqa: E731
    assert sorted(map(key, off.alerts)) == sorted(map(key, on.alerts))
    assert not any("Recommended plan" in a.explanation for a in off.alerts)


def test_the_backtest_report_and_summary_show_recommendations(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    recs = [recommendation("brg-1"), recommendation("brg-2", alert_id=None)]
    res = BacktestResult([], [], PipelineMetrics(), 1.0, 10, tmp_path, recommendations=recs)
    ScoresSpool().write(tmp_path / "scores.parquet", [], {})  # the report reads the windows from it
    page = write_report(res, inputs=[], metadata=None, read_options={}).read_text()
    assert "<h2>Recommendations</h2>" in page and "2 recommendations" in page
    assert html.escape(recs[0].explanation) in page and "derate 70%" in page
    print_summary(res, report=False)
    assert "recommendations: 2 (derate 2)" in capsys.readouterr().out


@pytest.mark.parametrize(("env", "needle"), [
    ({"TWIN_PRESCRIBE__DERATES": "[0.7, 1.5]"}, "config prescribe.derates must be > 0 and < 1"),
    ({"TWIN_PRESCRIBE__DERATE": "0.7"}, "did you mean 'derates'?"),
])
def test_bad_prescription_settings_stop_the_demo_in_one_line(tmp_path: Path, env: dict[str, str],
                                                             needle: str) -> None:
    line = fails("demo", "--assets", "1", "--days", "1", "--out", str(tmp_path / "o"), "--no-progress",
                 env=env)
    assert needle in line
