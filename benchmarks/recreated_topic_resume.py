"""A ``twin run --recovery-dir`` resume after the scalars topic was deleted and re-created under the
same name (round 20, part kafka20).

Run (from inside the tree under test): ``TWIN_KAFKA_BROKERS=127.0.0.1:19110 PYTHONPATH=. python
benchmarks/recreated_topic_resume.py``. 2 assets x 1 day are produced to fresh topics and read into a
new recovery store; the scalars topic is deleted, created again (``create_topics``) and another
fleet's scalars produced to it; the same store is resumed. Printed: the first run's and the resume's
exit code and their ``records read`` or error line; a JSON line with the counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuzz_kafka import produce, valid_messages, write_metadata  # noqa: E402

BROKERS = os.environ.get("TWIN_KAFKA_BROKERS", "127.0.0.1:19092")


def _line(stderr: str) -> str:
    return next((ln for ln in stderr.splitlines() if "records read" in ln or "error" in ln), "")


def main() -> dict[str, Any]:
    from confluent_kafka.admin import AdminClient

    from flows.app.topics import TOPIC_ROLES, create_topics
    from flows.config.pipeline import KafkaConfig
    from twin_models.simulator.fleet import FleetConfig, simulate_fleet

    admin = AdminClient({"bootstrap.servers": BROKERS})
    cfg = KafkaConfig(brokers=BROKERS, topic_prefix=f"recreated-{uuid.uuid4().hex[:6]}.")
    create_topics(cfg)
    tmp = Path(tempfile.mkdtemp(prefix="recreated-"))
    first = FleetConfig(n_assets=2, days=1.0, seed=5, frame_interval_s=3600.0, scalar_interval_s=1800.0)
    write_metadata(first, tmp / "meta.json")
    before = valid_messages(simulate_fleet(first))
    produce(cfg, before)
    argv = [sys.executable, "-m", "flows.cli.main", "run", "--brokers", BROKERS, "--topic-prefix",
            cfg.topic_prefix,
            "--archive", str(tmp / "a"), "--metadata", str(tmp / "meta.json"), "--clock", "data",
            "--exit-at-end", "--recovery-dir", str(tmp / "rec")]
    try:
        one = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        name = cfg.topic("scalars")
        admin.delete_topics([name])[name].result(timeout=30)
        while name in admin.list_topics(timeout=10).topics:
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while True:  # the broker may still be removing the old log
            try:
                create_topics(cfg)
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        second = FleetConfig(n_assets=2, days=1.0, seed=6, frame_interval_s=3600.0, scalar_interval_s=1800.0)
        after = [m for m in valid_messages(simulate_fleet(second)) if m[0] == "scalars"]
        produce(cfg, after)
        two = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    finally:
        admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES])
    print(f"first run: {len(before)} records produced, exit {one.returncode}: {_line(one.stderr)}")
    print(f"scalars re-created with {len(after)} records; resume exit {two.returncode}: {_line(two.stderr)}")
    result = {"produced_first": len(before), "produced_after": len(after), "resume_exit": two.returncode,
              "resume_line": _line(two.stderr)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
