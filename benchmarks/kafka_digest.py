"""Digest of a ``twin run``'s outputs over Kafka, to show that two source trees give the same results.

Run: ``.venv/bin/python benchmarks/kafka_digest.py --tree <source tree> --out <dir>`` for each tree
(e.g. main's ``git archive`` and this worktree) and compare the JSON lines. Broker:
``TWIN_KAFKA_BROKERS``, else the local one on ``KAFKA_PORT`` (``infra/kafka/kafka.sh``).

Input (fresh topics under their own prefix, deleted after): 6 assets x 3 scalar channels at 1 Hz
for 3 hours (a drift on asset-003 in the last hour: alerts), life-cycle events on the events
topic (merged with the scalars), and bad records among the scalars: unparsable JSON, a value of
1e39, a timestamp in 2100, a non-ASCII asset id, an integer value, a unit, an extra key, NaN, an
empty payload, a late record, a duplicate. ``twin run --clock data --exit-at-end`` (60-s windows)
reads them; the digest covers every archive table (rows sorted; without the run's id and write
times) and the alerts, state and dead-letter topics (messages sorted; dead letters without their
wall-clock parts); equal digests = same outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_digest import _digest, _table_digest  # noqa: E402  (one digest for both)
from bench_overload import TWIN, Message, broker, produce, topics  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ("temperature", "pressure", "current")


def _scalar(asset: str, channel: str, ts: str, value: Any, **extra: Any) -> bytes:
    doc = {"type": "scalar", "asset_id": asset, "channel": channel, "timestamp": ts, "value": value, **extra}
    return json.dumps(doc).encode()


def _stamp(t: float) -> str:
    return (START + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


BAD: dict[int, bytes] = {
    300: b"{not json",
    400: _scalar("asset-001", "temperature", _stamp(400), 1e39),
    500: _scalar("asset-002", "temperature", "2100-01-01T00:00:00Z", 1.0),
    600: _scalar("p\u00fcmp-3", "temperature", _stamp(600), 1.0),
    700: _scalar("asset-004", "temperature", _stamp(700), 5),
    800: _scalar("asset-005", "temperature", _stamp(800), 20.5, unit="degC"),
    900: _scalar("asset-000", "temperature", _stamp(900), 20.5, extra=1),
    1000: b'{"type":"scalar","asset_id":"asset-002","channel":"temperature","timestamp":"'
          + _stamp(1000).encode() + b'","value":NaN}',
    1100: b"",
    1200: _scalar("asset-001", "temperature", _stamp(1200 - 900), 20.0),  # late: 900 s old
}


def messages(cfg: Any) -> list[Message]:
    """The input in event-time order (key = asset id, event-time header), bad records included."""
    from flows import codec
    from flows.dataflow.sources.kafka import EVENT_TIME_HEADER
    from twin_models.records import AssetEvent, ScalarSample

    rng = np.random.default_rng(11)
    scalars, events = cfg.topic("scalars"), cfg.topic("events")
    names = [f"asset-{a:03d}" for a in range(6)]
    base = rng.uniform(20.0, 80.0, size=(len(names), len(CHANNELS)))
    out: list[Message] = []
    for t in range(3 * 3600):
        ts = START + timedelta(seconds=t)
        hdr = [(EVENT_TIME_HEADER, str(int(ts.timestamp() * 1000)).encode())]
        if t in (0, 1500):
            for name in names[:4]:
                ev = AssetEvent(name, ts, "install" if t == 0 else "maintenance")
                out.append((events, name.encode(), codec.encode_event(ev), hdr))
        for a, name in enumerate(names):
            for c, channel in enumerate(CHANNELS):
                drift = 30.0 * (t - 7200) / 3600 if name == "asset-003" and t > 7200 else 0.0
                value = round(float(base[a, c] + drift + rng.normal(0.0, 0.5)), 4)
                payload = codec.encode_scalar(ScalarSample(name, channel, ts, value, ""))
                out.append((scalars, name.encode(), payload, hdr))
                if t == 1250 and a == 0 and c == 0:
                    out.append((scalars, name.encode(), payload, hdr))  # a duplicate
        if t in BAD:
            out.append((scalars, _key(BAD[t]), BAD[t], hdr))
    return out


def _key(payload: bytes) -> bytes | None:
    """A bad record's key: its payload's asset id, as every telemetry message's (a key naming another
    asset is a dead letter of its own since round 14); None (a null key) when it names none."""
    try:
        return str(json.loads(payload)["asset_id"]).encode()
    except (ValueError, KeyError, TypeError):
        return None



def _topic_rows(brokers: str, topic: str) -> list[str]:
    """Every message of partition 0 of ``topic`` as text (dead letters without wall-clock parts)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "kafka-digest",
                         "enable.auto.commit": "false"})
    _lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    consumer.assign([TopicPartition(topic, 0, 0)])
    rows: list[str] = []
    while len(rows) < hi:
        for msg in consumer.consume(500, 1.0):
            if msg.error() is None:
                rows.append(_row(msg.value(), msg.headers() or [], topic.split("twin.")[0]))
    consumer.close()
    return sorted(rows)


