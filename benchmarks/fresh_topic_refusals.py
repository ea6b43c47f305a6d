"""Topics created and written to at once: how often the broker refuses a first batch "not leader"
(round 20, part kafka20; KAFKA-15591: an idempotent producer on a broker without its fix can lose
such a batch).

Run: ``TWIN_KAFKA_BROKERS=127.0.0.1:19110 .venv/bin/python benchmarks/fresh_topic_refusals.py [--repeats 8]``.
Per repeat, alternated: fresh 4-partition topics made by a bare ``AdminClient.create_topics`` (what
``twin topics create`` did before: it returned once the controller had them) or by
:func:`flows.app.topics.create_topics` (returns once every partition is led and served), then at
once twinflow's producer (idempotent, ``acks=all``) writes a simulated fleet to them. Counted:
librdkafka's log lines saying "Not leader" (``debug=msg,protocol``) and failed deliveries. Final
JSON line: the lists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import uuid
from typing import Any

BROKERS = os.environ.get("TWIN_KAFKA_BROKERS", "127.0.0.1:19092")


class _Refusals(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        self.count += "Not leader" in text or "NOT_LEADER" in text


def _publish(cfg: Any, records: list[Any], name: str) -> tuple[int, int]:
    from confluent_kafka import Producer

    from flows.app.produce import topic_role
    from flows.dataflow.sinks.kafka import producer_config
    from flows.dataflow.sources.replayable import encode_record

    seen = _Refusals()
    logger = logging.getLogger(f"fresh-topics.{name}")
    logger.addHandler(seen)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    producer = Producer({**producer_config({"bootstrap.servers": cfg.brokers}), "debug": "msg,protocol"},
                        logger=logger)
    failed: list[Any] = []
    for rec in records:
        producer.produce(cfg.topic(topic_role(rec)), encode_record(rec), rec.asset_id.encode(),
                         on_delivery=lambda err, _m: err is not None and failed.append(err))
        producer.poll(0)
    producer.flush(60)
    return seen.count, len(failed)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from confluent_kafka.admin import AdminClient, NewTopic

    from flows.app.topics import TOPIC_CONFIGS, TOPIC_ROLES, create_topics
    from flows.config.pipeline import KafkaConfig
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=8)
    args = p.parse_args(argv)
    records = list(simulate_fleet(FleetConfig(n_assets=4, days=0.5, seed=7, frame_interval_s=1800.0,
                                              scalar_interval_s=600.0)))
    admin = AdminClient({"bootstrap.servers": BROKERS})
    out: dict[str, list[tuple[int, int]]] = {"bare_create": [], "create_topics": []}
    for i in range(args.repeats):
        for how in out:
            cfg = KafkaConfig(brokers=BROKERS, topic_prefix=f"fresh-{how}{i}-{uuid.uuid4().hex[:6]}.",
                              partitions=4)
            if how == "bare_create":
                new = [NewTopic(cfg.topic(r), 4, 1, config=TOPIC_CONFIGS.get(r, {})) for r in TOPIC_ROLES]
                for fut in admin.create_topics(new).values():
                    fut.result(timeout=30)
            else:
                create_topics(cfg)
            out[how].append(_publish(cfg, records, f"{how}{i}"))
            admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES])
    result = {"records": len(records), **out}  # per publish: (not-leader lines, failed deliveries)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
