"""The recovery store's Kafka cluster record (flows.dataflow.store_cluster) on real Bytewax partitions.

The broker side (``twin run`` against a real cluster) is tests/integration/test_kafka_resume_cluster.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, run_main

from flows.app import run as run_module
from flows.dataflow.recovery_store import RecoveryStoreError, prepare_store
from flows.dataflow.store_cluster import RECORD, check_cluster, forget_topic, read_record, record_cluster

A, B = "fZu1w_7vQVOrd3NQSE_NDA", "Qx3m0c8iT6aRkz0lW9yY2g"


def _snapshot(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(store.iterdir())}


def _used_store(tmp_path: Path, flow_id: str = "twinflow") -> Path:
    """A store one execution of dataflow ``flow_id`` has written (a running sum over three items)."""
    store = tmp_path / "recovery"
    prepare_store(store, 1)
    flow = Dataflow(flow_id)
    keyed = op.key_on("key", op.input("inp", flow, TestingSource([1, 2, 3])), lambda _x: "k")
    sums = op.stateful_map("sum", keyed, lambda total, x: ((total or 0) + x, (total or 0) + x))
    out: list[Any] = []
    op.output("out", sums, TestingSink(out))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(store))
    assert out[-1] == ("k", 6)
    return store


def _opts(store: Path, tmp_path: Path) -> run_module.RunOptions:
    return run_module.RunOptions(tmp_path / "archive", recovery_dir=store)


def test_a_new_store_records_its_cluster_beside_the_partitions(tmp_path: Path) -> None:
    store = tmp_path / "recovery"
    run_module._recovery(_opts(store, tmp_path), A, "kafka-1:9092")
    assert sorted(p.name for p in store.iterdir()) == ["part-0.sqlite3", RECORD]
    record = read_record(store)
    assert record is not None and (record.cluster_id, record.brokers) == (A, "kafka-1:9092")
    assert json.loads((store / RECORD).read_text())["kind"] == "twinflow-kafka-cluster"


def test_a_resume_against_another_cluster_is_refused_in_one_line_touching_nothing(tmp_path: Path) -> None:
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092")
    before = _snapshot(store)
    with pytest.raises(RecoveryStoreError) as err:
        run_module._recovery(_opts(store, tmp_path), B, "dr-kafka:9092")
    assert str(err.value) == (
        f"--recovery-dir {store} holds the offsets of Kafka cluster {A} (brokers kafka-1:9092), but "
        f"dr-kafka:9092 is cluster {B}: they would mean other records there; give the brokers of "
        f"cluster {A}, or an empty --recovery-dir to start afresh on {B}")
    assert _snapshot(store) == before  # refused before any repair or record changed the store


def test_a_resume_against_the_same_cluster_goes_on(tmp_path: Path) -> None:
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092")
    config = run_module._recovery(_opts(store, tmp_path), A, "kafka-1.new-name:9092")
    assert config is not None
    record = read_record(store)
    assert record is not None and record.brokers == "kafka-1:9092"  # the first record stays


def test_a_record_half_written_by_a_killed_run_is_cleared(tmp_path: Path) -> None:
    store = _used_store(tmp_path)
    (store / f".{RECORD}.tmp-99999").write_text('{"kind": "twinflow-kafka-cl')  # killed mid-write
    check_cluster(store, A, "kafka-1:9092")
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith("part-")) == [RECORD]


def test_a_store_from_before_the_record_is_said_once_and_recorded(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    store = _used_store(tmp_path)  # no record: as every store written before round 19
    with caplog.at_level(logging.WARNING, logger="flows.dataflow.store_cluster"):
        check_cluster(store, A, "kafka-1:9092")
        check_cluster(store, A, "kafka-1:9092")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "has no record of its Kafka cluster" in said[0] and A in said[0], said
    record = read_record(store)
    assert record is not None and record.cluster_id == A
    with pytest.raises(RecoveryStoreError, match=f"holds the offsets of Kafka cluster {A}"):
        check_cluster(store, B, "other:9092")


def test_an_initialised_store_without_executions_is_recorded_silently(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "recovery"
    prepare_store(store, 2)  # e.g. killed between the initialisation and the record
    with caplog.at_level(logging.WARNING, logger="flows.dataflow.store_cluster"):
        check_cluster(store, A, "kafka-1:9092")
    assert not caplog.records
    record = read_record(store)
    assert record is not None and record.cluster_id == A


def test_a_deleted_folder_starts_afresh_on_the_new_cluster(tmp_path: Path) -> None:
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092")
    for p in store.iterdir():
        p.unlink()
    store.rmdir()
    run_module._recovery(_opts(store, tmp_path), B, "dr-kafka:9092")
    record = read_record(store)
    assert record is not None and record.cluster_id == B


@pytest.mark.parametrize("text", ["{not json", '{"kind": "other", "cluster_id": "x"}', '["x"]'])
def test_a_record_that_is_not_twinflows_is_refused_not_overwritten(tmp_path: Path, text: str) -> None:
    store = _used_store(tmp_path)
    (store / RECORD).write_text(text)
    with pytest.raises(RecoveryStoreError, match="cluster record .* cannot be read") as err:
        check_cluster(store, A, "kafka-1:9092")
    assert "\n" not in str(err.value)
    assert (store / RECORD).read_text() == text


def test_brokers_without_a_cluster_id_are_not_checked(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092")
    with caplog.at_level(logging.WARNING, logger="flows.dataflow.store_cluster"):
        run_module._recovery(_opts(store, tmp_path), None, "old-kafka:9092")
    assert "gives no cluster id" in caplog.text
    record = read_record(store)
    assert record is not None and record.cluster_id == A


def test_run_checks_the_store_before_anything_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """run_kafka_flow: the cluster id from the broker check reaches the store check, and a refusal
    comes before the fleet model consumer or the engine start."""
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092")
    started: list[str] = []
    monkeypatch.setattr(run_module, "check_kafka", lambda _cfg, **_k: run_module.KafkaIdentity(B, {}))
    monkeypatch.setattr(run_module, "build_kafka_flow", lambda *_a: started.append("flow"))
    monkeypatch.setattr(run_module, "FleetModelConsumer", lambda *_a, **_k: started.append("consumer"))
    monkeypatch.setattr(run_module, "cli_main", lambda *_a, **_k: started.append("engine"))
    with pytest.raises(RecoveryStoreError, match=f"is cluster {B}"):
        run_module.run_kafka_flow(run_module.PipelineConfig(), _opts(store, tmp_path), {})
    assert started == []


T1, T2 = "RlAaPAddQLyDMuWlF0oVeg", "0n9K8m7L6k5J4i3H2g1F0e"
S, W = "twin.telemetry.scalars.v1", "twin.telemetry.waveforms.v1"


def test_a_new_store_records_its_input_topics_ids(tmp_path: Path) -> None:
    store = tmp_path / "recovery"
    run_module._recovery(_opts(store, tmp_path), A, "kafka-1:9092", {W: T2, S: T1})
    record = read_record(store)
    assert record is not None and record.topics == {S: T1, W: T2}
    assert json.loads((store / RECORD).read_text())["topics"] == {S: T1, W: T2}


def test_a_resume_on_a_re_created_topic_is_refused_in_one_line_touching_nothing(tmp_path: Path) -> None:
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092", {S: T1, W: T1 + "w"})
    before = _snapshot(store)
    with pytest.raises(RecoveryStoreError) as err:
        run_module._recovery(_opts(store, tmp_path), A, "kafka-1:9092", {S: T2, W: T1 + "w"})
    assert str(err.value) == (
        f"--recovery-dir {store} holds the offsets of topic {S} (id {T1}, now {T2}), deleted and "
        f"re-created since on cluster {A}: they would skip or re-read records of the new topic; give an "
        f"empty --recovery-dir to read the topics afresh")
    assert _snapshot(store) == before
    with pytest.raises(RecoveryStoreError, match=f"topics {S} .id {T1}, now {T2}., {W} .id {T1}w, now x."):
        check_cluster(store, A, "kafka-1:9092", {S: T2, W: "x"})
    assert _snapshot(store) == before


def test_unchanged_topic_ids_resume_and_a_topic_read_now_is_added(tmp_path: Path) -> None:
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092", {S: T1})
    check_cluster(store, A, "kafka-1:9092", {S: T1})
    record = read_record(store)
    assert record is not None and record.topics == {S: T1}
    check_cluster(store, A, "kafka-1:9092", {S: T1, "twin.decisions.v1": T2})  # decisions read now
    record = read_record(store)
    assert record is not None and record.topics == {S: T1, "twin.decisions.v1": T2}
    check_cluster(store, A, "kafka-1:9092", {})  # ids not given (an old broker): not checked, kept
    record = read_record(store)
    assert record is not None and record.topics == {S: T1, "twin.decisions.v1": T2}


def test_a_record_from_before_topic_ids_is_said_once_and_recorded(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092")  # a round-19 record: the cluster only
    assert "topics" not in json.loads((store / RECORD).read_text())
    with caplog.at_level(logging.WARNING, logger="flows.dataflow.store_cluster"):
        check_cluster(store, A, "kafka-2:9092", {S: T1})
        check_cluster(store, A, "kafka-2:9092", {S: T1})
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "has no record of its input topics' ids" in said[0] and S in said[0], said
    record = read_record(store)
    assert record is not None and (record.cluster_id, record.brokers, record.topics) == (A, "kafka-1:9092",
                                                                                         {S: T1})
    with pytest.raises(RecoveryStoreError, match="deleted and re-created since"):
        check_cluster(store, A, "kafka-1:9092", {S: T2})


@pytest.mark.parametrize("topics", ['["x"]', '{"t": 3}'])
def test_a_record_with_unreadable_topic_ids_is_refused_not_overwritten(tmp_path: Path, topics: str) -> None:
    store = _used_store(tmp_path)
    text = f'{{"kind": "twinflow-kafka-cluster", "cluster_id": "{A}", "topics": {topics}}}'
    (store / RECORD).write_text(text)
    with pytest.raises(RecoveryStoreError, match="cluster record .* cannot be read"):
        check_cluster(store, A, "kafka-1:9092", {S: T1})
    assert (store / RECORD).read_text() == text


def test_a_topic_deleted_mid_run_is_forgotten_and_its_new_id_recorded_next(tmp_path: Path) -> None:
    """A topic deleted while the run read it (said then): one created again under that name is read
    from its first message, so the offsets stored since are the new topic's: not refused."""
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092", {S: T1, W: T2})
    forget_topic(store, S)
    record = read_record(store)
    assert record is not None and record.topics == {W: T2}
    run_module._recovery(_opts(store, tmp_path), A, "kafka-1:9092", {S: "new", W: T2})
    record = read_record(store)
    assert record is not None and record.topics == {S: "new", W: T2}
    forget_topic(store, S)
    forget_topic(store, S)  # twice, or a topic not recorded: nothing more
    forget_topic(store, W)  # the last one: an empty map, not a record without ids (no warning later)
    assert json.loads((store / RECORD).read_text())["topics"] == {}


