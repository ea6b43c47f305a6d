"""``benchmarks/kafka_digest.py``: two runs of the same tree give the same archive digest, though
each run's topics have their own random prefix, which the lineage of each ``twin_state`` row names
(before round 30 only the topic messages had it replaced, so ``twin_state``'s digest always differed)."""

from __future__ import annotations

import pyarrow as pa

from benchmarks import kafka_digest


def _state(prefix: str, value: float) -> pa.Table:
    lineage = (f'{{"version":"0.30","inputs":[{{"source":"{prefix}twin.telemetry.scalars.v1:0",'
               f'"first":10,"last":{value:g}}}]}}')
    return pa.table({"asset_id": ["asset-001", "asset-002"], "health_index": [0.9, value],
                     "lineage": [lineage, lineage], "run_id": [prefix, prefix]})


def test_the_archive_digest_does_not_depend_on_the_runs_topic_prefix() -> None:
    one, two = "kafka-digest-1a2b3c4d.", "kafka-digest-9f8e7d6c."
    assert kafka_digest.archive_digest({"twin_state": [_state(one, 0.5)]}, one) == \
        kafka_digest.archive_digest({"twin_state": [_state(two, 0.5)]}, two)
    # a change of value still shows
    assert kafka_digest.archive_digest({"twin_state": [_state(one, 0.5)]}, one) != \
        kafka_digest.archive_digest({"twin_state": [_state(two, 0.25)]}, two)
