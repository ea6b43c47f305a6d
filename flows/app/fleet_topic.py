"""Fleet model versions through a compacted Kafka topic (``twin.fleet.models.v1``, key = kind).

In ``twin run`` the learner of a kind lives in one process, but every process's twins apply its
versions: the learner's stream is produced to the topic (:func:`model_message`) and every process
runs a :class:`FleetModelConsumer`, which reads the topic from the beginning (compaction keeps
the newest version of every kind, so a restart or a resume gets the models back) into the process's
:class:`~flows.dataflow.fleet_models.FleetBoard`: to its end as of the start before the flow starts
(round 49: a resume's restored learner does not learn its lives again, so a version read in the
background could reach the board after windows it applied to), then in a background thread. The
same topic carries the processes' positions for the event-time gate and the learners' voids (no
version will come for a life: :mod:`flows.app.gate_link`), told apart by a header; a malformed void
is refused as a ``bad_fleet_model`` dead letter (counted and logged).

A message from Kafka is untrusted: it is never given to plain ``pickle.loads``. :func:`load_model`
accepts at most ``MAX_MODEL_BYTES`` and unpickles with :class:`ModelUnpickler`, which resolves
only an allow-list of classes (twin_models' model classes, numpy arrays and dtypes, River's
regressors, a few builtins) and a listed handful of functions (round 50: any function under those
packages resolved, ``numpy.testing._private.utils.runstring`` among them: a message ran code);
anything else, a bad payload or a result that is not a
:class:`~twin_models.rul.fleet_model.FleetModel` of the message's kind is counted as a dead letter
(reason ``bad_fleet_model``) and logged, and the consumer goes on; a refused version will come
nowhere (the same checks in every process), so the hold its header ``fleet.effective_from_s`` names
ends (:func:`~flows.app.gate_link.refused_model_void`, round 33).
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
import time
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from flows.app.gate_link import (
    EFFECTIVE_HEADER,
    is_progress,
    is_void,
    refused_model_void,
    take_progress,
    take_void,
)
from flows.config.pipeline import KafkaConfig
from flows.dataflow.event_time_gate import EventTimeGate
from flows.dataflow.fleet_models import FleetBoard
from flows.dataflow.metrics import PipelineMetrics
from flows.kafka.clients import consumer_client, wait_for_brokers
from twin_models.rul.fleet_model import FleetModel

__all__ = ["MAX_MODEL_BYTES", "FleetModelConsumer", "ModelUnpickler", "load_model", "model_message"]

log = logging.getLogger(__name__)

MAX_MODEL_BYTES = 64 * 1024 * 1024
"""Largest model payload accepted (a version with 300 lives and 200 trees is a few MB)."""

_ALLOWED_PREFIXES = ("twin_models.rul.", "numpy.", "river.")
_DENIED_MODULES = ("numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.npyio",
                   "numpy.lib._npyio_impl", "numpy.lib._datasource", "river.datasets", "river.stream")
"""Modules under the allowed prefixes whose classes read, write or fetch files or run code."""
_ALLOWED_EXACT = {
    ("numpy", "dtype"), ("numpy", "ndarray"), ("builtins", "slice"), ("builtins", "frozenset"),
    ("builtins", "set"), ("builtins", "complex"), ("collections", "deque"),
    ("collections", "OrderedDict"), ("collections", "Counter"), ("collections", "defaultdict"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"), ("builtins", "float"), ("builtins", "int"), ("builtins", "dict"),
    ("builtins", "list"), ("builtins", "tuple"), ("random", "Random"), ("functools", "partial"),
    ("statistics", "NormalDist"),  # River's Hoeffding adaptive tree regressor holds one
}
_ALLOWED_FUNCTIONS = {  # the only functions a model's pickle calls or holds; anything else is a class
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("river._river_rust.vectordict", "euclidean_distance_tuple"),
    ("river.tree.splitter.ebst_splitter", "EBSTNode._update_estimator_univariate"),
}
_DENIED_NAMES = ("load", "loads", "system", "exec", "eval", "open", "fromfile", "memmap", "__import__")


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p.rstrip(".") or module.startswith(p.rstrip(".") + ".") for p in prefixes)


class ModelUnpickler(pickle.Unpickler):
    """Resolves only the classes a fleet model is made of; refuses everything else."""

    def find_class(self, module: str, name: str) -> Any:
        """The class ``module.name`` if allowed, else an ``UnpicklingError`` naming it. Under the
        allowed prefixes only a class defined there resolves (round 50: a function such as
        ``numpy.testing._private.utils.runstring``, or a dotted name reaching an imported module's
        ``os.system``, ran code); the few functions a model needs are listed one by one."""
        if (module, name) in _ALLOWED_EXACT or (module, name) in _ALLOWED_FUNCTIONS:
            return super().find_class(module, name)
        allowed = (module.startswith(_ALLOWED_PREFIXES) and not _under(module, _DENIED_MODULES)
                   and not any(part.startswith("_") or part in _DENIED_NAMES for part in name.split(".")))
        found = super().find_class(module, name) if allowed else None
        if not (isinstance(found, type) and found.__module__.startswith(_ALLOWED_PREFIXES)
                and not _under(found.__module__, _DENIED_MODULES) and not issubclass(found, np.memmap)):
            msg = f"fleet model payload refers to {module}.{name}, which is not allowed"
            raise pickle.UnpicklingError(msg)
        return found


def model_message(model: FleetModel) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A version as a message: key = kind, value = the pickled model; headers: the version and the
    effective time as text (read without unpickling: a refused version ends its hold)."""
    value = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return model.kind.encode(), value, [("fleet.version", str(model.version).encode()),
                                        (EFFECTIVE_HEADER, repr(float(model.effective_from_s)).encode())]


