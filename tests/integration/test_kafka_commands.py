"""The guarded command path on a real Apache Kafka broker, approve mode, end to end:
``twin run`` proposes (audit topic) -> ``twin commands list`` / ``approve ID`` (decisions topic)
-> ``twin run`` (resumed) re-checks and sends (commands topic) -> audit entries on the topic."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.app.produce import publish
from flows.archive.query import query
from tests.integration.test_kafka_pipeline import FLEET, Env, consume_all, env  # noqa: F401 - fixture
from twin_models.simulator.fleet import simulate_fleet

pytestmark = pytest.mark.integration

CONFIG = """[pipeline.commands]
mode = "approve"
rails = [["*", "load_limit", 0.5, 1.0, 0.2, 2, 86400.0, 2592000.0]]

# the stand-in recommendations only (the wrapper's): the twins' own prescriptions would supersede
# or be refused beside them, and this test is about the command path, not about which plan wins
[pipeline.prescribe]
enabled = false
"""


def twin(kenv: Env, *args: str, wrapper: bool = False) -> subprocess.CompletedProcess[str]:
    """A ``twin`` command against the test's topics (``wrapper``: with the stand-in prescriptions)."""
    module = "tests.integration.run_with_derates" if wrapper else "flows.cli.main"
    kafka = ["--brokers", kenv.kafka.brokers, "--topic-prefix", kenv.kafka.topic_prefix,
             "--config", str(kenv.tmp / "commands.toml")]
    res = subprocess.run([sys.executable, "-m", module, *args, *kafka], capture_output=True, text=True,
                         timeout=300, check=False, cwd=Path(__file__).resolve().parents[2])
    return res


def run(kenv: Env) -> None:
    res = twin(kenv, "run", "--exit-at-end", "--clock", "data", "--metadata", str(kenv.metadata),
               "--archive", str(kenv.tmp / "archive"), "--recovery-dir", str(kenv.tmp / "recovery"),
               wrapper=True)
    assert res.returncode == 0, res.stderr[-3000:]


def audit(kenv: Env) -> list[dict[str, Any]]:
    return [json.loads(m.value()) for m in consume_all(kenv.kafka, "audit")]


def test_approve_mode_proposal_approval_command_and_audit(env: Env) -> None:  # noqa: F811
    (env.tmp / "commands.toml").write_text(CONFIG)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=FLEET.days + 1)
    publish(simulate_fleet(replace(FLEET, start=start)), env.kafka)
    run(env)
    assert consume_all(env.kafka, "commands") == [], "approve mode: nothing is sent before an approval"
    listed = twin(env, "commands", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    pending = [json.loads(line) for line in listed.stdout.splitlines()]
    assert pending and {p["state"] for p in pending} == {"pending"}
    cid = pending[0]["command_id"]
    assert [a["action"] for a in audit(env) if a["command_id"] == cid] == ["proposed"]

    bad = twin(env, "commands", "approve", "cmd-0000000000000000")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown command id" in bad.stderr
    ok = twin(env, "commands", "approve", cid, "--actor", "tester", "--reason", "planned stop confirmed")
    assert ok.returncode == 0, ok.stderr
    run(env)  # resumes from its recovery store: the pending command is still there

    sent = [json.loads(m.value()) for m in consume_all(env.kafka, "commands")]
    assert [(c["command_id"], c["approved_by"], c["parameter"]) for c in sent] == [
        (cid, "tester", "load_limit")]
    assert 0.5 <= sent[0]["value"] < sent[0]["previous_value"] == 1.0 and sent[0]["issued_at"]
    log = [a for a in audit(env) if a["command_id"] == cid]
    assert [(a["action"], a["actor"], a["sequence"]) for a in log] == [
        ("proposed", "twinflow", 1), ("approved", "tester", 2), ("sent", "twinflow", 3)]
    assert log[1]["reason"] == "planned stop confirmed"
    again = twin(env, "commands", "approve", cid)
    assert again.returncode == 2 and "is not pending: sent" in again.stderr
    _, rows = query(env.tmp / "archive",
                    f"SELECT action FROM audit WHERE command_id = '{cid}' ORDER BY sequence")
    assert [r[0] for r in rows] == ["proposed", "approved", "sent"]
