"""`twin run` on a fleet model topic that does not compact (round 26, part HOSTILE26).

Every process reads each kind's newest fleet model version back from the beginning of
`twin.fleet.models.v1` at start-up; with `cleanup.policy=delete` retention removes it, and a
restart has no fleet model of that kind until it learns one again. Main started as if nothing were
wrong; now it is one line naming the topic and the setting, exit 2, before anything is read.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from flows.app.topics import TOPIC_ROLES, create_topics
from flows.config.pipeline import KafkaConfig

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")


def _set_policy(admin: Any, topic: str, policy: str) -> None:
    entry = ConfigEntry("cleanup.policy", policy, incremental_operation=AlterConfigOpType.SET)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(timeout=30)


@pytest.mark.parametrize("policy", ["delete", "compact,delete"])
def test_a_fleet_model_topic_that_does_not_compact_is_refused_in_one_line(
        kafka_brokers: str, kafka_admin: Any, tmp_path: Path, policy: str) -> None:
    cfg = KafkaConfig(brokers=kafka_brokers, topic_prefix=f"fp-{uuid.uuid4().hex[:8]}.", partitions=1)
    create_topics(cfg)
    fleet = cfg.topic("fleet_models")
    try:
        _set_policy(kafka_admin, fleet, policy)
        (tmp_path / "meta.json").write_text("{}")
        proc = subprocess.run([TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix,
                               "--archive", str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"),
                               "--clock", "data", "--exit-at-end", "--connect-timeout", "10"],
                              capture_output=True, text=True, timeout=180, check=False)
    finally:
        kafka_admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if policy == "delete":
        assert proc.returncode == 2, proc.stderr
        assert lines == [f"twin: error: Kafka topic {fleet} has cleanup.policy=delete: twin run reads each "
                         "kind's newest fleet model back from it at every start, and retention deletes it; "
                         "make it compacted as `twin topics create` does (kafka-configs.sh --alter "
                         f"--entity-type topics --entity-name {fleet} --add-config cleanup.policy=compact)"]
        assert not (tmp_path / "a").exists()
    else:  # compacted too: an operator's choice of retention on top, accepted
        assert proc.returncode == 0, proc.stderr