def _topic_digest(brokers: str, topic: str, keep: Path) -> list[Any]:
    """[messages, digest] of a topic; its rows are kept in ``keep`` (to see a difference)."""
    rows = _topic_rows(brokers, topic)
    keep.write_text("\n".join(rows) + "\n")
    return [len(rows), _digest(rows)]


def _row(value: bytes, headers: list[tuple[str, bytes]], prefix: str) -> str:
    """A message as text: JSON without its wall-clock parts (a dead letter's time, the "now" in a
    future timestamp's detail), anything else as its bytes."""
    try:
        doc = json.loads(value)
    except ValueError:
        doc = value
    if isinstance(doc, dict) and "reason" in doc:
        doc.pop("timestamp", None)
    text = json.dumps(doc, sort_keys=True) if not isinstance(doc, bytes) else repr(doc)
    text = repr((text, [(k, v) for k, v in headers if k != "dlq.timestamp"])).replace(prefix, "PREFIX.")
    return re.sub(r"now \+ max_future_s \([^)]*\)", "now + max_future_s", text)



def archive_digest(tables: dict[str, list[pa.Table]], prefix: str) -> dict[str, list[Any]]:
    """[rows, digest] of each archive table (its files' tables), the run's random topic prefix
    replaced in every row as in the topics' messages: a lineage's input sources name the topics, so
    before round 30 ``twin_state``'s digest differed between any two runs of the same tree."""
    return {k: _table_digest(pa.concat_tables(v, promote_options="default"), prefix)
            for k, v in sorted(tables.items())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Produce the input, run ``twin run`` from ``--tree``, print the digest (JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    tree = args.tree.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = f"kafka-digest-{uuid.uuid4().hex[:8]}."
    with broker() as brokers, topics(brokers, prefix, 1) as cfg:
        n, _secs = produce(cfg, messages(cfg), rate=0, seconds=1e9, counter=[0])
        archive = args.out / "archive"
        run = [*TWIN, "run", "--brokers", brokers, "--topic-prefix", prefix, "--archive", str(archive),
               "--clock", "data", "--exit-at-end"]
        env = {**os.environ, "PYTHONPATH": str(tree), "TWIN_WINDOW_S": "60"}
        with (args.out / "run.log").open("wb") as log:
            subprocess.run(run, stdout=log, stderr=subprocess.STDOUT, cwd=tree, env=env, check=True)
        tables: dict[str, list[pa.Table]] = {}
        for f in sorted(archive.rglob("*.parquet")):
            tables.setdefault(f.relative_to(archive).parts[0], []).append(pq.read_table(f))
        result = {"produced": n,
                  "archive": archive_digest(tables, prefix),
                  **{role: _topic_digest(brokers, cfg.topic(role), args.out / f"{role}.txt")
                     for role in ("alerts", "state", "dead_letters")},
                  "log": [line for line in (args.out / "run.log").read_text().splitlines()
                          if line.startswith("twin run:")]}
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
