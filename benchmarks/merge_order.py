"""The Kafka source's merge order, judged as the window step would, with `twin simulate` writing meanwhile.

Run: ``.venv/bin/python benchmarks/merge_order.py PREFIX [--live "SIMULATE ARGS"] [--end-wait S]``
on topics made by ``twin topics create --topic-prefix PREFIX`` (broker ``--brokers``, default the
local one on 19400). Without ``--live`` the topics are read to their end (``--exit-at-end``); with it
the source tails them while ``twin simulate SIMULATE ARGS`` writes them (started after the source).
The source alone (no dataflow, no event-time gate), every partition polled in turn as by one worker.

Per asset (the Kafka key) in the order emitted: a record is *late* when its window's end is at or
below the asset's highest event time emitted before it minus ``--lateness`` (what the window step
with ``--clock data`` dead-letters as ``late_record``). Prints how many per topic, how far behind,
and a few examples (topic[partition]@offset, asset, event time, the asset's highest before it).
round 24, part merge24 (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from flows.dataflow.items import RawRun
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER, KafkaTelemetrySource

ROLES = ("twin.telemetry.scalar.v1", "twin.telemetry.vibration.v1", "twin.events.v1")


def emitted_order(src: KafkaTelemetrySource, live: list[str] | None, brokers: str, prefix: str,
                  quiet_s: float) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every message the source emits, in order."""
    parts = [src.build_part("telemetry_in", p, None) for p in src.list_parts()]
    prod = None
    if live is not None:
        prod = subprocess.Popen([sys.executable, "-m", "flows.cli.main", "simulate", "--brokers", brokers,
                                 "--topic-prefix", prefix, "--no-progress", *live],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: list[tuple[str, int, int]] = []
    running = set(range(len(parts)))
    last = time.monotonic()
    while running:
        got = False
        for i in list(running):
            try:
                items = parts[i].next_batch()
            except StopIteration:
                running.discard(i)
                continue
            for it in items:
                if isinstance(it, RawRun):
                    out.extend((it.source, it.partition, o) for o in it.offsets)
                else:
                    h = dict(it.headers)
                    out.append((it.source, int(h["source.partition"]), int(h["source.offset"])))
                got = True
        now = time.monotonic()
        last = now if got else last
        if not got:
            time.sleep(0.005)
        if prod is not None and prod.poll() is not None and now - last > quiet_s:
            break
    for p in parts:
        p.close()
    return out


def contents(brokers: str, topics: list[str], partitions: list[str]) -> dict[tuple[str, int, int], Any]:
    """(topic, partition, offset) -> (asset key, event time ms) of every message in the topics."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "merge-order", "enable.partition.eof": True,
                  "enable.auto.commit": False})
    tps = [TopicPartition(t, int(p), 0) for t in topics for p in partitions]
    c.assign(tps)
    ended: set[tuple[str, int]] = set()
    info: dict[tuple[str, int, int], Any] = {}
    while len(ended) < len(tps):
        for m in c.consume(2000, 2.0):
            if m.error():
                ended.add((m.topic(), m.partition()))
                continue
            ev = next(int(v) for k, v in m.headers() if k == EVENT_TIME_HEADER)
            info[(m.topic(), m.partition(), m.offset())] = (m.key().decode(), ev)
    c.close()
    return info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prefix")
    p.add_argument("--live", default=None, help="twin simulate's arguments: tail while it writes")
    p.add_argument("--end-wait", type=float, default=0.0, help="the source's end_wait_s (default 0)")
    p.add_argument("--lateness", type=float, default=600.0)
    p.add_argument("--window", type=float, default=3600.0)
    p.add_argument("--brokers", default="127.0.0.1:19400")
    p.add_argument("--quiet", type=float, default=5.0, help="stop this long after the last message (live)")
    a = p.parse_args()
    topics = [a.prefix + r for r in ROLES]
    src = KafkaTelemetrySource({"bootstrap.servers": a.brokers}, topics, tail=a.live is not None,
                               end_wait_s=a.end_wait)
    order = emitted_order(src, None if a.live is None else a.live.split(), a.brokers, a.prefix, a.quiet)
    info = contents(a.brokers, topics, src.list_parts())
    print(f"emitted {len(order)} of {len(info)} messages")
    top: dict[str, int] = {}
    late: collections.Counter[str] = collections.Counter()
    behind: dict[str, list[float]] = collections.defaultdict(list)
    examples = []
    w_ms, l_ms = a.window * 1000, a.lateness * 1000
    for topic, part, offset in order:
        asset, ev = info[(topic, part, offset)]
        hi = top.get(asset, -(2**62))
        if (ev // w_ms + 1) * w_ms <= hi - l_ms:
            role = topic[len(a.prefix):]
            late[role] += 1
            behind[role].append((hi - ev) / 1000)
            if len(examples) < 4:
                examples.append((role, part, offset, asset, ev, hi))
        top[asset] = max(hi, ev)
    print("late per topic:", dict(late))
    for role, b in behind.items():
        b.sort()
        print(f"  {role}: behind the asset's highest by {b[0]:.0f} / {b[len(b) // 2]:.0f} / {b[-1]:.0f} s "
              "(min / median / max)")

    def at(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%m-%d %H:%M:%S")
    for role, part, offset, asset, ev, hi in examples:
        print(f"  e.g. {role}[{part}]@{offset} {asset} at {at(ev)}, the asset already at {at(hi)}")


if __name__ == "__main__":
    main()
