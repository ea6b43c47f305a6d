"""Guard rails of the command path (issue 11, level 5): from a recommendation to a guarded command.

A ``derate`` recommendation becomes a proposed :class:`~twin_models.records.Command` that sets
the asset's ``load_limit``; what happens to it depends on the mode (``commands.mode``):

- ``off`` (default): nothing is proposed, nothing is audited, nothing is sent;
- ``advise``: proposed and audited (``advised``), never sent;
- ``approve``: proposed and pending until a person approves (re-checked, then ``sent`` or
  ``refused``) or rejects it; past its expiry it is ``expired``;
- ``auto``: sent if it passes the guard rails, otherwise ``refused`` with the reason.

Guard rails, per asset kind and parameter (:class:`GuardRail`): allowed parameters, min/max value,
largest step from the current value, at most ``max_commands`` sent per asset in ``period_s``, and
how long a proposal stays valid (``expiry_s``); plus a kill switch that refuses every send.
:class:`CommandGuard` is one asset's state machine (picklable, bounded); it never sends anything
itself: it returns the commands to send and the audit entries, and the caller routes them.
A guard built with ``send_allowed=False`` (replays, backtests, the demo) proposes at most
``advise``, whatever the mode. Pure: no I/O, no environment, no clock (times come with the items).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from twin_models.command_records import (
    COMMAND_MODES,
    AuditAction,
    AuditEntry,
    Command,
    CommandDecision,
    CommandMode,
)
from twin_models.records import Recommendation
from twin_models.settings import YEAR_S, between, setting
from twin_models.text import counted

__all__ = ["LOAD_LIMIT", "CommandGuard", "CommandsConfig", "GuardRail", "command_id", "entry_id"]

LOAD_LIMIT = "load_limit"
"""The parameter a derate sets: the asset's load limit as a fraction of rated load."""
ANY_KIND = "*"
"""A guard rail row for every asset kind without a row of its own."""
SYSTEM = "twinflow"
"""The actor of the entries twinflow writes by itself."""
MAX_PENDING = 16
"""Pending commands kept per asset; a newer proposal supersedes the oldest beyond it."""
MAX_SENT = 1000
"""Send times kept per asset for the rate limit (bounds the state)."""

RailRow = tuple[str, str, float, float, float, int, float, float]
DEFAULT_RAILS: tuple[RailRow, ...] = ((ANY_KIND, LOAD_LIMIT, 0.5, 1.0, 0.2, 2, 86400.0, 14400.0),)


@dataclass(frozen=True, slots=True)
class GuardRail:
    """The limits of one parameter of one asset kind (a row of ``commands.rails``)."""

    kind: str
    parameter: str
    min_value: float
    max_value: float
    max_step: float
    max_commands: int
    period_s: float
    expiry_s: float

    @classmethod
    def of(cls, row: RailRow) -> GuardRail:
        """A rail from its config row ``[kind, parameter, min, max, max_step, max_commands,
        period_s, expiry_s]``."""
        kind, param, lo, hi, step, count, period, expiry = row
        return cls(kind, param, float(lo), float(hi), float(step), int(count), float(period), float(expiry))


def rails_problem(rows: tuple[RailRow, ...]) -> str | None:
    """What is wrong with the rail rows (None: nothing); the config loader refuses them."""
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        r = GuardRail.of(row)
        where = f"row {i} ({r.kind}, {r.parameter})"
        if not r.kind or not r.parameter:
            return f"{where}: kind and parameter must be non-empty"
        if (r.kind, r.parameter) in seen:
            return f"{where}: duplicate kind and parameter"
        seen.add((r.kind, r.parameter))
        if not r.min_value <= r.max_value:
            return f"{where}: min {r.min_value} is above max {r.max_value}"
        if not r.max_step > 0:
            return f"{where}: max_step must be > 0"
        if not 1 <= r.max_commands <= 1000:
            return f"{where}: max_commands must be 1..1000"
        if not (r.period_s > 0 and r.expiry_s > 0):
            return f"{where}: period_s and expiry_s must be > 0 s"
    return None


