"""The Kafka source's entries: what a poll's messages become, in one pass.

A poll brings up to ``batch_size`` messages; the source needs of each its topic, its merge key (the
event-time header, else the Kafka timestamp), its offset, value, arrival time and key. Reading those
with one pass over the poll, into plain tuples, costs less than keeping the client's message objects
and asking each of them again at every step (the merge key when buffered, the offset when emitted, the
value, arrival time and key when the run is built): the buffers, the merge and the runs then work on
tuples whose fields are taken column by column (``map(itemgetter(i), ...)``, no Python loop per
message). A poll is read up to its next error event (end of partition, broker error): the source
handles the event after the messages before it, in the poll's order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import islice
from operator import itemgetter
from typing import Any, Final

__all__ = ["ARRIVAL", "BATCH_BYTES", "BATCH_POLLS", "EVENT_TIME_HEADER", "KEY", "MERGE_KEY", "OFFSET",
           "VALUE", "Entry", "arrival_ms", "event_time_ms", "header_ms", "merge_key_of", "read_poll"]

EVENT_TIME_HEADER = "twin.event_time_ms"
"""The header twinflow's producers stamp with a record's event time (ms since the epoch)."""

Entry = tuple[int, int, bytes, int, "bytes | None"]
"""A buffered message: (merge key, offset, value, arrival ms or -1, Kafka key)."""

MERGE_KEY: Final = 0  # the fields of an Entry
OFFSET: Final = 1
VALUE: Final = 2
ARRIVAL: Final = 3
KEY: Final = 4
merge_keys = itemgetter(MERGE_KEY)
offsets = itemgetter(OFFSET)
values = itemgetter(VALUE)
arrivals = itemgetter(ARRIVAL)
keys = itemgetter(KEY)

BATCH_POLLS = 8
"""The most polls of one batch of the source (``_AlignedPartition.next_batch`` in
:mod:`flows.dataflow.sources.kafka`): while a poll brings ``batch_size`` messages (a backlog) and the
batch is still below :data:`BATCH_BYTES`, the next poll's messages join the same batch, a topic's run
going on across polls (the messages and their order are those of one poll per batch; the runs, and so
the columns pieces, are longer). The dataflow's per-batch work (Bytewax's operators, each step's
call, the windows' bookkeeping) is paid once per up to 8 polls and the per-piece work less often: a
scalar fleet's ``twin run`` -8 % CPU, and -4 to -7 % more with the runs joined
(``benchmarks/RESULTS.md``, round 21, parts scalar21 and lineage). Each poll is merged and its topics
held back (``max_buffered``) before the next one, so the buffers stay as bounded as before."""

BATCH_BYTES = 1024 * 1024
"""A batch takes no further poll once its messages total this many bytes: ~8,000 scalar records, but a
single poll of waveform frames (4-16 KB each) is already above it, so their batches are as before."""

_EVENT_MS_TEXT = re.compile(rb"-?[0-9]{1,18}")
"""An event-time header's accepted text (round 34): ASCII digits, an optional minus, at most 18 of them
(inside Kafka's int64 ms). ``int()`` takes more (``" 12 "``, ``1_7``, Unicode digits, a 400-digit
number): such a text is refused as a non-integer one is, the Kafka timestamp is the merge key."""


def header_ms(text: Any) -> int:
    """An event-time header's value as an integer; ``ValueError`` for any other text (or a null one)."""
    if type(text) is bytes and ((text.isdigit() and len(text) <= 18)  # bytes: ASCII digits only, fast
                                or _EVENT_MS_TEXT.fullmatch(text)):  # with a minus
        return int(text)
    msg = "not an event-time header text (ASCII digits, an optional minus, at most 18)"
    raise ValueError(msg)


TIMESTAMP_NOT_AVAILABLE = 0  # confluent_kafka.TIMESTAMP_NOT_AVAILABLE (kept pure: no import of the client)


def merge_key_of(headers: Sequence[tuple[str, Any]] | None, timestamp_ms: int, header: str) -> int:
    """A message's merge key: the first ``header`` among its headers as an integer (:func:`header_ms`),
    else (no such header, or one that is not such an integer) its Kafka timestamp."""
    for name, value in headers or ():
        if name == header:
            try:
                return header_ms(value)
            except ValueError:
                break
    return int(timestamp_ms)


def event_time_ms(msg: Any) -> int:
    """The merge key of a message: its event-time header, else its Kafka timestamp."""
    return merge_key_of(msg.headers(), msg.timestamp()[1], EVENT_TIME_HEADER)


def arrival_ms(msg: Any) -> int:
    """A message's arrival clock: its Kafka timestamp (the producer's CreateTime or the broker's
    LogAppendTime, whichever the topic keeps), -1 when the message has none."""
    kind, ms = msg.timestamp()
    return int(ms) if kind != TIMESTAMP_NOT_AVAILABLE else -1


_NONE_READ = object()
"""``read_poll``'s last integer text before any: equal to no header value (a null one included)."""


def read_poll(msgs: Sequence[Any], header: str, start: int = 0) -> tuple[dict[str, list[Entry]], int]:
    """The messages of a poll from ``start`` on, up to its next error event, as entries per topic (in the
    poll's order); and where that error event is (``len(msgs)``: none). The source handles an error event
    after the messages before it, then reads on after it."""
    by_topic: dict[str, list[Entry]] = {}
    last_text: Any = _NONE_READ  # the last header text read as an integer, and that integer
    last_merge = 0
    for i, msg in enumerate(islice(msgs, start, None), start):
        if msg.error() is not None:
            return by_topic, i
        topic = msg.topic()
        entries = by_topic.get(topic)
        if entries is None:
            entries = by_topic[topic] = []
        kind, ms = msg.timestamp()
        hdrs = msg.headers()
        if hdrs and hdrs[0][0] == header:  # twinflow's producers put it first: no loop
            text = hdrs[0][1]
            if text == last_text:  # a fleet's records of one time come together: one int() for them
                merge = last_merge
            else:
                try:
                    merge = last_merge = header_ms(text)
                    last_text = text
                except ValueError:
                    merge = int(ms)
        else:
            merge = merge_key_of(hdrs, ms, header)
        entries.append((merge, msg.offset(), msg.value() or b"",
                        ms if kind != TIMESTAMP_NOT_AVAILABLE else -1, msg.key()))
    return by_topic, len(msgs)
