"""Fuzz through Kafka: malformed messages interleaved with valid telemetry, through ``twin run``.

Run (starts and stops a local broker on port 19192):
``KAFKA_PORT=19192 bash infra/kafka/with-kafka.sh .venv/bin/python benchmarks/bench_fuzz_kafka.py
--malformed 100000``.

Every malformed message is bad by construction (random bytes, truncated and structurally
bit-flipped binary frames, truncated or ill-typed JSON, non-objects, NaN literals, deep nesting,
invalid UTF-8, empty payloads and tombstones, and schema-valid records the features cannot use:
1-63 samples, absurd shaft speeds, scalars beyond float32, year-1 timestamps, a frame whose rate
puts the asset's resonance band above Nyquist). They go to the three telemetry topics with the
simulated fleet's records, in a seeded random interleaving. ``twin run --exit-at-end`` must exit
0, and the dead-letter topic must hold exactly the malformed payloads, each with a reason.
Prints the figures and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.kafka_read import consume_all  # noqa: E402
from flows import codec  # noqa: E402
from flows.app.topics import TOPIC_ROLES, create_topics  # noqa: E402
from flows.config.pipeline import KafkaConfig  # noqa: E402
from flows.dataflow.admission import admit  # noqa: E402
from flows.dataflow.sources.kafka import EVENT_TIME_HEADER  # noqa: E402
from flows.dataflow.sources.replayable import encode_record  # noqa: E402
from twin_models.records import AssetMetadata, ScalarSample, WaveformFrame  # noqa: E402
from twin_models.simulator.fleet import FleetConfig, fleet_metadata, simulate_fleet  # noqa: E402

FLEET = FleetConfig(n_assets=2, days=1.0, seed=5, frame_interval_s=1800.0, scalar_interval_s=900.0)
BANDED = "pump-002"
"""This asset's metadata gets a resonance band of 2-6 kHz (valid for its 25.6 kHz frames)."""
ROLES = ("scalars", "waveforms", "events")

Message = tuple[str, bytes | None, bytes | None, int]
"""(topic role, key, value, event time in ms for the source's merge header); None = tombstone.

Malformed messages carry the event time of the valid message they are inserted before, so the
source's event-time merge of the three topics keeps them in place (without the header it falls
back to the Kafka timestamp, the wall clock, and a message would hold its topic back)."""


@dataclass
class Templates:
    """Valid payloads to damage, and the fleet's time span."""

    frame: bytes
    scalar: dict[str, Any]
    start: datetime


def _flip(data: bytes, lo: int, hi: int, rng: random.Random) -> bytes:
    """One bit flipped at a byte in [lo, hi)."""
    out = bytearray(data)
    i = rng.randrange(lo, hi)
    out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _frame_fields(t: Templates, rng: random.Random) -> bytes:
    """A structural bit flip: magic, version, sample count or a string length (never valid)."""
    n_str = struct.calcsize("<3sBqddI")
    where = rng.choice([(0, 3), (3, 4), (n_str - 4, n_str), (n_str, n_str + 2)])
    return _flip(t.frame, *where, rng)


def _poison_frame(t: Templates, rng: random.Random) -> bytes:
    """Schema-valid frames the features cannot use."""
    ts = t.start + timedelta(seconds=rng.uniform(0, 80000))
    kind = rng.randrange(3)
    n = rng.randint(1, 63) if kind == 0 else 1024
    shaft = rng.choice([1e308, 1e5, 5e-324]) if kind == 1 else None
    fs, asset = (2000.0, BANDED) if kind == 2 else (25600.0, "pump-001")
    samples = np.random.default_rng(rng.randrange(2**32)).normal(0, 0.3, n).astype(np.float32)
    return codec.encode_waveform(WaveformFrame(asset, "vib", ts, fs, samples, shaft, "g"))


def _json_doc(t: Templates, rng: random.Random) -> bytes:
    """A scalar document with one field of the wrong type or range, or a poisonous value."""
    doc = dict(t.scalar)
    field, value = rng.choice([
        ("value", "41.5"), ("value", None), ("value", [1]), ("value", 1e300), ("value", -3e38),
        ("timestamp", 1714564800), ("timestamp", "2024-05-01"), ("timestamp", "0001-01-01T00:00:00Z"),
        ("asset_id", 7), ("asset_id", ""), ("asset_id", "x" * 129), ("channel", None),
        ("type", "scalar2"), ("unit", {"u": 1}), ("extra", 1),
    ])
    doc[field] = value
    return json.dumps(doc).encode()


