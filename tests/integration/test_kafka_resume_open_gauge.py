"""On a real broker: ``twin_alert_episodes_open`` after ``kill -9`` and a restart (round 32, HOSTILE32).

The gauge counted an asset's open episodes from its first item in the process: a restart with no
new input (every epoch of the killed run complete, nothing replayed) said 0 while the restored
alert state and the archive held an open episode. It now starts from the restored state: equal to
the archive's open episodes, and never below 0."""

from __future__ import annotations

import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from benchmarks.free_ports import free_port
from benchmarks.metrics_read import ScrapeFailed, read_metrics
from flows.app.produce import publish
from flows.archive.query import query
from flows.cli.kafka_commands import write_fleet_metadata
from flows.config.pipeline import KafkaConfig
from flows.dataflow.open_episodes import condition_open
from flows.dataflow.recovery_store import resume_point
from twin_models.simulator.fleet import FleetConfig, ground_truth, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=4, days=10.0, seed=5, frame_interval_s=1800.0, scalar_interval_s=900.0)


def _figures(text: str) -> dict[str, float]:
    pattern = r'^(?:twin_alert_episodes_open\{kind="(\w+)"\}|twin_step_items_total\{step="(decode)"\}) (\S+)$'
    return {m.group(1) or m.group(2): float(m.group(3))
            for m in re.finditer(pattern, text, flags=re.MULTILINE)}


def _scrape(port: int) -> dict[str, float] | None:
    """The figures, or None when the read failed (not serving yet, or cut off): the caller waits on."""
    try:
        return _figures(read_metrics(port, tries=1))
    except ScrapeFailed:
        return None


def _until(check: Callable[[], bool], what: str, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.5)


def _open_in_store(store: Path) -> int:
    """Open condition episodes in the newest alert-gate snapshots of epochs the killed run completed."""
    point = resume_point(store)
    if point is None:
        return -1
    newest: dict[str, tuple[int, bytes]] = {}
    with closing(sqlite3.connect(store / "part-0.sqlite3")) as conn:
        for key, epoch, blob in conn.execute("SELECT state_key, snap_epoch, ser_change FROM snaps WHERE "
                                             "step_id LIKE 'twinflow.alert_gate.%' AND snap_epoch < ?",
                                             (point.epoch,)):
            if key not in newest or epoch > newest[key][0]:
                newest[key] = (epoch, blob)
    return sum(condition_open(pickle.loads(blob)) for _, blob in newest.values())  # noqa: S301


def test_after_kill_9_and_a_restart_the_gauge_is_the_archive_s_open_episodes(
        topic_sets: Callable[..., tuple[KafkaConfig, ...]], tmp_path: Path) -> None:
    cfg = topic_sets("og", 2, count=1)[0]
    first = min(t.failure_at for t in ground_truth(FLEET) if t.failure_at is not None)
    cut = first.timestamp() - 4 * 3600  # stop while that asset degrades: its episode is open
    records = [r for r in simulate_fleet(FLEET) if r.timestamp.timestamp() < cut]
    publish(records, cfg)
    write_fleet_metadata(FLEET, str(tmp_path / "meta.json"))
    store = tmp_path / "rec"

    def start(port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli.main", "run", "--brokers", cfg.brokers, "--topic-prefix",
             cfg.topic_prefix, "--archive", str(tmp_path / "archive"),
             "--metadata", str(tmp_path / "meta.json"),
             "--recovery-dir", str(store), "--snapshot-interval", "1", "--clock", "data",
             "--metrics-port", str(port), "--metrics-address", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    port = free_port()
    proc = start(port)
    try:
        _until(lambda: (_scrape(port) or {}).get("decode") == len(records), "every record decoded")
        _until(lambda: (_scrape(port) or {}).get("condition") == _open_in_store(store) == 1,
               "the open episode in a completed epoch's snapshot")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        port = free_port()
        proc = start(port)  # nothing new on the topics, nothing to replay
        # the series is made with the flow (after the metrics server starts): 0 there until then
        _until(lambda: "condition" in (_scrape(port) or {}), "the restarted run's flow")
        after = _figures(read_metrics(port, tries=5))  # a read cut off is tried again, then one line
    finally:
        proc.kill()
        proc.wait(30)
    _, rows = query(tmp_path / "archive", "SELECT count(*) FROM (SELECT alert_id, arg_max(status, sequence) "
                    "AS last FROM alerts WHERE kind = 'condition' GROUP BY ALL) WHERE last <> 'cleared'")
    assert rows == [(1,)]
    assert after.get("decode", 0) == 0  # nothing replayed: the count is the restored state's
    assert after["condition"] == 1  # was 0