def test_forgetting_never_raises_mid_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = _used_store(tmp_path)
    (store / RECORD).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="flows.dataflow.store_cluster"):
        forget_topic(store, S)
    assert "could not be forgotten" in caplog.text
    assert (store / RECORD).read_text() == "{not json"


def test_the_run_s_sources_forget_a_deleted_topic_in_the_store(tmp_path: Path) -> None:
    from flows.config.pipeline import PipelineConfig
    from flows.dataflow.metrics import PipelineMetrics

    store = _used_store(tmp_path)
    cfg = PipelineConfig()
    record_cluster(store, A, "kafka-1:9092", {cfg.kafka.topic("whatif_requests"): T1, S: T2})
    source = run_module.whatif_request_source(cfg, _opts(store, tmp_path), PipelineMetrics())
    source.topic_deleted(cfg.kafka.topic("whatif_requests"))  # the source's notice of a deleted topic
    record = read_record(store)
    assert record is not None and record.topics == {S: T2}
    bare = run_module.whatif_request_source(cfg, run_module.RunOptions(tmp_path / "a"), PipelineMetrics())
    assert bare.topic_deleted.also is None  # no store: nothing to forget


def test_a_store_of_a_run_on_other_topics_is_refused_in_one_line_touching_nothing(tmp_path: Path) -> None:
    """Main: resumed without a word (a store of `--topic-prefix a.` given to a run of `b.`): the twins
    went on from the other run's state while b.'s topics were read from their first message."""
    store = _used_store(tmp_path)
    record_cluster(store, A, "kafka-1:9092", {"a." + S: T1, "a." + W: T2})
    before = _snapshot(store)
    with pytest.raises(RecoveryStoreError) as err:
        run_module._recovery(_opts(store, tmp_path), A, "kafka-1:9092",
                             {"b." + S: T2 + "s", "b." + W: T1 + "w"})
    assert str(err.value) == (
        f"--recovery-dir {store} holds the offsets and state of another run, which read a.{S}, a.{W}; this "
        f"one reads b.{S}, b.{W}, none of them: its twins would go on from the other run's records, and "
        "these topics be read from their start; give that run's topics (--topic-prefix), or an empty "
        "--recovery-dir to start afresh")
    assert _snapshot(store) == before
    check_cluster(store, A, "kafka-1:9092", {"a." + S: T1, "b." + W: T2})  # one in common: a topic added
    fresh = tmp_path / "fresh"
    prepare_store(fresh, 1)
    record_cluster(fresh, A, "kafka-1:9092", {"a." + S: T1})
    check_cluster(fresh, A, "kafka-1:9092", {"b." + S: T2})  # no execution yet: nothing to mix up


