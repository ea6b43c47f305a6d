"""twinflow over the local broker's SASL_SSL listener (TLS + SCRAM-SHA-512).

infra/kafka/with-kafka.sh exports the listener's address, user, password file and CA file
(TWIN_KAFKA_SASL_BROKERS, TWIN_KAFKA_SASL_USER, TWIN_KAFKA_SASL_PASSWORD_FILE, TWIN_KAFKA_CA);
the settings reach `twin` the documented way, as TWIN_KAFKA__LIBRDKAFKA__* environment variables.
Checked: the whole simulate -> run -> alerts path works over SASL_SSL; a wrong password and an
untrusted CA end every command with one line naming the problem and the broker, quickly (the
subprocess timeout is only a hang detector); the password is in no output, log or message.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig
from flows.dataflow.sinks.kafka import KafkaTopicSink
from flows.dataflow.sources.kafka import KafkaTelemetrySource
from flows.kafka.errors import KafkaSecurityError
from tests.integration.test_kafka_pipeline import consume_all as consume_plain

pytestmark = pytest.mark.integration

HANG = 120.0  # seconds: a command still running by then hangs (the bug this file guards against)
SASL_ENV = ("TWIN_KAFKA_SASL_BROKERS", "TWIN_KAFKA_SASL_USER", "TWIN_KAFKA_SASL_PASSWORD_FILE",
            "TWIN_KAFKA_CA")


@dataclass(frozen=True)
class Sasl:
    brokers: str
    user: str
    password: str
    ca: str
    state_dir: Path  # the broker's state dir (its logs are checked for the password)

    def settings(self, **over: str) -> dict[str, str]:
        """librdkafka settings of a SASL_SSL client (``over``: sasl_password=..., ...)."""
        s = {"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
             "sasl.username": self.user, "sasl.password": self.password, "ssl.ca.location": self.ca}
        s.update({k.replace("_", "."): v for k, v in over.items()})
        return s

    def kafka(self, prefix: str, **over: str) -> KafkaConfig:
        return KafkaConfig(brokers=self.brokers, topic_prefix=prefix, partitions=2,
                           librdkafka=self.settings(**over))

    def env(self, prefix: str, **over: str) -> dict[str, str]:
        """The process env of a `twin` command: settings as TWIN_KAFKA__LIBRDKAFKA__* variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_KAFKA__")}
        env.update({"TWIN_KAFKA__BROKERS": self.brokers, "TWIN_KAFKA__TOPIC_PREFIX": prefix,
                    "RUST_BACKTRACE": "0"})
        for key, value in self.settings(**over).items():
            env["TWIN_KAFKA__LIBRDKAFKA__" + key.replace(".", "_").upper()] = value
        return env


@pytest.fixture(scope="module")
def sasl() -> Sasl:
    missing = [n for n in SASL_ENV if not os.environ.get(n)]
    if missing:
        pytest.skip(f"no SASL_SSL listener ({', '.join(missing)} unset): run under "
                    "infra/kafka/with-kafka.sh (`make test`), which exports them")
    pw_file = Path(os.environ["TWIN_KAFKA_SASL_PASSWORD_FILE"])
    return Sasl(os.environ["TWIN_KAFKA_SASL_BROKERS"], os.environ["TWIN_KAFKA_SASL_USER"],
                pw_file.read_text().strip(), os.environ["TWIN_KAFKA_CA"], pw_file.parent.parent)


@pytest.fixture
def prefix(sasl: Sasl) -> Iterator[str]:
    """A fresh topic prefix; its topics are deleted afterwards (over SASL_SSL)."""
    p = f"sasl-{uuid.uuid4().hex[:8]}."
    yield p
    admin = AdminClient({"bootstrap.servers": sasl.brokers, **sasl.settings()})
    topics = [p + getattr(KafkaConfig().topics, r) for r in TOPIC_ROLES]
    existing = set(admin.list_topics(timeout=10).topics)
    if doomed := [t for t in topics if t in existing]:
        for fut in admin.delete_topics(doomed, operation_timeout=30).values():
            fut.result(timeout=30)


