"""``twin replay``'s delivery callback: failures counted by reason with a few texts, bounded (round 39)."""

from __future__ import annotations

from flows.app.produce import DeliveryFailures


def test_delivery_failures_keep_counts_and_a_few_texts() -> None:
    """100,000 failures of 40 reasons with a different text each: 16 reasons named, the rest
    counted as other, at most 3 texts of each, every failure counted."""
    from confluent_kafka import KafkaError

    codes = [c for c in range(1, 100) if not KafkaError(c).name().startswith("ERR_")][:40]  # named codes
    failures = DeliveryFailures()
    for i in range(100_000):
        failures(KafkaError(codes[i % len(codes)], f"refused record {i}"), None)
        failures(None, None)  # a delivered record
    assert failures.total == 100_000
    assert len(failures.counts) == DeliveryFailures.REASONS + 1 and "other" in failures.counts
    assert failures.counts["other"] == 100_000 - sum(n for k, n in failures.counts.items() if k != "other")
    assert all(1 <= len(t) <= DeliveryFailures.TEXTS for t in failures.texts.values())
    assert failures.texts[KafkaError(codes[0]).name()] == ["refused record 0", "refused record 40",
                                                          "refused record 80"]
    assert len(failures.summary()) < 5000
