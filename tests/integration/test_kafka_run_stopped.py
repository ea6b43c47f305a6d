"""`twin run` stopped by SIGTERM says what it did (round 26).

Data engineers run `twin run` under systemd or Kubernetes, which stop it with SIGTERM. Until round 26
such a stop printed only "stopped; restart with the same arguments ...": what was read, the windows
closed and the dead letters (late records among them) were told only at the end of an
``--exit-at-end`` run. Now the same summary ends a stopped run, marked with the signal, and the exit
status stays 0 (a stop, not a failure). Late records are split by the topic they were read from.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.bench_fuzz_kafka import produce, valid_messages, write_metadata
from benchmarks.free_ports import free_port
from benchmarks.metrics_read import ScrapeFailed, read_metrics
from flows.config.pipeline import KafkaConfig
from tests.flows.test_stop_signals import _sigint_default
from tests.integration.conftest import stopped
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=2, days=1.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


def _scraped(port: int) -> dict[str, float]:
    """Each metric's total over its labels, from the run's own /metrics endpoint."""
    totals: dict[str, float] = {}
    for line in read_metrics(port, timeout=5, tries=1).splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            base = name.split("{", 1)[0]
            totals[base] = totals.get(base, 0.0) + float(value)
    return totals


def _wait_until_read(proc: subprocess.Popen[str], port: int, records: int, late: int,
                     timeout_s: float) -> dict[str, float]:
    """Wait (not a timed assertion: the run is then stopped and checked) until the run has read
    ``records`` records and counted ``late`` late ones."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, float] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen = _scraped(port)
        except ScrapeFailed:  # not serving yet, or a read cut off (IncompleteRead): tried again
            seen = {}
        if (seen.get("twin_records_in_total", 0) >= records
                and seen.get("twin_late_records_total", 0) >= late):
            return seen
        time.sleep(0.5)
    return seen


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_run_stopped_by_sigterm_prints_its_end_summary_with_late_records_by_topic(
        topic_sets: Callable[..., tuple[KafkaConfig, ...]], tmp_path: Path, signum: signal.Signals) -> None:
    """SIGHUP (round 35: the terminal or ssh session went away) stops it as SIGTERM does."""
    name = signal.Signals(signum).name
    cfg = topic_sets(f"rs{name[3:].lower()}", 1, count=1)[0]
    write_metadata(FLEET, tmp_path / "meta.json")
    messages = valid_messages(simulate_fleet(FLEET))
    first = {role: next(m for m in messages if m[0] == role) for role in ("scalars", "waveforms")}
    # a copy of the first scalar and of the first frame, sent again at the end of their topics: by
    # then their windows closed a day ago (late records, one on each of two topics)
    sent = [*messages, first["scalars"], first["waveforms"]]
    produce(cfg, sent)
    err, port = tmp_path / "stderr.txt", free_port()
    argv = [TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive",
            str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"), "--clock", "data",
            "--metrics-port", str(port), "--metrics-address", "127.0.0.1"]
    with err.open("w") as sink:
        proc = subprocess.Popen(_sigint_default(argv), stderr=sink, text=True)  # SIGHUP not ignored (nohup)
        try:
            seen = _wait_until_read(proc, port, len(sent), 2, 180)
        finally:
            code = stopped(proc, signum)
    text = err.read_text()
    assert seen.get("twin_late_records_total") == 2, (seen, text[-3000:])
    lines = [ln for ln in text.splitlines() if ln.startswith("twin run: ")]
    assert code == 0, text[-3000:]  # a stop is not a failure (README: exit status)
    summary = next((ln for ln in lines if ln.startswith(f"twin run: stopped by {name}: ")), None)
    assert summary is not None, text[-3000:]
    head, _, rest = summary.partition(" windows closed, ")
    assert head.startswith(f"twin run: stopped by {name}: {len(sent)} records read, "), summary
    assert int(head.rsplit(" ", 1)[-1]) > 0, summary  # windows closed
    topics = f"{cfg.topic('scalars')} 1, {cfg.topic('waveforms')} 1"
    assert rest == f"dead letters: 2 (late_record 2 ({topics})) on the dead-letter topic", summary
    # the rest of the end summary, as at the end of an --exit-at-end run, then how to resume
    assert any(ln.startswith("twin run: fleet models: ") for ln in lines), lines
    assert lines[-1].startswith("twin run: stopped; restart with the same arguments to resume"), lines
