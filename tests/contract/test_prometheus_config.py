"""promtool validates the Prometheus configs and rules, and the rule unit tests pass."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert res.returncode == 0 and "6 rules found" in res.stdout, res.stdout + res.stderr


def test_promtool_rule_unit_tests() -> None:
    res = _promtool("test", "rules", "tests/rules_test.yml")
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


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