@dataclass(frozen=True)
class CommandsConfig:
    """``[pipeline.commands]``: the mode, the kill switch and the guard rails (see module doc)."""

    mode: str = setting("off", choices=COMMAND_MODES)
    """off (default), advise, approve or auto."""
    kill_switch: bool = setting(False)
    """True: no command is sent whatever the mode (proposals and refusals are still audited)."""
    rails: tuple[RailRow, ...] = setting(DEFAULT_RAILS, max_items=1000, check=rails_problem,
                                         pattern=r"[A-Za-z0-9_.*-]{1,128}", **between(0.0, YEAR_S))
    """[kind, parameter, min, max, max_step, max_commands, period_s, expiry_s] rows; kind "*" for
    every kind without its own row; a parameter without a row is not allowed."""

    def rail(self, kind: str, parameter: str) -> GuardRail | None:
        """The rail of ``parameter`` for ``kind`` (its own row, else the ``*`` row), or None."""
        rows = {(r[0], r[1]): r for r in self.rails}
        row = rows.get((kind, parameter)) or rows.get((ANY_KIND, parameter))
        return None if row is None else GuardRail.of(row)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def command_id(recommendation_id: str, parameter: str) -> str:
    """The deterministic id of the command a recommendation proposes for ``parameter``."""
    return "cmd-" + _digest(recommendation_id, parameter)


def entry_id(cmd_id: str, sequence: int) -> str:
    """The deterministic id of a command's ``sequence``-th audit entry."""
    return "aud-" + _digest(cmd_id, str(sequence))


@dataclass
class _Pending:
    command: Command
    entries: int = 1


