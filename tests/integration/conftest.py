"""Fixtures for tests that need a real Kafka broker.

`make test` runs pytest under infra/kafka/with-kafka.sh, which starts a local single-node
broker (KRaft) and exports:

    TWIN_KAFKA_BROKERS  bootstrap address, e.g. 127.0.0.1:19092
    TWIN_KAFKA_LOCAL=1  the broker is ours (infra/kafka/kafka.sh): tests may stop/start it

Without TWIN_KAFKA_BROKERS every test using these fixtures is skipped. Point it at any other
broker to run the tests there (tests that restart the broker then skip).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

KAFKA_SH = Path(__file__).resolve().parents[2] / "infra" / "kafka" / "kafka.sh"


@pytest.fixture(scope="session")
def kafka_brokers() -> str:
    """Bootstrap servers of the broker under test (env TWIN_KAFKA_BROKERS)."""
    brokers = os.environ.get("TWIN_KAFKA_BROKERS", "").strip()
    if not brokers:
        pytest.skip("no Kafka broker: set TWIN_KAFKA_BROKERS or run `make test`, which starts one")
    return brokers


@pytest.fixture(scope="session")
def kafka_admin(kafka_brokers: str):
    """A confluent_kafka AdminClient on the broker; fails (not skips) if it does not answer."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    try:
        md = admin.list_topics(timeout=15)
    except Exception as exc:  # KafkaException: broker named but not reachable
        pytest.fail(f"TWIN_KAFKA_BROKERS={kafka_brokers} does not answer: {exc}")
    if not md.brokers:
        pytest.fail(f"TWIN_KAFKA_BROKERS={kafka_brokers} lists no brokers")
    return admin


def wait_for_topic(admin, topic: str, partitions: int, timeout: float = 30.0) -> None:
    """Block until metadata shows `topic` with `partitions` partitions, each with a leader."""
    deadline = time.monotonic() + timeout
    last = "no metadata"
    while time.monotonic() < deadline:
        try:
            md = admin.list_topics(topic=topic, timeout=5)
            t = md.topics.get(topic)
            if t is not None and t.error is None and len(t.partitions) == partitions:
                if all(p.leader >= 0 and p.error is None for p in t.partitions.values()):
                    return
            last = f"topic={t.error if t is not None else 'absent'}"
        except Exception as exc:
            last = str(exc)
        time.sleep(0.1)
    msg = f"topic {topic} not ready after {timeout} s: {last}"
    raise TimeoutError(msg)


@pytest.fixture
def unique_topic(kafka_admin) -> Iterator[Callable[..., str]]:
    """Factory: unique_topic(prefix, partitions=1, config=None) -> name of a new topic.

    Names are `<prefix>-<uuid hex>` so tests never share a topic; all topics made through
    the factory are deleted after the test.
    """
    from confluent_kafka.admin import NewTopic

    made: list[str] = []

    def make(prefix: str = "test", partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex}"
        new = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        kafka_admin.create_topics([new], operation_timeout=30)[name].result(timeout=30)
        made.append(name)
        wait_for_topic(kafka_admin, name, partitions)
        return name

    yield make

    if made:
        futures = kafka_admin.delete_topics(made, operation_timeout=30)
        for fut in futures.values():
            try:
                fut.result(timeout=30)
            except Exception:  # best effort: broker may be gone if the test broke it
                pass


@pytest.fixture
def topic_sets(kafka_brokers: str, kafka_admin: Any) -> Iterator[Callable[..., tuple[Any, ...]]]:
    """Factory: topic_sets(prefix, partitions, count=2) -> ``count`` KafkaConfigs, each with its own
    fresh set of twinflow's topics (``twin topics create``) under ``<prefix>-<8 hex>.``; all of
    them deleted after the test (e.g. a clean and a poisoned copy of one input, compared)."""
    from flows.app.topics import TOPIC_ROLES, create_topics
    from flows.config.pipeline import KafkaConfig

    made: list[Any] = []

    def make(prefix: str, partitions: int, count: int = 2) -> tuple[Any, ...]:
        cfgs = tuple(KafkaConfig(brokers=kafka_brokers, topic_prefix=f"{prefix}-{uuid.uuid4().hex[:8]}.",
                                 partitions=partitions) for _ in range(count))
        for cfg in cfgs:
            create_topics(cfg)
            made.append(cfg)
        return cfgs

    yield make
    if made:
        kafka_admin.delete_topics([c.topic(r) for c in made for r in TOPIC_ROLES], operation_timeout=30)


def kill_left(procs: list[subprocess.Popen[Any]]) -> None:
    """Kill and reap the processes a test started that still run: called in a ``finally``, so that a
    failed assertion or a ``communicate`` timeout on one process of a cluster does not leave it, or
    the others not waited on yet, running (and loading the machine) through the tests after it."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stopped(proc: subprocess.Popen[Any], signum: int, timeout_s: float = 60.0) -> int:
    """Send ``signum`` and wait at most ``timeout_s`` for the exit status. A run still alive then
    fails the test (it must stop on a signal) and is killed and reaped first, not left running and
    loading the machine through the tests after it (round 45, FLAKE45's finding)."""
    proc.send_signal(signum)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_left([proc])
        msg = f"the run did not stop within {timeout_s:g} s of signal {signum}: killed"
        raise AssertionError(msg) from None


def ended_well(procs: list[subprocess.Popen[str]], timeout_s: float) -> list[str]:
    """Each process's stderr once it ended with status 0, waited for in turn (at most ``timeout_s``
    each); the first that fails or times out fails the test, and none is left running then."""
    errs = []
    try:
        for proc in procs:
            _out, err = proc.communicate(timeout=timeout_s)
            assert proc.returncode == 0, err[-3000:]
            errs.append(err)
    finally:
        kill_left(procs)
    return errs


class KafkaControl:
    """Stop/start the local broker (infra/kafka/kafka.sh) from a test."""

    def __init__(self, brokers: str, script: Path = KAFKA_SH) -> None:
        self.script = script
        self.env = dict(os.environ)
        # Restart on the port the tests were given (127.0.0.1:PORT), whatever KAFKA_PORT says.
        port = brokers.split(",")[0].rsplit(":", 1)[-1]
        if port.isdigit():
            self.env["KAFKA_PORT"] = port

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.script), *args],
            capture_output=True, text=True, timeout=timeout, check=False, env=self.env,
        )

    def _check(self, *args: str) -> str:
        proc = self._run(*args)
        if proc.returncode != 0:
            msg = f"kafka.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            raise RuntimeError(msg)
        return proc.stdout

    def stop(self) -> None:
        self._check("stop")

    def start(self, wait_timeout: int = 60) -> None:
        """Start the broker (same data dir: topics and messages are kept) and wait for it."""
        self._check("start")
        self._check("wait", str(wait_timeout))

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self._run("status").returncode == 0


@pytest.fixture
def kafka_control(kafka_brokers: str) -> Iterator[KafkaControl]:
    """Control of the local broker; skips unless TWIN_KAFKA_LOCAL=1 (broker started by us).

    Whatever the test did, the broker is running again afterwards.
    """
    if os.environ.get("TWIN_KAFKA_LOCAL") != "1":
        pytest.skip("needs the local broker (TWIN_KAFKA_LOCAL=1, set by infra/kafka/with-kafka.sh)")
    control = KafkaControl(kafka_brokers)
    yield control
    if not control.is_running():
        control.start()
