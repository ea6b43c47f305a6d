"""JSON-lines file sink (dead letters in the demo, alerts for quick inspection).

A file holds ONE run: the run's files (``<stem>.jsonl`` and the other workers'
``<stem>-w<k>.jsonl``) are removed when the sink is attached to a flow and each worker's file is
created empty, so a second run into the same folder does not append to the first run's lines
(counts, reports and "what went wrong" would mix runs). Which of the other workers' files an
earlier run wrote is the caller's to say (``owned``: ``flows.app.outputs`` asks the folder's
outputs manifest, which this layer does not import), so a user's file of such a name can stay.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.archive.layout import WriteFailed, failure_reason
from flows.dataflow.sinks.archive_writer import FailureGroup

__all__ = ["JsonlSink", "jsonl_attacher", "run_files", "worker_path"]


def worker_path(path: Path, worker_index: int) -> Path:
    """The file worker ``worker_index`` writes: ``path`` for worker 0, else ``<stem>-w<k><suffix>``."""
    return path if worker_index == 0 else path.with_name(f"{path.stem}-w{worker_index}{path.suffix}")


def run_files(path: str | Path, workers: int) -> list[Path]:
    """The files a run of ``workers`` workers writes (each worker's, created empty when the flow starts)."""
    return [worker_path(Path(path), k) for k in range(max(workers, 1))]


def _created(path: Path) -> int:
    """A new empty file at ``path``, made by this call (its descriptor): whatever is at the name
    is removed first, a file or a link, never followed nor truncated. Round 41 (OUTPUTS41): the
    file was opened ``"wb"`` by name, so a link put there after :meth:`JsonlSink.clear` (a flow is
    built, then run) had the run truncate and fill the file it pointed to, outside ``--out``.
    Something put there between the removal and the creation: one error naming the file."""
    try:
        path.unlink(missing_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise WriteFailed(exc.errno or errno.EIO, f"cannot write {path}: {failure_reason(exc)}") from exc


class _JsonlPartition(StatelessSinkPartition[Any]):
    """A worker's file, written unbuffered, one system call per batch (the buffered file flushed
    per batch did the same). A batch that cannot be written whole (a full disk) is cut off again, so
    the file holds complete lines only, and raises one error naming the file. Before round 26 the
    file kept the part of a line that fitted, and its close, called again by the engine while it
    unwound, raised once more from a destructor: the process aborted (SIGABRT), saying nothing.
    Round 40 (HOSTILE40): a failure marks ``failures`` (the run's archive sinks' group), whose closes
    then flush nothing: on a full disk their flushes failed too, while the engine unwound this
    failure, and the process aborted the same way (SIGABRT, exit 134, not a word)."""

    def __init__(self, path: Path, encode: Callable[[Any], bytes],
                 failures: FailureGroup | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.failures = failures
        self.file: IO[bytes] = open(_created(path), "wb", buffering=0)
        self.encode = encode
        self.size = 0  # bytes of complete lines

    def write_batch(self, items: list[Any]) -> None:
        data = memoryview(b"".join(self.encode(item).rstrip(b"\n") + b"\n" for item in items))
        try:
            while data:
                data = data[self.file.write(data) or 0:]
            self.size = self.file.tell()
            return
        except OSError as exc:
            failed = WriteFailed(exc.errno or errno.EIO, f"cannot write {self.path}: {failure_reason(exc)}")
        with contextlib.suppress(OSError):  # a disk turned read-only: nothing more can be done
            self.file.truncate(self.size)
            self.file.seek(self.size)
        if self.failures is not None:
            self.failures.raised = True
        raise failed  # outside the except: the engine's error is reported by its innermost cause, this one

    def close(self) -> None:
        with contextlib.suppress(OSError):  # never from the engine's destructors (an abort)
            self.file.close()


class JsonlSink(DynamicSink[Any]):
    """One JSON document per line; worker k > 0 writes ``<stem>-w<k>.jsonl`` beside it."""

    def __init__(self, path: str | Path, encode: Callable[[Any], bytes],
                 owned: Callable[[list[Path]], list[Path]] | None = None,
                 failures: FailureGroup | None = None) -> None:
        self.path = Path(path)
        self.encode = encode
        self.owned = owned
        self.failures = failures

    def clear(self) -> None:
        """Remove the files of an earlier run (any worker count). ``owned`` (if given) picks, of the
        other workers' files found (``<stem>-w<digits>``), those an earlier run wrote (the output
        folder's manifest, :mod:`flows.app.out_manifest`): a user's file of such a name stays."""
        self.path.unlink(missing_ok=True)
        found = [p for p in sorted(self.path.parent.glob(f"{self.path.stem}-w*{self.path.suffix}"))
                 if p.stem.rpartition("-w")[2].isdigit()]
        for stale in found if self.owned is None else self.owned(found):
            stale.unlink(missing_ok=True)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _JsonlPartition:
        """Create this worker's file, empty."""
        return _JsonlPartition(worker_path(self.path, worker_index), self.encode, self.failures)


def jsonl_attacher(
    path: str | Path, encode: Callable[[Any], bytes], owned: Callable[[list[Path]], list[Path]] | None = None,
    failures: FailureGroup | None = None,
) -> Callable[[str, Stream[Any]], None]:
    """A SinkAttacher writing a stream to a JSON-lines file (an earlier run's files are removed
    when the flow is built; ``owned``: see :meth:`JsonlSink.clear`; ``failures``: the run's archive
    sinks' group, marked when a write fails)."""
    sink = JsonlSink(path, encode, owned, failures)

    def attach(step_id: str, stream: Stream[Any]) -> None:
        sink.clear()
        op.output(step_id, stream, sink)

    return attach
