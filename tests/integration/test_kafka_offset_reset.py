"""`twin run` resumed past a topic's retention, with the operator's own ``auto.offset.reset`` (round 14).

Round 13 made the source always read from the oldest message kept (``earliest``), overriding an
operator's setting for that key silently. Now an explicit ``latest`` or ``error`` is honoured, the
policy is said at start-up, and the gap is still warned about and counted (``offsets_deleted``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from benchmarks.bench_fuzz_kafka import produce, valid_messages, write_metadata
from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=2, days=4.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)


Run = tuple[subprocess.CompletedProcess[str], KafkaConfig, int, int]


def _resume_past_retention(kafka_brokers: str, kafka_admin: Any, tmp_path: Path, policy: str | None) -> Run:
    """Run over 2 days, publish 2 more, delete the first 10 unread scalars (as retention does), run again
    with ``auto.offset.reset`` = ``policy`` (None: not set). Returns the second run, the config, the
    snapshot's scalar offset and how many non-scalar messages the second run had to read."""
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"or-{uuid.uuid4().hex[:8]}.", partitions=1)
    create_topics(cfg)
    env = dict(os.environ)
    env.pop("TWIN_KAFKA__LIBRDKAFKA__AUTO_OFFSET_RESET", None)
    try:
        write_metadata(FLEET, tmp_path / "meta.json")
        msgs = valid_messages(simulate_fleet(FLEET))
        first = [m for m in msgs if m[3] < msgs[0][3] + 2 * 86_400_000]
        rest = msgs[len(first):]
        rec = tmp_path / "recovery"
        rec.mkdir()
        argv = [TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive",
                str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"), "--clock", "data",
                "--exit-at-end", "--connect-timeout", "10", "--recovery-dir", str(rec)]
        produce(cfg, first)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)
        assert done.returncode == 0, done.stderr
        produce(cfg, rest)
        read = sum(1 for m in first if m[0] == "scalars")  # the snapshot's scalar offset
        for fut in kafka_admin.delete_records([TopicPartition(cfg.topic("scalars"), 0, read + 10)]).values():
            fut.result(timeout=30)
        if policy is not None:
            env["TWIN_KAFKA__LIBRDKAFKA__AUTO_OFFSET_RESET"] = policy
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)
    finally:
        kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)
    return proc, cfg, read, sum(1 for m in rest if m[0] != "scalars")


def test_latest_from_the_settings_skips_to_the_end_said_and_counted(kafka_brokers: str, kafka_admin: Any,
                                                                    tmp_path: Path) -> None:
    """``latest``: the scalars kept after the gap are skipped as asked (round 13 read them: its
    ``earliest`` overrode the setting), the skip is warned about and counted."""
    proc, cfg, read, others = _resume_past_retention(kafka_brokers, kafka_admin, tmp_path, "latest")
    assert proc.returncode == 0, proc.stderr
    assert f"twin run: {others} records read," in proc.stderr  # the waveforms and events only
    assert ("Kafka source: auto.offset.reset=latest (from the settings): a resumed offset that retention "
            "deleted continues at the END of the topic") in proc.stderr
    assert f"{cfg.topic('scalars')}[0]: resumed at offset {read}, deleted (retention) before it was read; " \
        "auto.offset.reset=latest: continued at the end, offset " in proc.stderr
    assert "twin run: source errors: offsets_deleted 1" in proc.stderr
    # librdkafka's lines in the project's format (round 13: raw "%4|...|CONFWARN|..." / "|OFFSET|" lines)
    assert not [ln for ln in proc.stderr.splitlines() if ln.startswith("%")], proc.stderr


def test_error_from_the_settings_stops_in_one_line(kafka_brokers: str, kafka_admin: Any,
                                                   tmp_path: Path) -> None:
    """``error``: the run stops on the gap, one line naming the topic and what to do (round 13 read on)."""
    proc, cfg, read, _others = _resume_past_retention(kafka_brokers, kafka_admin, tmp_path, "error")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines[-1] == (
        f"twin: error: Kafka topic {cfg.topic('scalars')} partition 0: resumed at offset {read} is no longer "
        "kept (retention deleted it) and auto.offset.reset=error stops the run; set auto.offset.reset to "
        "earliest (read what is kept) or latest (skip to the end) under [pipeline.kafka.librdkafka], "
        "or start again with a new --recovery-dir"), lines
    assert any("auto.offset.reset=error (from the settings)" in ln for ln in lines), lines
    assert "Traceback" not in proc.stderr


def test_the_default_reads_what_is_kept_and_counts_the_gap(kafka_brokers: str, kafka_admin: Any,
                                                           tmp_path: Path) -> None:
    proc, cfg, read, others = _resume_past_retention(kafka_brokers, kafka_admin, tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    assert "auto.offset.reset" not in proc.stderr  # the default is said at info level only
    assert (f"{cfg.topic('scalars')}[0]: resumed at offset {read}, the oldest message kept is {read + 10}: "
            "10 messages deleted (retention) before they were read") in proc.stderr
    assert "twin run: source errors: offsets_deleted 1" in proc.stderr


def test_a_value_librdkafka_refuses_is_one_line_before_the_start(kafka_brokers: str, tmp_path: Path) -> None:
    env = {**os.environ, "TWIN_KAFKA__LIBRDKAFKA__AUTO_OFFSET_RESET": "oldest"}
    write_metadata(FLEET, tmp_path / "meta.json")
    proc = subprocess.run([TWIN, "run", "--brokers", kafka_brokers, "--archive", str(tmp_path / "a"),
                           "--metadata", str(tmp_path / "meta.json"), "--exit-at-end"],
                          capture_output=True, text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"twin: error: Kafka client settings for {kafka_brokers} refused: "
                                   'Invalid value "oldest" for configuration property "auto.offset.reset"')
