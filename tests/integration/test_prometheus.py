"""A real Prometheus server scrapes a running `twin run` fed by the simulator through the real Kafka
broker; every PromQL expression of the Grafana dashboards returns data, the alert rules load, and
the metric values agree with what the pipeline processed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.free_ports import free_port
from flows.app.produce import publish
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from tests.integration.test_kafka_pipeline import consume_all
from twin_models.simulator.fleet import FleetConfig, ground_truth, simulate_fleet

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FLEET = FleetConfig(n_assets=4, days=10.0, seed=5, frame_interval_s=1800.0, scalar_interval_s=900.0)


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read())


class Prom:
    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> list[Any]:
        doc = _get(f"{self.base}/api/v1/query?query={urllib.parse.quote(expr)}")
        assert doc["status"] == "success", (expr, doc)
        return doc["data"]["result"]

    def scalar(self, expr: str) -> float:
        res = self.query(expr)
        return float(res[0]["value"][1]) if res else float("nan")


@pytest.fixture
def prometheus_bin() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.skip("no prometheus binary: `make test` installs Debian's prometheus package")
    return path


def _start_prometheus(binary: str, tmp: Path, target: str) -> tuple[subprocess.Popen[bytes], Prom]:
    port = free_port()
    shutil.copy(ROOT / "infra" / "prometheus" / "rules.yml", tmp / "rules.yml")
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\n"
        f"scrape_configs:\n  - job_name: twinflow\n    static_configs:\n      - targets: ['{target}']\n")
    proc = subprocess.Popen([binary, f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/-/ready", timeout=1)  # noqa: S310
            return proc, Prom(base)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("prometheus did not become ready: " + (tmp / "prometheus.log").read_text()[-2000:])


@pytest.fixture
def running_pipeline(kafka_brokers: str, kafka_admin: Any, prometheus_bin: str,
                     tmp_path: Path) -> Iterator[tuple[Prom, KafkaConfig, int, subprocess.Popen[str], Path]]:
    """The run's stderr goes to a file (``run.stderr``), read when an assertion needs it: a pipe nobody
    reads while the test waits minutes would block the run once 64 KiB of warnings filled it (a stall
    that the 180 s wait then reported without one line of the run's own)."""
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"prom-{uuid.uuid4().hex[:8]}.", partitions=2)
    create_topics(cfg)
    first_failure = min(t.failure_at for t in ground_truth(FLEET) if t.failure_at is not None)
    cut = first_failure.timestamp() - 4 * 3600  # stop while that asset is degrading
    records = [r for r in simulate_fleet(FLEET) if r.timestamp.timestamp() < cut]
    publish(records, cfg)
    from flows.cli.kafka_commands import write_fleet_metadata

    write_fleet_metadata(FLEET, str(tmp_path / "meta.json"))
    mport = free_port()
    env = {**os.environ, "TWIN_METRICS__WATCH": "pump-001"}
    err = tmp_path / "run.stderr"
    with err.open("w") as sink:
        pipeline = subprocess.Popen(
            [sys.executable, "-m", "flows.cli.main", "run", "--brokers", kafka_brokers, "--topic-prefix",
             cfg.topic_prefix, "--archive", str(tmp_path / "archive"), "--metadata",
             str(tmp_path / "meta.json"), "--clock", "data", "--metrics-port", str(mport)],
            stdout=subprocess.DEVNULL, stderr=sink, text=True, env=env)
    prom, prom_proc = None, None
    try:
        prom_proc, prom = _start_prometheus(prometheus_bin, tmp_path, f"127.0.0.1:{mport}")
        yield prom, cfg, len(records), pipeline, err
    finally:
        if pipeline.poll() is None:
            pipeline.kill()
            pipeline.wait(timeout=30)
        if prom_proc is not None:
            prom_proc.terminate()
            prom_proc.wait(timeout=30)
        kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)


def _dashboard_exprs() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((ROOT / "infra" / "grafana" / "dashboards").glob("*.json")):
        doc = json.loads(path.read_text())
        for panel in doc["panels"]:
            for target in panel["targets"]:
                out.append((path.stem, panel["title"], target["expr"]))
    return out


def _settled(prom: Prom, cfg: KafkaConfig, n_records: int) -> bool:
    """The scraped counters of the later steps agree with the run's outputs, and every dashboard
    query has data (for the asset with a RUL)."""
    if prom.scalar('sum(twin_step_items_total{step="decode"})') != n_records:
        return False
    if prom.scalar("sum(twin_alerts_total) or vector(0)") != len(consume_all(cfg, "alerts")):
        return False
    assets = [r["metric"]["asset_id"] for r in prom.query("min by (asset_id) (twin_asset_rul_seconds)")]
    return bool(assets) and all(prom.query(expr.replace("$instance", ".*").replace("$asset", assets[0]))
                                for _dash, _title, expr in _dashboard_exprs())


def test_prometheus_scrapes_the_pipeline_and_every_dashboard_query_has_data(running_pipeline) -> None:  # type: ignore[no-untyped-def]
    prom, cfg, n_records, pipeline, err = running_pipeline
    deadline = time.monotonic() + 180
    seen = float("nan")
    while time.monotonic() < deadline:
        seen = prom.scalar("sum(twin_records_in_total)")
        if seen == n_records:
            break
        assert pipeline.poll() is None, err.read_text()[-3000:]
        time.sleep(1.0)
    assert seen == n_records, (seen, err.read_text()[-3000:])  # every produced record was counted once
    # the later steps' counters scraped and rate() windows holding several samples: waited for (at
    # most 2 min), not a fixed 6 s a loaded machine can overrun (round 31); asserted below as before
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _settled(prom, cfg, n_records):
        time.sleep(1.0)
    assert prom.scalar('up{job="twinflow"}') == 1
    assert prom.scalar('sum(twin_step_items_total{step="decode"})') == n_records
    assert prom.scalar("sum(twin_dead_letters_total) or vector(0)") == 0
    assert prom.scalar("sum(twin_assets_tracked)") == FLEET.n_assets
    alert_msgs = consume_all(cfg, "alerts")
    assert prom.scalar("sum(twin_alerts_total) or vector(0)") == len(alert_msgs)
    assets = [r["metric"]["asset_id"] for r in prom.query("min by (asset_id) (twin_asset_rul_seconds)")]
    assert assets, "no asset with a RUL: the degrading asset should have one"
    worst = min(prom.query("twin_asset_health_index"), key=lambda r: float(r["value"][1]))
    asset = assets[0] if assets else worst["metric"]["asset_id"]
    empty = []
    for dash, title, expr in _dashboard_exprs():
        concrete = expr.replace("$instance", ".*").replace("$asset", asset)
        if not prom.query(concrete):
            empty.append(f"{dash} / {title}: {concrete}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
    rules = _get(f"{prom.base}/api/v1/rules")["data"]["groups"]
    assert sum(len(g["rules"]) for g in rules) == 8
    assert all(r["health"] == "ok" for g in rules for r in g["rules"])
    pipeline.send_signal(signal.SIGTERM)  # graceful stop
    assert pipeline.wait(timeout=60) == 0, err.read_text()[-3000:]