@dataclass
class CommandGuard:
    """One asset's command guard: pending commands, current setpoints, recent sends.

    :meth:`propose` takes a recommendation, :meth:`decide` a person's decision; both return the
    commands to send (to ``twin.commands.v1``) and audit entries, in order. Every command gets a
    ``proposed`` entry first and one outcome entry at least (``advised``, ``sent``, ``refused``,
    ``rejected``, ``expired``, ``superseded``) except while it is pending.
    """

    asset_id: str
    config: CommandsConfig
    send_allowed: bool = False
    setpoints: dict[str, float] = field(default_factory=dict)
    sent_at: deque[datetime] = field(default_factory=lambda: deque(maxlen=MAX_SENT))
    pending: dict[str, _Pending] = field(default_factory=dict)
    last_proposed: dict[str, tuple[float, datetime]] = field(default_factory=dict)

    @property
    def mode(self) -> CommandMode:
        """The effective mode: the configured one, at most ``advise`` when sending is not allowed."""
        mode: Any = self.config.mode
        if not self.send_allowed and mode in ("approve", "auto"):
            return "advise"
        return mode  # type: ignore[no-any-return]

    def propose(self, rec: Recommendation, now: datetime | None = None) -> list[Command | AuditEntry]:
        """A recommendation in: the command it proposes and what became of it (maybe nothing).

        ``now``: the wall clock, where there is one (``twin run``): a command already past its
        expiry by it is never sent (a replay of old telemetry proposes old commands)."""
        at = rec.timestamp
        out: list[Command | AuditEntry] = self._expire(at)
        cmd = self._command(rec)
        if cmd is None or self.mode == "off":
            return out
        rail = self.config.rail(rec.kind, cmd.parameter)
        last = self.last_proposed.get(cmd.parameter)
        if cmd.value == cmd.previous_value or self._repeat(cmd, last, rail):
            return out  # nothing to change, or the same proposal again within the period
        self.last_proposed[cmd.parameter] = (cmd.value, at)
        for old in [p for p in self.pending.values() if p.command.parameter == cmd.parameter]:
            out.append(self._close(old, "superseded", at, SYSTEM, f"superseded by {cmd.command_id}"))
        out.append(self._entry(cmd, "proposed", at, SYSTEM, rec.explanation, 1))
        problem = self._problem(cmd, rail, at, now)
        if self.mode == "advise":
            why = ("advise mode: never sent" if self.config.mode == "advise"
                   else f"replay: never sent ({self.config.mode} mode applies to twin run only)")
            note = f"{why} (guard rails: {problem or 'within limits'})"
            out.append(self._entry(cmd, "advised", at, SYSTEM, note, 2))
        elif problem is not None:
            out.append(self._entry(cmd, "refused", at, SYSTEM, problem, 2))
        elif self.mode == "auto":
            out.extend(self._send(cmd, at, None, 2))
        else:
            self._add_pending(cmd, out, at)
        return out

    def decide(self, d: CommandDecision, now: datetime | None = None) -> list[Command | AuditEntry]:
        """A person's approval or rejection of a pending command: re-checked, then audited.

        With a wall clock (``now``), it is the time of the decision's effect (expiry, rate limit,
        send), not the decision's own timestamp, which whoever writes the decisions may set."""
        at = d.timestamp if now is None else now
        out: list[Command | AuditEntry] = self._expire(at)
        pend = self.pending.pop(d.command_id, None)
        if pend is None:
            note = f"{d.decision} of {d.command_id} ignored: not pending (unknown, decided or expired)"
            out.append(self._ignored(d, note))
            return out
        seq = pend.entries + 1
        cmd = pend.command
        # a blank reason (spaces, a newline: a careless client's) says nothing: the audit says the verb
        given = d.reason if d.reason.strip() else ""
        if d.decision == "reject":
            out.append(self._entry(cmd, "rejected", at, d.actor, given or "rejected", seq))
            return out
        out.append(self._entry(cmd, "approved", at, d.actor, given or "approved", seq))
        problem = self._problem(cmd, self.config.rail(cmd.kind, cmd.parameter), at, now)
        if self.mode not in ("approve", "auto"):
            problem = f"mode is {self.mode}: nothing is sent"
        if problem is not None:
            out.append(self._entry(cmd, "refused", at, SYSTEM, problem, seq + 1))
        else:
            out.extend(self._send(replace(cmd, previous_value=self._current(cmd.parameter, cmd.kind)),
                                  at, d.actor, seq + 1))
        return out

    def _command(self, rec: Recommendation) -> Command | None:
        """The command a recommendation proposes: a derate sets ``load_limit`` (other plans change
        nothing on the machine by themselves)."""
        plan = rec.chosen
        if plan.plan != "derate" or plan.load_fraction is None or not math.isfinite(plan.load_fraction):
            return None  # no setpoint (a non-finite load is no setpoint either: never a command)
        rail = self.config.rail(rec.kind, LOAD_LIMIT)
        expiry = timedelta(seconds=rail.expiry_s if rail is not None else 0.0)
        reason = f"{rec.explanation} [recommendation {rec.recommendation_id}]"
        return Command(command_id(rec.recommendation_id, LOAD_LIMIT), rec.asset_id, rec.kind, LOAD_LIMIT,
                       float(plan.load_fraction), self._current(LOAD_LIMIT, rec.kind), plan.until, reason,
                       rec.recommendation_id, rec.alert_id, rec.timestamp, rec.timestamp + expiry, self.mode,
                       lineage=rec.lineage)

    def _current(self, parameter: str, kind: str) -> float:
        """The parameter's value now: the last one sent, else the rail's maximum (unrestricted)."""
        if parameter in self.setpoints:
            return self.setpoints[parameter]
        rail = self.config.rail(kind, parameter)
        return rail.max_value if rail is not None else 1.0

    def _repeat(self, cmd: Command, last: tuple[float, datetime] | None, rail: GuardRail | None) -> bool:
        """The same value was proposed for the parameter within the rail's period."""
        if last is None or last[0] != cmd.value:
            return False
        period = rail.period_s if rail is not None else 0.0
        return (cmd.created_at - last[1]).total_seconds() < period

    def _problem(self, cmd: Command, rail: GuardRail | None, at: datetime,
                 now: datetime | None = None) -> str | None:
        """Why the command may not be sent at ``at`` (and wall-clock ``now``); None: within the rails."""
        if self.config.kill_switch:
            return "kill switch is on: no command is sent"
        if rail is None:
            return f"parameter {cmd.parameter!r} is not allowed for kind {cmd.kind!r}"
        if at >= cmd.expires_at:
            return f"expired at {cmd.expires_at.isoformat()}"
        if now is not None and now >= cmd.expires_at:
            return f"expired at {cmd.expires_at.isoformat()} by the wall clock (a replay of old input?)"
        if not rail.min_value <= cmd.value <= rail.max_value:
            return (f"{cmd.parameter} {cmd.value:g} outside [{rail.min_value:g}, {rail.max_value:g}] "
                    f"for kind {cmd.kind!r}")
        step = abs(cmd.value - self._current(cmd.parameter, cmd.kind))
        if step > rail.max_step + 1e-12:
            return (f"step {step:g} from {self._current(cmd.parameter, cmd.kind):g} exceeds the "
                    f"largest step {rail.max_step:g} of {cmd.parameter}")
        since = at - timedelta(seconds=rail.period_s)
        recent = sum(1 for t in self.sent_at if t > since)
        if recent >= rail.max_commands:
            return (f"rate limit: {counted(recent, 'command')} sent in the last {rail.period_s:g} s "
                    f"(at most {rail.max_commands})")
        return None

    def _send(self, cmd: Command, at: datetime, actor: str | None, seq: int) -> list[Command | AuditEntry]:
        sent = replace(cmd, issued_at=at, approved_by=actor)
        self.setpoints[cmd.parameter] = cmd.value
        self.sent_at.append(at)
        return [sent, self._entry(sent, "sent", at, SYSTEM, f"sent {cmd.parameter}={cmd.value:g}", seq)]

    def _add_pending(self, cmd: Command, out: list[Command | AuditEntry], at: datetime) -> None:
        while len(self.pending) >= MAX_PENDING:
            oldest = self.pending.pop(next(iter(self.pending)))
            out.append(self._entry(oldest.command, "superseded", at, SYSTEM, "too many pending commands",
                                   oldest.entries + 1))
        self.pending[cmd.command_id] = _Pending(cmd)

    def _close(self, pend: _Pending, action: AuditAction, at: datetime, actor: str,
               reason: str) -> AuditEntry:
        self.pending.pop(pend.command.command_id, None)
        return self._entry(pend.command, action, at, actor, reason, pend.entries + 1)

    def _expire(self, at: datetime) -> list[Command | AuditEntry]:
        """Pending commands past their expiry at ``at``: ``expired`` entries (at their expiry)."""
        due = [p for p in self.pending.values() if p.command.expires_at <= at]
        return [self._close(p, "expired", p.command.expires_at, SYSTEM, "not approved before it expired")
                for p in due]

    def _entry(self, cmd: Command, action: AuditAction, at: datetime, actor: str, reason: str,
               seq: int) -> AuditEntry:
        return AuditEntry(entry_id(cmd.command_id, seq), cmd.command_id, cmd.asset_id, cmd.kind, action, at,
                          actor, self.mode, reason, cmd.parameter, cmd.value, cmd.previous_value,
                          cmd.expires_at, cmd.recommendation_id, cmd.alert_id, seq, cmd.lineage)

    def _ignored(self, d: CommandDecision, note: str) -> AuditEntry:
        """The entry of a decision that found no pending command (its own deterministic id)."""
        return AuditEntry("aud-" + _digest(d.command_id, d.decision, d.actor, d.timestamp.isoformat()),
                          d.command_id, d.asset_id, "", "ignored", d.timestamp, d.actor, self.mode, note,
                          "", 0.0, 0.0, d.timestamp, "", None, 0)
