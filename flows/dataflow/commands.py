"""The guarded command path inside the dataflow (issue 11, level 5): ``command_guard`` per asset.

Two inputs meet in the step, keyed by asset:

- the recommendations, ``(asset_id, Recommendation)``: the stream that enters :func:`command_path`
  as ``recommendations`` (the prescription step's output; :func:`~flows.dataflow.pipeline.get_flow`
  names the place);
- the command inputs of ``get_flow(command_inputs=...)``: in ``twin run``, the Kafka topic
  ``twin.commands.decisions.v1`` (bytes, decoded here: a bad one is a dead letter), in tests
  records (a :class:`~twin_models.records.CommandDecision`, or a Recommendation injected directly).

The step is :class:`~twin_models.commands.CommandGuard` (pure; one per asset, in the recovery
state); it emits ``Command`` (to ``twin.commands.v1``) and ``AuditEntry`` (to ``twin.audit.v1``
and the ``audit`` archive table). ``send_allowed`` is False unless ``twin run`` says otherwise,
so a demo, a backtest or a test flow can never send, whatever ``commands.mode`` says.

Step ids (recovery state, never renamed): ``commands_in``, ``decode_commands_in``,
``key_commands_in``, ``command_guard``, ``route_command_errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source

from flows.codec.command_fields import decision_from_json
from flows.codec.errors import Reject
from flows.dataflow.guard import guard_stateful
from flows.dataflow.items import DeadLetter, RawRecord, RawRun
from flows.dataflow.metrics import PipelineMetrics
from twin_models.commands import CommandGuard, CommandsConfig
from twin_models.records import AuditEntry, Command, CommandDecision, Recommendation

__all__ = ["CommandOutputs", "command_path", "empty_recommendations", "guard_apply", "read_command_input"]

GuardItem = Recommendation | CommandDecision


@dataclass(frozen=True)
class CommandOutputs:
    """The command path's streams: sent commands, audit entries, dead letters (unkeyed)."""

    commands: Stream[Command]
    audit: Stream[AuditEntry]
    dead_letters: Stream[DeadLetter]


def read_command_input(item: Any, now: datetime) -> list[GuardItem | DeadLetter]:
    """One item of the command inputs -> decisions/recommendations, or dead letters for bytes
    that are not a ``command_decision.v1`` document."""
    if isinstance(item, Recommendation | CommandDecision):
        return [item]
    records = item.records() if isinstance(item, RawRun) else [item]
    out: list[GuardItem | DeadLetter] = []
    for raw in records:
        if not isinstance(raw, RawRecord):
            out.append(DeadLetter("schema_violation", f"not a command input: {type(raw).__name__}",
                                  "commands_in", b"", now))
            continue
        try:
            out.append(decision_from_json(raw.payload))
        except Reject as exc:
            out.append(DeadLetter(exc.reason, f"command decision: {exc}", raw.source, raw.payload, now,
                                  raw.headers))
    return out


def guard_apply(cfg: CommandsConfig, send_allowed: bool, now: Callable[[], datetime]) -> Callable[
        [CommandGuard | None, GuardItem], tuple[CommandGuard, list[Any]]]:
    """The step's transition (what an undo replays): a recommendation is proposed, a decision
    decided; ``now`` is the wall clock, past which a command is never sent (a replay). A flow
    that may not send (demo, backtest) runs in its data's time only: the wall clock says nothing
    about a simulated or replayed command."""

    def apply(guard: CommandGuard | None, item: GuardItem) -> tuple[CommandGuard, list[Any]]:
        if guard is None:
            guard = CommandGuard(item.asset_id, cfg, send_allowed)
        # the configuration of THIS run wins over the one in the recovered state: a restart with
        # the kill switch on, another mode or other rails applies them to pending commands too
        guard.config, guard.send_allowed = cfg, send_allowed
        wall = now() if send_allowed else None
        if isinstance(item, Recommendation):
            return guard, guard.propose(item, wall)
        return guard, guard.decide(item, wall)

    return apply


def _step(cfg: CommandsConfig, send_allowed: bool, m: PipelineMetrics,
          now: Callable[[], datetime]) -> Callable[[CommandGuard | None, GuardItem],
                                                   tuple[CommandGuard, list[Any]]]:
    """``command_guard``: the transition, counted."""
    apply = guard_apply(cfg, send_allowed, now)

    def step(guard: CommandGuard | None, item: GuardItem) -> tuple[CommandGuard, list[Any]]:
        guard, out = apply(guard, item)
        m.step_items.labels(step="command_guard").inc()
        for x in out:
            if isinstance(x, AuditEntry):
                m.command_audit.labels(action=x.action).inc()
        return guard, out

    return step


def command_path(flow: Dataflow, recommendations: Stream[tuple[str, Recommendation]],
                 inputs: Source[Any] | None, cfg: CommandsConfig, m: PipelineMetrics,
                 now: Callable[[], datetime], *, send_allowed: bool) -> CommandOutputs:
    """Add the command path to ``flow``: ``recommendations`` and ``inputs`` -> command_guard."""
    streams: list[Stream[tuple[str, Any]]] = [recommendations]
    bad: list[Stream[Any]] = []
    if inputs is not None:
        raw = op.input("commands_in", flow, inputs)
        read = op.flat_map("decode_commands_in", raw, lambda item: read_command_input(item, now()))
        split = op.branch("route_commands_in_errors", read, lambda x: not isinstance(x, DeadLetter))
        streams.append(op.key_on("key_commands_in", split.trues, lambda x: x.asset_id))
        bad.append(split.falses)
    items = op.merge("merge_command_inputs", *streams) if len(streams) > 1 else streams[0]
    # (asset_id, Recommendation | CommandDecision)
    apply = guard_apply(cfg, send_allowed, now)
    step = guard_stateful("command_guard", _step(cfg, send_allowed, m, now), lambda s, x: apply(s, x)[0],
                          lambda x: str(x.asset_id), m, now)
    out = op.branch("route_command_errors", op.stateful_flat_map("command_guard", items, step),
                    lambda kv: not isinstance(kv[1], DeadLetter))
    # (asset_id, Command | AuditEntry)
    values: Stream[Any] = op.key_rm("commands_unkeyed", out.trues)  # (filter keeps the type: Any)
    sent = op.filter("sent_commands", values, lambda x: isinstance(x, Command))
    audit = op.filter("audit_entries", values, lambda x: isinstance(x, AuditEntry))
    dead = op.merge("command_dead_letters", op.key_rm("command_errors_unkeyed", out.falses), *bad)
    return CommandOutputs(sent, audit, dead)


def empty_recommendations(alerts: Stream[tuple[str, Any]]) -> Stream[tuple[str, Recommendation]]:
    """A seam beside the prescriptions stream: nothing in the product; the command path's tests
    replace it with stand-in recommendations (so a backtest of a series with no damage state can
    still show that commands are never sent)."""

    def nothing(_value: Any) -> Iterable[Recommendation]:
        return ()

    return op.flat_map_value("recommendations", alerts, nothing)
