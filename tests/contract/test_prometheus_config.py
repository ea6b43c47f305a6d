"""promtool validates the Prometheus configs and rules, and the rule unit tests pass."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.app.losses import NOT_INPUT, NOT_LOST

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "infra" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("no promtool: `make test` installs Debian's prometheus package")
    return subprocess.run([tool, *args], cwd=PROM, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.local.yml"])
def test_promtool_check_config(config: str) -> None:
    res = _promtool("check", "config", config)
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_rules() -> None:
    res = _promtool("check", "rules", "rules.yml")
    assert res.returncode == 0 and "8 rules found" in res.stdout, res.stdout + res.stderr


def test_promtool_rule_unit_tests() -> None:
    res = _promtool("test", "rules", "tests/rules_test.yml")
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


def _rule(name: str) -> dict[str, str]:
    doc = yaml.safe_load((PROM / "rules.yml").read_text())
    return next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == name)


def _dashboard_exprs(title_word: str) -> list[str]:
    doc = json.loads((ROOT / "infra" / "grafana" / "dashboards" / "pipeline-health.json").read_text())
    return [t["expr"] for p in doc["panels"] if title_word in p["title"] for t in p["targets"]]


def test_loss_rule_and_panel_leave_out_every_reason_that_loses_nothing() -> None:
    """The dead-letter rate that warns, and the dashboard's loss panel, count what a backtest counts
    against --max-dead-letters: every reason but NOT_LOST (duplicates); those keep their own view.
    The rate is a share of the records read in, so it also leaves out NOT_INPUT (refused messages
    of the fleet-models topic, not input records; round 28: they counted)."""
    loss = _rule("TwinDeadLetterRateHigh")["expr"]
    lost_panel = _dashboard_exprs("Records lost")
    dup_panel = _dashboard_exprs("Duplicate")
    assert NOT_LOST == {"duplicate_record"}  # a new reason here: update the rule, panels and this test
    left_out = loss.split('reason!~"', 1)[1].split('"', 1)[0].split("|")
    assert set(left_out) == NOT_LOST | NOT_INPUT, left_out  # the ratio counts lost input records only
    # the loss panel shows what the rule counts (round 34: it showed refused fleet-models topic
    # messages as records lost)
    assert len(lost_panel) == 1 and 'reason!~"' in lost_panel[0]
    assert set(lost_panel[0].split('reason!~"', 1)[1].split('"', 1)[0].split("|")) == NOT_LOST | NOT_INPUT
    for reason in NOT_LOST:
        assert len(dup_panel) == 1 and f'reason="{reason}"' in dup_panel[0]
    dup = _rule("TwinDuplicateRecordsSustained")
    assert dup["labels"]["severity"] == "info" and 'reason="duplicate_record"' in dup["expr"]


def test_grafana_dashboards_are_generated_from_the_source() -> None:
    sys.path.insert(0, str(ROOT / "infra" / "grafana"))
    try:
        import build_dashboards
    finally:
        sys.path.pop(0)
    for name, text in build_dashboards.render().items():
        on_disk = (ROOT / "infra" / "grafana" / "dashboards" / name).read_text()
        assert on_disk == text, f"{name} is stale: run infra/grafana/build_dashboards.py"
        doc = json.loads(text)
        names = {v["name"] for v in doc["templating"]["list"]}
        assert "instance" in names
        assert all("$instance" in t["expr"] for p in doc["panels"] for t in p["targets"])


def test_input_lost_unread_and_refused_fleet_messages_have_panels_with_data_from_the_start() -> None:
    """Input Kafka deleted before it was read (retention, a deleted topic) is no dead letter: only
    ``twin_source_errors_total{code}`` says it, and refused fleet-models topic messages are left out
    of the loss panel. Each has a panel selecting exactly its codes or reasons, and the registry
    starts each at 0 so the panel has data before the first one (round 34: neither was on a panel)."""
    from prometheus_client import CollectorRegistry

    from flows.dataflow.metrics import LOSS_CODES, PipelineMetrics

    lost = _dashboard_exprs("input lost unread")
    assert len(lost) == 1
    assert set(lost[0].split('code=~"', 1)[1].split('"', 1)[0].split("|")) == set(LOSS_CODES)
    rule = _rule("TwinInputLostUnread")["expr"]
    assert set(rule.split('code=~"', 1)[1].split('"', 1)[0].split("|")) == set(LOSS_CODES)
    fleet = [e for e in _dashboard_exprs("Fleet models") if "twin_dead_letters_total" in e]
    assert len(fleet) == 1 and set(fleet[0].split('reason=~"', 1)[1].split('"', 1)[0].split("|")) == NOT_INPUT
    registry = PipelineMetrics(CollectorRegistry()).registry
    started = {s.labels["code"] for f in registry.collect() for s in f.samples
               if s.name == "twin_source_errors_total"}
    assert started == set(LOSS_CODES)
