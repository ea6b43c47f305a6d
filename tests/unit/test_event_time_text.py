"""The event-time header's accepted text (round 34, HOSTILE34): plain ASCII digits, an optional
minus, at most 18 digits. Before, anything ``int()`` takes was a merge key: ``" 12 "``, ``1_7``, a
trailing newline, a 400-digit number (an integer Kafka's int64 timestamps cannot hold). Now such a
text is refused as a non-integer one is: the Kafka timestamp is the merge key.
"""

from __future__ import annotations

import pytest

from flows.dataflow.sources.kafka_entries import EVENT_TIME_HEADER as H
from flows.dataflow.sources.kafka_entries import merge_key_of, read_poll
from tests.kafka_fakes import FakeMessage

ODD = [b" 12 ", b"12 ", b"1_7", b"+12", b"12\n", b"9" * 19, b"9" * 400, b"-" + b"9" * 19, b"0_0"]


@pytest.mark.parametrize("text", ODD)
def test_an_odd_integer_text_is_not_a_merge_key(text: bytes) -> None:
    msgs = [FakeMessage("s", 0, [(H, b"1000")]), FakeMessage("s", 1, [(H, text)]),
            FakeMessage("s", 2, [("trace", b"x"), (H, text)]), FakeMessage("s", 3, [(H, b"1000")])]
    by_topic, _stop = read_poll(msgs, H)
    assert [e[0] for e in by_topic["s"]] == [1000, 5000, 5000, 1000]  # the fake's Kafka timestamp: 5000
    assert merge_key_of([(H, text)], 77, H) == 77


@pytest.mark.parametrize(("text", "ms"), [(b"0", 0), (b"-12", -12), (b"0012", 12), (b"9" * 18, int("9" * 18)),
                                          (b"1767225600000", 1767225600000)])
def test_plain_digits_are_the_merge_key(text: bytes, ms: int) -> None:
    by_topic, _stop = read_poll([FakeMessage("s", 0, [(H, text)]), FakeMessage("s", 1, [(H, text)])], H)
    assert [e[0] for e in by_topic["s"]] == [ms, ms]
    assert merge_key_of([("trace", b"x"), (H, text)], 77, H) == ms