def twin(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli.main", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=HANG, check=False)


def consume_all(sasl: Sasl, cfg: KafkaConfig, role: str) -> list[Any]:
    """Every message of one of the run's topics, read over SASL_SSL."""
    return consume_plain(replace(cfg, brokers=sasl.brokers), role, 30.0, sasl.settings())


def texts_under(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in folder.rglob("*") if p.is_file()]


def test_simulate_run_alerts_over_sasl_ssl_and_the_password_is_nowhere(
        sasl: Sasl, prefix: str, tmp_path: Path) -> None:
    env = sasl.env(prefix)
    outputs = [twin(env, "topics", "create", "--partitions", "2", cwd=tmp_path)]
    outputs.append(twin(env, "simulate", "--assets", "4", "--days", "8", "--seed", "11",
                        "--no-progress", "--write-metadata", "meta.json", cwd=tmp_path))
    cfg = sasl.kafka(prefix)
    bad = Producer({"bootstrap.servers": sasl.brokers, **sasl.settings()})
    bad.produce(cfg.topic("scalars"), value=b"{not json", key=b"pump-001")
    assert bad.flush(30) == 0
    outputs.append(twin(env, "run", "--exit-at-end", "--clock", "data", "--metadata", "meta.json",
                        "--archive", "archive", cwd=tmp_path))
    for res in outputs:
        assert res.returncode == 0, res.stderr[-3000:]
    alerts = consume_all(sasl, cfg, "alerts")
    dead = consume_all(sasl, cfg, "dead_letters")
    assert len(alerts) > 0 and [m.value() for m in dead] == [b"{not json"]
    assert (tmp_path / "archive" / "alerts").is_dir()

    secret = sasl.password.encode()
    seen = [(r.stdout + r.stderr).encode() for r in outputs]
    seen += [m.value() + b"".join(v for _k, v in m.headers() or ()) for m in alerts + dead]
    seen += texts_under(tmp_path) + texts_under(sasl.state_dir / "logs")
    assert sum(map(len, seen)) > 0 and not [s for s in seen if secret in s]


def other_ca(folder: Path) -> Path:
    """A CA that did not sign the broker's certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not found (needed to make an untrusted CA)")
    ca = folder / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=not the broker's CA",
                    "-keyout", str(folder / "other-ca.key"), "-out", str(ca)],
                   check=True, capture_output=True, timeout=60)
    return ca


@pytest.mark.parametrize("problem", ["wrong password", "untrusted CA"])
def test_wrong_password_or_untrusted_ca_is_one_line_error(
        sasl: Sasl, prefix: str, tmp_path: Path, problem: str) -> None:
    wrong = f"not-the-password-{uuid.uuid4().hex[:6]}"
    if problem == "wrong password":
        env, needle = sasl.env(prefix, sasl_password=wrong), "authentication failed"
    else:
        env, needle = sasl.env(prefix, ssl_ca_location=str(other_ca(tmp_path))), "certificate verify failed"
    create_topics(sasl.kafka(prefix))  # so that `twin run` fails on security, not on missing topics
    (tmp_path / "meta.json").write_text("{}")
    commands = [("topics", "create"), ("simulate", "--assets", "2", "--days", "1", "--no-progress"),
                ("run", "--exit-at-end", "--metadata", "meta.json", "--archive", "archive")]
    for args in commands:
        res = twin(env, *args, cwd=tmp_path)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2, (args, res.stderr[-3000:])
        assert len(lines) == 1, (args, res.stderr[-3000:])
        assert lines[0].startswith(f"twin: error: Kafka {needle} at {sasl.brokers} "), (args, lines)
        for secret in (sasl.password, wrong):
            assert secret not in res.stdout + res.stderr
    assert not (tmp_path / "archive").exists()


def test_source_and_sink_stop_on_rejected_credentials_instead_of_retrying(
        sasl: Sasl, prefix: str, tmp_path: Path) -> None:
    cfg = sasl.kafka(prefix)
    create_topics(cfg)
    wrong = {"bootstrap.servers": sasl.brokers, **sasl.settings(sasl_password="wrong-one")}
    part = KafkaTelemetrySource(wrong, [cfg.topic("scalars")]).build_part("in", "0", None)
    deadline = time.monotonic() + HANG  # old code: retried (and returned nothing) forever
    with pytest.raises(KafkaSecurityError, match="authentication failed"):
        while time.monotonic() < deadline:
            part.next_batch()
    part.close()  # the engine closes partitions after a failure: no second error (an abort)
    untrusted = {**wrong, "sasl.password": sasl.password, "ssl.ca.location": str(other_ca(tmp_path)),
                 "message.timeout.ms": "30000"}  # old code: a generic delivery failure after 30 s
    sink = KafkaTopicSink(untrusted, cfg.topic("alerts")).build_part("out", "k0", None)
    with pytest.raises(KafkaSecurityError, match="certificate verify failed"):
        sink.write_batch([(b"pump-001", b"{}", [])] * 10)
    time.sleep(1.0)  # more rejected handshakes meanwhile: close must neither raise nor wait
    sink.close()


MID_RUN = """
import json, sys
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main
from flows.kafka.errors import KafkaSecurityError
from flows.app.run import _cause
from flows.dataflow.sinks.kafka import KafkaTopicSink
from flows.dataflow.sources.kafka import KafkaTelemetrySource

class OnePartition(KafkaTelemetrySource):
    def list_parts(self):  # skip the start-up check: the rejection now comes mid-run
        return ["0"]

conf, topic = json.loads(sys.argv[1]), sys.argv[2]
flow = Dataflow("mid_run")
raw = op.input("in", flow, OnePartition(conf, [topic]))
op.output("out", op.map("msg", raw, lambda r: (None, r.value, [])), KafkaTopicSink(conf, topic))
try:
    run_main(flow)
except Exception as exc:
    print("FOUND:", _cause(exc, KafkaSecurityError))
"""


def test_a_rejection_inside_the_running_engine_is_reported_and_teardown_does_not_abort(
        sasl: Sasl, prefix: str) -> None:
    import json

    cfg = sasl.kafka(prefix)
    create_topics(cfg)
    wrong = {"bootstrap.servers": sasl.brokers, **sasl.settings(sasl_password="wrong-one")}
    res = subprocess.run([sys.executable, "-c", MID_RUN, json.dumps(wrong), cfg.topic("scalars")],
                         capture_output=True, text=True, timeout=HANG, check=False,
                         env={**os.environ, "RUST_BACKTRACE": "0"})
    assert res.returncode == 0, res.stderr[-3000:]  # 134 = aborted in the engine's teardown
    assert res.stdout.startswith(f"FOUND: Kafka authentication failed at {sasl.brokers} "), res.stdout
    assert "wrong-one" not in res.stdout + res.stderr


def test_a_resume_over_another_listener_with_a_moved_ca_file_keeps_its_state(
        sasl: Sasl, prefix: str, tmp_path: Path) -> None:
    """Round 18 (HARDEN21): connection-only settings are not part of what a restart resumes. A
    run over the PLAINTEXT listener with a recovery store, resumed over the SASL_SSL listener
    (other bootstrap address, security.protocol, SASL, the CA file moved as in a rotation, another
    client.id): no refusal, and the resumed offsets hold (0 records read again, not all of them)."""
    plain = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_KAFKA__")}
    plain.update({"TWIN_KAFKA__BROKERS": os.environ["TWIN_KAFKA_BROKERS"], "TWIN_KAFKA__TOPIC_PREFIX": prefix,
                  "RUST_BACKTRACE": "0"})
    run = ("run", "--exit-at-end", "--clock", "data", "--metadata", "meta.json", "--recovery-dir", "rec")
    for args in (("topics", "create", "--partitions", "2"),
                 ("simulate", "--assets", "2", "--days", "3", "--seed", "11", "--no-progress",
                  "--write-metadata", "meta.json")):
        res = twin(plain, *args, cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
    first = twin(plain, *run, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    read = re.search(r"twin run: (\d+) records? read", first.stdout + first.stderr)
    assert read is not None and int(read.group(1)) > 100, first.stdout + first.stderr
    rotated = tmp_path / "rotated" / "ca.pem"
    rotated.parent.mkdir()
    shutil.copy(sasl.ca, rotated)
    moved = sasl.env(prefix, ssl_ca_location=str(rotated), client_id="twin-moved")
    second = twin(moved, *run, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "twin run: 0 records read" in second.stdout + second.stderr, second.stdout + second.stderr