FIRST_BYTES = [b for b in range(256) if b not in b"{T \t\r\n"]
"""Random payloads start with any byte but those of a JSON object or a TWF frame (never valid)."""

GENERATORS: dict[str, Callable[[Templates, random.Random], bytes | None]] = {
    "random_bytes": lambda t, r: bytes([r.choice(FIRST_BYTES)]) + r.randbytes(r.randint(0, 200)),
    "truncated_frame": lambda t, r: t.frame[: r.randrange(0, len(t.frame))],
    "bit_flipped_frame": _frame_fields,
    "truncated_json": lambda t, r: (b := json.dumps(t.scalar).encode())[: r.randint(1, len(b) - 1)],
    "wrong_types": _json_doc,
    "not_an_object": lambda t, r: r.choice([b"[1, 2]", b"42", b'"x"', b"null", b"true", b" [] "]),
    "nan_literal": lambda t, r: json.dumps({**t.scalar, "value": float("nan")}).encode(),
    "deep_nesting": lambda t, r: b'{"a":' + b"[" * r.randint(1000, 100000) + b"]}",
    "invalid_utf8": lambda t, r: json.dumps(t.scalar).encode().replace(b"pump", b"pu\xffp", 1),
    "empty": lambda t, r: r.choice([b"", None]),
    "unknown_kind": lambda t, r: json.dumps({"type": "event", "asset_id": "pump-001",
                                             "timestamp": t.scalar["timestamp"], "kind": "explode"}).encode(),
    "poisonous_frame": _poison_frame,
}


def templates(fleet: FleetConfig) -> Templates:
    """Valid payloads of the fleet to damage."""
    frame = next(r for r in simulate_fleet(fleet) if isinstance(r, WaveformFrame))
    scalar = ScalarSample("pump-001", "temperature", fleet.start + timedelta(hours=3), 41.5, "degC")
    return Templates(codec.encode_waveform(frame), json.loads(codec.encode_scalar(scalar)), fleet.start)


def malformed(n: int, seed: int, t: Templates) -> list[tuple[str, bytes | None]]:
    """``n`` (generator name, value) pairs, every one refused by the decode step."""
    rng = random.Random(seed)
    names = sorted(GENERATORS)
    return [(name, GENERATORS[name](t, rng)) for name in (rng.choice(names) for _ in range(n))]


def refused_offline(values: list[bytes | None], metadata: dict[str, AssetMetadata]) -> int:
    """How many values the decoder and admission rules refuse (a check of the generators)."""
    now = datetime.now(UTC)
    n = 0
    for v in values:
        out = codec.decode_telemetry(v or b"", now=now)
        n += isinstance(out, codec.DecodeError) or admit(out, metadata.get(out.asset_id)) is not None
    return n


def interleave(valid: list[Message], bad: list[tuple[str, bytes | None]], seed: int) -> list[Message]:
    """Valid messages in their order, with the bad ones spread at seeded random positions."""
    rng = random.Random(seed + 1)
    slots = sorted(rng.randrange(len(valid) + 1) for _ in bad)
    out: list[Message] = []
    j = 0
    for i, msg in enumerate(valid):
        while j < len(slots) and slots[j] == i:
            key = rng.choice([b"pump-001", b"pump-002", None, rng.randbytes(4)])
            out.append((rng.choice(ROLES), key, bad[j][1], msg[3]))
            j += 1
        out.append(msg)
    last = valid[-1][3] if valid else 0
    out.extend((rng.choice(ROLES), None, v, last) for _, v in bad[j:])
    return out


def valid_messages(records: Any) -> list[Message]:
    """Telemetry records as messages (as ``twin simulate`` publishes them)."""
    from flows.app.produce import topic_role

    return [(topic_role(r), r.asset_id.encode(), encode_record(r), int(r.timestamp.timestamp() * 1000))
            for r in records]


