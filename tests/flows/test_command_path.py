"""The command path through the ONE dataflow: recommendations and decisions in, commands and the audit
log out (archive table ``audit``); a flow that is not ``twin run`` never sends."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import TestingSource, run_main

from flows import codec
from flows.app.outputs import STREAMS, Collected, local_outputs
from flows.archive.query import query
from flows.cli.main import main
from flows.config.pipeline import PipelineConfig
from flows.dataflow import pipeline
from flows.dataflow.items import RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.pipeline import get_flow
from tests.unit.test_commands import T0, rec
from twin_models.commands import CommandsConfig, command_id
from twin_models.records import Alert, CommandDecision, PlanOption, Recommendation

CFG = PipelineConfig(clock="data")
CID = command_id("rec-p1-1", "load_limit")


def run(items: list[Any], cfg: PipelineConfig = CFG, *, send: bool = False,
        archive: Path | None = None, now: datetime = T0 + timedelta(minutes=30)) -> Collected:
    """The dataflow with no telemetry and ``items`` on its command inputs, at wall clock ``now``."""
    sinks, got = local_outputs(cfg, PipelineMetrics(), archive_dir=archive, collect=STREAMS)
    flow = get_flow(cfg, source=TestingSource([]), sinks=sinks, command_inputs=TestingSource(items),
                    send_commands=send, now=lambda: now)
    run_main(flow)
    return got


def mode(m: str, **kw: Any) -> PipelineConfig:
    return replace(CFG, commands=CommandsConfig(mode=m, **kw))


def approve(cid: str = CID, verb: str = "approve") -> CommandDecision:
    return CommandDecision(cid, "p1", verb, "jdoe", T0 + timedelta(minutes=20), "")  # type: ignore[arg-type]


def test_disabled_by_default_no_command_no_audit() -> None:
    got = run([rec(), approve()], send=True)
    assert got.commands == [] and [e.action for e in got.audit] == ["ignored"]
    assert run([rec()], send=True).audit == []


@pytest.mark.parametrize("m", ["approve", "auto"])
def test_a_flow_that_is_not_twin_run_never_sends(m: str) -> None:
    got = run([rec(), approve()], mode(m))
    assert got.commands == []
    assert [e.action for e in got.audit][:2] == ["proposed", "advised"]


def test_auto_sends_and_audits_and_the_archive_keeps_the_log(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    got = run([rec(0.85), rec(0.3, T0 + timedelta(hours=1), n=2)], mode("auto"), send=True, archive=tmp_path)
    assert [(c.command_id, c.value) for c in got.commands] == [(CID, 0.85)]
    assert [e.action for e in got.audit] == ["proposed", "sent", "proposed", "refused"]
    cols, rows = query(tmp_path, "SELECT command_id, sequence, action, reason FROM audit ORDER BY timestamp, "
                                 "sequence")
    assert [r[2] for r in rows] == ["proposed", "sent", "proposed", "refused"]
    assert "outside [0.5, 1]" in rows[3][3]
    assert main(["commands", "list", "--all", "--json", "--archive", str(tmp_path)]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    second = command_id("rec-p1-2", "load_limit")
    assert [(r["command_id"], r["state"]) for r in listed] == [(CID, "sent"), (second, "refused")]


def test_old_input_replayed_by_twin_run_sends_nothing() -> None:
    """twin run re-reading old telemetry (no recovery store) proposes old commands: expired by the
    wall clock, they are refused, never sent."""
    got = run([rec(0.85)], mode("auto"), send=True, now=T0 + timedelta(days=30))
    assert got.commands == [] and [e.action for e in got.audit] == ["proposed", "refused"]
    assert "by the wall clock" in got.audit[1].reason


def test_approve_through_decision_bytes_and_bad_decisions_become_dead_letters() -> None:
    good = codec.encode_json(approve())
    items = [rec(), RawRecord("twin.commands.decisions.v1", b'{"command_id": 1}'),
             RawRecord("twin.commands.decisions.v1", good)]
    got = run(items, mode("approve"), send=True)
    assert [e.action for e in got.audit] == ["proposed", "approved", "sent"]
    assert got.commands[0].approved_by == "jdoe"
    assert [d.reason for d in got.dead_letters] == ["schema_violation"]


def derates(alerts: Any) -> Any:
    """Stand-in for the prescription step (PRESCRIBE): each raised alert -> a derate to 85 %."""
    import bytewax.operators as op

    def one(a: Alert) -> list[Recommendation]:
        if a.status != "raised":
            return []
        plan = PlanOption("derate", 0.85, None, 0.05, 100.0)
        return [Recommendation(f"rec-{a.alert_id}", a.asset_id, "rotating_machine", a.timestamp, a.alert_id,
                               plan, (plan,), 10.0, "EUR", "derate to 85 %")]

    return op.flat_map_value("recommendations", alerts, one)


def test_backtest_never_sends_commands_whatever_the_mode(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.flows.test_backtest import CONFIG, _nab_csv

    monkeypatch.setattr(pipeline, "empty_recommendations", derates)
    cfg = tmp_path / "bt.toml"
    cfg.write_text(CONFIG + '[pipeline.commands]\nmode = "auto"\n')
    out = tmp_path / "out"
    csv = _nab_csv(tmp_path / "sensor_a.csv")
    assert main(["backtest", str(csv), "--out", str(out), "--config", str(cfg), "--no-progress",
                 "--no-report"]) == 0
    _, rows = query(out / "archive", "SELECT action, mode, reason FROM audit ORDER BY timestamp, sequence")
    assert [r[0] for r in rows] == ["proposed", "advised"]
    assert rows[1][1] == "advise" and "replay: never sent" in rows[1][2]


def test_kill_switch_from_the_environment_refuses_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    from flows.config.pipeline import load_config

    cfg = load_config(env={"TWIN_COMMANDS__MODE": "auto", "TWIN_COMMANDS__KILL_SWITCH": "on"},
                      base=CFG)
    metrics = PipelineMetrics()
    sinks, got = local_outputs(cfg, metrics, collect=STREAMS)
    run_main(get_flow(cfg, source=TestingSource([]), sinks=sinks, metrics=metrics, now=lambda: T0,
                      command_inputs=TestingSource([rec()]), send_commands=True))
    assert got.commands == [] and [e.action for e in got.audit] == ["proposed", "refused"]
    assert "kill switch" in got.audit[1].reason
    assert metrics.value("twin_command_audit_total", {"action": "refused"}) == 1


@pytest.mark.parametrize(("argv", "needle"), [
    (["commands", "approve"], "needs the command id"),
    (["commands", "list", "cmd-1"], "takes no command id"),
    (["commands", "reject", "cmd-1", "--brokers", "127.0.0.1:1", "--connect-timeout", "1"],
     "cannot reach Kafka"),
])
def test_commands_cli_bad_usage_is_one_line(argv: list[str], needle: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_commands_cli_bad_actor_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["commands", "approve", "cmd-1", "--actor", "two words"])
    assert exc.value.code == 2 and "--actor must be a name" in capsys.readouterr().err