RECORD_ON_A_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from flows.dataflow.recovery_store import RecoveryStoreError
from flows.dataflow.store_cluster import record_cluster
resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))  # the record's writes fail (EFBIG), as on a full disk
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
try:
    record_cluster(Path(sys.argv[1]), "A", "kafka-1:9092", {"t": "T"})
except RecoveryStoreError as exc:
    print("refused:", exc)
except OSError as exc:
    print("os error:", exc)
"""


def test_a_record_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path) -> None:
    """Main: `twin: error: [Errno 28] No space left on device` on a full disk, naming no file."""
    store = _used_store(tmp_path)
    proc = subprocess.run([sys.executable, "-c", RECORD_ON_A_FULL_DISK, str(store)], capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.stdout.strip() == (f"refused: --recovery-dir {store}: cannot write its Kafka cluster record "
                                   f"{RECORD}: File too large"), proc.stdout + proc.stderr
    assert read_record(store) is None and not list(store.glob(".*"))


def test_a_store_of_another_dataflow_is_refused_before_anything_is_written_to_it(tmp_path: Path) -> None:
    """Main: resumed (a warning that it predates the cluster record), the record written into the other
    program's folder and twinflow's snapshots beside its own; none of its state was ever loaded."""
    store = _used_store(tmp_path, "cluster_test")  # a Bytewax folder of another program
    before = _snapshot(store)
    with pytest.raises(RecoveryStoreError) as err:
        run_module._recovery(_opts(store, tmp_path), A, "kafka-1:9092", {S: T1})
    steps = "cluster_test.inp, cluster_test.sum.stateful_flat_map.stateful.stateful_batch"
    assert str(err.value) == (f"--recovery-dir {store} holds the state of another dataflow (steps {steps}), "
                              "not twinflow's: give an empty --recovery-dir to start afresh")
    assert _snapshot(store) == before
