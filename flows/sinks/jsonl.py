"""JSON-lines file sink (dead letters in the demo, alerts for quick inspection)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.outputs import DynamicSink, StatelessSinkPartition

__all__ = ["JsonlSink", "jsonl_attacher"]


class _JsonlPartition(StatelessSinkPartition[Any]):
    def __init__(self, path: Path, encode: Callable[[Any], bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file: IO[bytes] = path.open("ab")
        self.encode = encode

    def write_batch(self, items: list[Any]) -> None:
        for item in items:
            self.file.write(self.encode(item).rstrip(b"\n") + b"\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class JsonlSink(DynamicSink[Any]):
    """Appends one JSON document per line; worker k > 0 writes ``<stem>-w<k>.jsonl`` beside it."""

    def __init__(self, path: str | Path, encode: Callable[[Any], bytes]) -> None:
        self.path = Path(path)
        self.encode = encode

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _JsonlPartition:
        """Open this worker's file for appending."""
        path = self.path
        if worker_index > 0:
            path = path.with_name(f"{path.stem}-w{worker_index}{path.suffix}")
        return _JsonlPartition(path, self.encode)


def jsonl_attacher(
    path: str | Path, encode: Callable[[Any], bytes]
) -> Callable[[str, Stream[Any]], None]:
    """A SinkAttacher writing a stream to a JSON-lines file."""
    sink = JsonlSink(path, encode)

    def attach(step_id: str, stream: Stream[Any]) -> None:
        op.output(step_id, stream, sink)

    return attach