def produce(cfg: KafkaConfig, messages: list[Message]) -> None:
    """Produce every message (in order) and wait for delivery; raises on any delivery error."""
    from confluent_kafka import Producer

    from flows.dataflow.sinks.kafka import producer_config

    # twinflow's producer settings (idempotent): a plain producer could reorder batches on fresh
    # topics (see resume_repartition.publish), making late records in a clean copy
    p = Producer({**producer_config({"bootstrap.servers": cfg.brokers}), "message.max.bytes": 2_000_000})
    errors: list[str] = []
    for role, key, value, event_ms in messages:
        headers = [(EVENT_TIME_HEADER, str(event_ms).encode())]
        while True:
            try:
                p.produce(cfg.topic(role), value=value, key=key, headers=headers,
                          on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    p.flush(120)
    if errors:
        msg = f"{len(errors)} deliveries failed, first: {errors[0]}"
        raise RuntimeError(msg)


def read_dead_letters(cfg: KafkaConfig, expected: int, timeout_s: float = 120.0) -> list[Any]:
    """Every message of the dead-letter topic (from the beginning, all partitions)."""
    return consume_all(cfg, "dead_letters", timeout_s, expected=expected)


def write_metadata(fleet: FleetConfig, path: Path) -> dict[str, AssetMetadata]:
    """The fleet's metadata file, with a resonance band for :data:`BANDED`."""
    from dataclasses import replace

    meta = {k: replace(v, resonance_band_hz=(2000.0, 6000.0)) if k == BANDED else v
            for k, v in fleet_metadata(fleet).items()}
    path.write_text(json.dumps({k: codec.metadata_to_dict(m) for k, m in meta.items()}))
    return meta


def run_twin(cfg: KafkaConfig, archive: Path, metadata: Path,
             timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``twin run --exit-at-end`` over the topics (data clock: event time only).

    Windows wait for all the data (``allowed_lateness_s`` of 10^7 s): the source's merge of the
    three topics lets a topic that is silent for a while (a CPU-starved consumer) fall behind, and
    its next records would be late; this run checks dead letters and outputs, not lateness.
    """
    cmd = [sys.executable, "-m", "flows.cli.main", "run", "--brokers", cfg.brokers, "--topic-prefix",
           cfg.topic_prefix, "--archive", str(archive), "--metadata", str(metadata), "--clock", "data",
           "--exit-at-end"]
    env = {**os.environ, "TWIN_ALLOWED_LATENESS_S": "1e7"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False, env=env)


def fuzz(brokers: str, n_malformed: int, seed: int, tmp: Path, fleet: FleetConfig = FLEET,
         timeout_s: float = 3600.0) -> dict[str, Any]:
    """One fuzz run on a fresh set of topics; the figures (see the module doc)."""
    cfg = KafkaConfig(brokers=brokers, topic_prefix=f"fuzz-{uuid.uuid4().hex[:8]}.", partitions=4)
    create_topics(cfg)
    try:
        meta = write_metadata(fleet, tmp / "meta.json")
        bad = malformed(n_malformed, seed, templates(fleet))
        valid = valid_messages(simulate_fleet(fleet))
        t0 = time.monotonic()
        produce(cfg, interleave(valid, bad, seed))
        produced_s = time.monotonic() - t0
        t0 = time.monotonic()
        res = run_twin(cfg, tmp / "archive", tmp / "meta.json", timeout_s)
        run_s = time.monotonic() - t0
        dead = read_dead_letters(cfg, len(bad))
    finally:
        _delete_topics(cfg)
    got = Counter(m.value() or b"" for m in dead)
    want = Counter(v or b"" for _, v in bad)
    reasons = Counter(dict(m.headers() or [])["dlq.reason"].decode() for m in dead)
    return {
        "malformed": len(bad), "valid": len(valid), "messages": len(bad) + len(valid),
        "generators": dict(Counter(name for name, _ in bad)),
        "refused_offline": refused_offline([v for _, v in bad], meta),
        "exit_code": res.returncode, "stderr_tail": res.stderr[-2000:] if res.returncode else "",
        "produce_seconds": round(produced_s, 1), "run_seconds": round(run_s, 1),
        "dead_letters": len(dead), "dead_letters_match": got == want,
        "missing": sum((want - got).values()), "unexpected": sum((got - want).values()),
        "with_reason": sum(1 for m in dead if dict(m.headers() or []).get("dlq.reason")),
        "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }


def _delete_topics(cfg: KafkaConfig) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": cfg.brokers})
    for fut in admin.delete_topics([cfg.topic(r) for r in TOPIC_ROLES], operation_timeout=30).values():
        try:
            fut.result(timeout=30)
        except Exception:  # noqa: BLE001, S110 - best effort cleanup
            pass


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the fuzz and print its figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--malformed", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--brokers", default=os.environ.get("TWIN_KAFKA_BROKERS", ""))
    args = p.parse_args(argv)
    if not args.brokers:
        p.error("no broker: pass --brokers or run under infra/kafka/with-kafka.sh")
    with tempfile.TemporaryDirectory() as tmp:
        out = fuzz(args.brokers, args.malformed, args.seed, Path(tmp))
    for k, v in out.items():
        print(f"{k:>20}: {v}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
