"""Is each partition of freshly created telemetry topics in event-time order after a publish?
A plain producer vs twinflow's producer settings (round 19, part late).

Run: ``.venv/bin/python benchmarks/publish_order.py [--partitions 4] [--repeats 5]``.
Broker: ``TWIN_KAFKA_BROKERS``, else the local one on ``KAFKA_PORT`` (started and stopped here).

Per repeat and producer (alternated), the resume benchmark's fleet (4 assets x 4 days, asset ``i`` in
partition ``i % partitions``) goes to fresh topics right after they are created; it is read back
and counted: records delivered, and messages more than 600 s (the default allowed lateness) behind
an earlier message of their partition (what would be late for its window). Final JSON line: the
lists per producer.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overload import broker, topics  # noqa: E402

TELEMETRY = ("scalars", "waveforms", "events")
LATENESS_MS = 600_000


def _producer(kind: str, brokers: str) -> Any:
    from confluent_kafka import Producer

    from flows.dataflow.sinks.kafka import producer_config

    if kind == "plain":  # as the benchmarks' and tests' publishers were before round 19
        return Producer({"bootstrap.servers": brokers, "linger.ms": "20"})
    return Producer(producer_config({"bootstrap.servers": brokers}))


def _publish(cfg: Any, records: list[Any], assets: list[str], kind: str) -> None:
    from flows.app.produce import encode_record, topic_role
    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER

    producer = _producer(kind, cfg.brokers)
    for rec in records:
        producer.produce(cfg.topic(topic_role(rec)), encode_record(rec), rec.asset_id.encode(),
                         partition=assets.index(rec.asset_id) % cfg.partitions,
                         headers=[(EVENT_TIME_HEADER, str(int(rec.timestamp.timestamp() * 1000)).encode())])
        producer.poll(0)
    if producer.flush(30):
        msg = "messages not delivered"
        raise RuntimeError(msg)


def _read_back(cfg: Any) -> tuple[int, int]:
    """(messages read, messages more than LATENESS_MS behind an earlier one of their partition)."""
    from confluent_kafka import Consumer, TopicPartition

    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER

    consumer = Consumer({"bootstrap.servers": cfg.brokers, "group.id": "publish-order",
                         "enable.auto.commit": "false", "enable.partition.eof": "true"})
    parts = [TopicPartition(cfg.topic(r), p, 0) for r in TELEMETRY for p in range(cfg.partitions)]
    consumer.assign(parts)
    top: dict[tuple[str, int], int] = {}
    ended = read = behind = 0
    try:
        while ended < len(parts):
            msg = consumer.poll(10)
            if msg is None:
                break
            if msg.error():
                ended += 1
                continue
            t = int(dict(msg.headers() or [])[EVENT_TIME_HEADER])
            key = (msg.topic(), msg.partition())
            behind += t < top.get(key, t) - LATENESS_MS
            top[key] = max(top.get(key, t), t)
            read += 1
    finally:
        consumer.close()
    return read, behind


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Plain vs twinflow's producer on fresh topics, ``--repeats`` times each; the JSON line."""
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    fleet = FleetConfig(n_assets=4, days=4.0, seed=11, frame_interval_s=1800.0, scalar_interval_s=900.0)
    records = list(simulate_fleet(fleet))
    assets = sorted({r.asset_id for r in records})
    out: dict[str, Any] = {"records": len(records), "partitions": args.partitions,
                           "plain": [], "twinflow": []}  # per publish: [read, behind]
    with broker() as brokers:
        for _ in range(args.repeats):
            for kind in ("plain", "twinflow"):
                with topics(brokers, f"po-{uuid.uuid4().hex[:8]}.", args.partitions) as cfg:
                    _publish(cfg, records, assets, kind)
                    out[kind].append(list(_read_back(cfg)))
                print(json.dumps({kind: out[kind][-1]}), file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
