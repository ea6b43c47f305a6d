"""Sensor faults on Kafka (issue 13, DQ3): `twin simulate --sensor-faults` + `twin run`, scored
against the ground truth file `twin simulate --write-truth` wrote, as a `twin run` user would.

Run (a broker at ``--brokers``, e.g. under ``KAFKA_PORT=19500 infra/kafka/with-kafka.sh``)::

    .venv/bin/python benchmarks/quality/kafka_sensor_faults.py --brokers 127.0.0.1:19500 \
        [--assets 8] [--days 10] [--seed 1] [--sensor-faults 0.625] [--kinds K,K] [--partitions 1]

Creates topics under a fresh prefix, publishes the fleet (``--speed 0``: the Kafka timestamps are
the production times, event time runs far faster), runs ``twin run --exit-at-end --clock data``,
reads the alerts topic and scores its sensor alerts with
:func:`twin_models.evaluate.sensor_faults.evaluate_sensor_faults` (the demo's scorer); the dead
letters are counted by reason. Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.kafka_read import consume_all  # noqa: E402
from benchmarks.quality.common import run_main  # noqa: E402
from flows.app.demo_sensors import AlertView, truth_from_json  # noqa: E402
from flows.app.topics import TOPIC_ROLES, create_topics  # noqa: E402
from flows.config.pipeline import KafkaConfig  # noqa: E402
from twin_models.evaluate.sensor_faults import evaluate_sensor_faults  # noqa: E402
from twin_models.simulator.fleet import SENSORS, FleetConfig, ground_truth  # noqa: E402

READ_TIMEOUT_S = 120.0  # reading a topic back: far longer than a local broker needs


def _twin(*argv: str) -> str:
    res = subprocess.run([sys.executable, "-m", "flows.cli.main", *argv], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        msg = f"twin {argv[0]} failed: {res.stderr[-2000:]}"
        raise SystemExit(msg)
    return res.stderr


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Publish, run, score; print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--brokers", required=True)
    p.add_argument("--assets", type=int, default=8)
    p.add_argument("--days", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sensor-faults", default="0.625")
    p.add_argument("--kinds", default=None)
    p.add_argument("--partitions", type=int, default=1)
    args = p.parse_args(argv)
    cfg = KafkaConfig(brokers=args.brokers, topic_prefix=f"sf-{uuid.uuid4().hex[:8]}.",
                      partitions=args.partitions)
    create_topics(cfg)
    kafka = ["--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix]
    with tempfile.TemporaryDirectory() as tmp:
        truth_file, meta = Path(tmp) / "truth.json", Path(tmp) / "meta.json"
        kinds = ["--sensor-fault-kinds", args.kinds] if args.kinds else []
        _twin("simulate", *kafka, "--assets", str(args.assets), "--days", str(args.days), "--seed",
              str(args.seed), "--sensor-faults", args.sensor_faults, *kinds, "--write-truth", str(truth_file),
              "--write-metadata", str(meta), "--no-progress")
        summary = _twin("run", *kafka, "--metadata", str(meta), "--archive", str(Path(tmp) / "archive"),
                        "--clock", "data", "--exit-at-end")
        doc = json.loads(truth_file.read_text())
    truths = [truth_from_json(f) for f in doc["sensor_faults"]]
    views = [AlertView.from_message(json.loads(m.value()))
             for m in consume_all(cfg, "alerts", READ_TIMEOUT_S)]
    dead = Counter(dict(m.headers())["dlq.reason"].decode()
                   for m in consume_all(cfg, "dead_letters", READ_TIMEOUT_S))
    fleet = FleetConfig(n_assets=args.assets, days=args.days, seed=args.seed)
    run_end = fleet.start + timedelta(days=fleet.days)
    rep = evaluate_sensor_faults(truths, ground_truth(fleet), views, run_end,
                                 channels=[s.channel for s in SENSORS])
    from confluent_kafka.admin import AdminClient

    AdminClient({"bootstrap.servers": cfg.brokers}).delete_topics([cfg.topic(r) for r in TOPIC_ROLES])
    out: dict[str, Any] = {
        "assets": args.assets, "days": args.days, "seed": args.seed, "share": args.sensor_faults,
        "kinds": args.kinds or "default", "partitions": args.partitions, "injected": len(rep.faults),
        "detected": rep.detected,
        "by_kind": {k: f"{d}/{n}" for k, (d, n) in rep.by_kind().items()},
        "sensor_alerts": rep.sensor_alerts, "false_sensor_alerts": rep.false_sensor_alerts,
        "other_check_alerts": rep.other_check, "collateral_sensor_alerts": rep.collateral,
        "condition_alerts_during_sensor_faults": rep.condition_during_healthy,
        "dead_letters": dict(dead),
        "missed": [(f.asset_id, f.channel, f.kind) for f in rep.faults if f.detected_at is None],
        "sensor_episodes": sorted((v.asset_id, v.channel, v.check, v.started_at.isoformat()) for v in views
                                  if v.kind == "sensor" and v.status == "raised"),
        "run_summary": summary.strip().splitlines()[-2:],
    }
    for k, v in out.items():
        print(f"{k:40s} {v}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    run_main(main, "kafka_sensor_faults")