def load_model(key: bytes | None, value: bytes | None) -> FleetModel | str:
    """The model of a message, or the reason it was refused (never raises)."""
    if value is None:
        return "empty fleet model message"
    if len(value) > MAX_MODEL_BYTES:
        return f"fleet model message of {len(value)} bytes exceeds the {MAX_MODEL_BYTES}-byte cap"
    try:
        model = ModelUnpickler(io.BytesIO(value)).load()
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: every failure is a refusal
        return f"fleet model message does not unpickle: {type(exc).__name__}: {exc}"[:500]
    if not isinstance(model, FleetModel):
        return f"fleet model message holds a {type(model).__name__}, not a FleetModel"
    kind = (key or b"").decode("utf-8", "replace")
    if model.kind != kind:
        return f"fleet model of kind {model.kind!r} under key {kind!r}"
    return model


class FleetModelConsumer:
    """Background thread: the topic, from the beginning, into the board (untrusted input)."""

    def __init__(self, kafka: KafkaConfig, topic: str, board: FleetBoard, metrics: PipelineMetrics, *,
                 poll_s: float = 0.2, gate: EventTimeGate | None = None) -> None:
        self.kafka = kafka
        self.topic = topic
        self.board = board
        self.metrics = metrics
        self.poll_s = poll_s
        self.gate = gate  # progress messages of the other processes go there (flows.app.gate_link)
        self.since_ms = int(time.time() * 1000)
        self.loaded = 0
        self.refused = 0
        self.voids = 0  # voids taken, refused versions' holds ended (old ones skipped are not counted)
        self._stop = threading.Event()
        conf = {**kafka.client_config(), "group.id": "twinflow-fleet-models-unused",
                "enable.auto.commit": "false", "enable.partition.eof": "true",  # _catch_up's end
                "fetch.wait.max.ms": "100",  # the catch-up waits for each partition's first fetch
                "fetch.message.max.bytes": str(MAX_MODEL_BYTES),
                "receive.message.max.bytes": str(MAX_MODEL_BYTES + 1024 * 1024)}
        self.consumer, self._errors = consumer_client(kafka, conf)
        self.thread = threading.Thread(target=self._run, name="fleet-model-consumer", daemon=True)

    def start(self) -> FleetModelConsumer:
        """Assign every partition of the topic from the beginning and start reading. The brokers
        are waited for up to ``kafka.connect_timeout_s`` (a broker restarting as the run starts:
        :func:`~flows.kafka.clients.wait_for_brokers`), then a ``KafkaSetupError`` names the
        problem in one line."""
        try:  # the metadata of this topic only (not every topic of a shared cluster)
            meta = wait_for_brokers(self.consumer, self._errors, self.kafka, topic=self.topic)
        except ValueError:  # KafkaSetupError, KafkaSecurityError: one line for the CLI
            self.consumer.close()
            raise
        found = meta.topics.get(self.topic)  # absent (not made yet): its partition 0
        parts = sorted(found.partitions) if found is not None and found.partitions else [0]
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in parts])
        self._catch_up(parts)
        self.thread.start()
        return self

    def _catch_up(self, parts: list[int]) -> None:
        """Read the topic up to its end offsets as of now before the flow starts, so the versions
        already published (by an earlier run of a resumed store, whose learner will not learn those
        lives again) are on the board before the first window that applies them. Bounded by
        ``kafka.connect_timeout_s``; what is left is read by the thread."""
        timeout = self.kafka.connect_timeout_s
        try:
            ends = {p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=timeout)[1]
                    for p in parts}
        except KafkaException as exc:  # the thread reads on as before; the run's own checks say more
            log.warning("twin: the fleet model topic %s was not read before the start (%s): versions "
                        "already on it may reach the board after windows they apply to", self.topic, exc)
            return
        todo = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for msg in self.consumer.consume(500, 0.05):
                err, part, offset = msg.error(), msg.partition(), msg.offset()
                if err is None:
                    self._handle(msg)
                if part is None:
                    continue
                if (err.code() == KafkaError._PARTITION_EOF if err is not None  # a compacted tail
                        else offset is not None and offset + 1 >= ends.get(part, 0)):
                    todo.discard(part)  # read to its end as of the start
        if todo:  # round 50: said (it was silent; the late versions the catch-up is for may come back)
            log.warning("twin: the fleet model topic %s was not read to its end before the start within "
                        "%g s (kafka.connect_timeout_s; partitions %s left to the background): versions "
                        "already on it may reach the board after windows they apply to", self.topic,
                        timeout, ", ".join(map(str, sorted(todo))))

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.consumer.poll(self.poll_s)
            if msg is not None and msg.error() is None:
                self._handle(msg)

    def _handle(self, msg: Any) -> None:
        """One message, whatever it holds: untrusted input never stops the reading."""
        try:
            self._one(msg)
        except Exception as exc:  # noqa: BLE001 - untrusted input: one message never stops the thread
            self.refused += 1
            self.metrics.dead_letters.labels(reason="bad_fleet_model").inc()
            log.warning("twin: dead letter: fleet model topic message at offset %s not handled: %s: %s "
                        "(topic %s)", msg.offset(), type(exc).__name__, str(exc)[:300], self.topic)

    def _one(self, msg: Any) -> None:
        """One message of the topic: a position, a void or a version (told apart by a header)."""
        if is_progress(msg.headers()):
            self._progress(msg)
        elif is_void(msg.headers()):
            self._void(msg)
        else:
            self.take(msg.key(), msg.value(), msg.headers(), msg.timestamp()[1])

    def _progress(self, msg: Any) -> None:
        """A process's position for the event-time gate (ignored without a gate)."""
        if self.gate is None:
            return
        refused = take_progress(self.gate, msg.value(), msg.timestamp()[1], self.since_ms)
        if refused is not None:
            self.refused += 1
            self.metrics.dead_letters.labels(reason="bad_progress").inc()
            log.warning("twin: dead letter: %s (topic %s)", refused, self.topic)

    def _void(self, msg: Any) -> None:
        """A learner's void (flows.app.gate_link): the hold it names ends here too."""
        refused = take_void(self.board, self.gate, msg.value(), msg.timestamp()[1], self.since_ms)
        if refused is None:
            self.voids += 1
            return
        self.refused += 1
        self.metrics.dead_letters.labels(reason="bad_fleet_model").inc()
        log.warning("twin: dead letter: %s (topic %s)", refused, self.topic)

    def take(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None = None,
             timestamp_ms: int = 0) -> None:
        """Publish one message's model to the board, or count and log why it was refused; a refused
        version's hold ends (its effective time header, :func:`~flows.app.gate_link.refused_model_void`)."""
        got = load_model(key, value)
        if isinstance(got, str):
            self.refused += 1
            self.metrics.dead_letters.labels(reason="bad_fleet_model").inc()
            if refused_model_void(self.board, self.gate, key, headers, timestamp_ms, self.since_ms):
                self.voids += 1
                got += "; the hold of that version ended"
            log.warning("twin: dead letter: %s (topic %s)", got, self.topic)
            return
        self.loaded += 1
        self.board.publish(got)
        if self.gate is not None:  # every process can see it now (it is on the topic): release the hold
            self.gate.release(got.kind, got.effective_from_s)

    def stop(self) -> None:
        """Stop the thread and close the consumer."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5.0)
        self.consumer.close()
