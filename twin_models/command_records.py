"""Guarded command path records (issue 11, level 5): commands, decisions and their audit log.

Plain frozen data like :mod:`twin_models.records` (which re-exports them). The JSON contracts are
``schemas/command.v1.json``, ``schemas/command_decision.v1.json`` and ``schemas/audit.v1.json``
(archive table ``audit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from twin_models.records import Lineage

__all__ = ["AUDIT_ACTIONS", "COMMAND_MODES", "DECISIONS", "AuditAction", "AuditEntry", "Command",
           "CommandDecision", "CommandMode", "DecisionKind"]

CommandMode = Literal["off", "advise", "approve", "auto"]
COMMAND_MODES: tuple[str, ...] = ("off", "advise", "approve", "auto")
AuditAction = Literal["proposed", "advised", "approved", "rejected", "sent", "refused", "expired",
                      "superseded", "ignored"]
AUDIT_ACTIONS: tuple[str, ...] = ("proposed", "advised", "approved", "rejected", "sent", "refused",
                                  "expired", "superseded", "ignored")
DecisionKind = Literal["approve", "reject"]
DECISIONS: tuple[str, ...] = ("approve", "reject")


@dataclass(frozen=True, slots=True)
class Command:
    """A setpoint change for one asset, proposed from a recommendation (and maybe sent).

    ``command_id`` is deterministic (the recommendation and the parameter), so a replay gives the
    same ids. ``value`` replaces ``previous_value`` (the last value sent, else the guard rail's
    maximum: the unrestricted setting) until ``until`` (None: until changed). The command is valid
    until ``expires_at``; ``issued_at``/``approved_by`` are set on the command that is sent
    (``approved_by`` None: sent by ``auto`` mode). ``lineage`` is the recommendation's."""

    command_id: str
    asset_id: str
    kind: str
    parameter: str
    value: float
    previous_value: float
    until: datetime | None
    reason: str
    recommendation_id: str
    alert_id: str | None
    created_at: datetime
    expires_at: datetime
    mode: CommandMode
    issued_at: datetime | None = None
    approved_by: str | None = None
    lineage: Lineage | None = None


@dataclass(frozen=True, slots=True)
class CommandDecision:
    """A person's decision on a pending command (``twin commands approve|reject ID``)."""

    command_id: str
    asset_id: str
    decision: DecisionKind
    actor: str
    timestamp: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the append-only command audit log: what happened to a command, when, by whom.

    ``action``: ``proposed`` (always first), then its outcome(s): ``advised`` (advise mode: never
    sent), ``approved``/``rejected`` (a person), ``sent``, ``refused`` (a guard rail, with the
    reason), ``expired``, ``superseded`` (a newer proposal for the same parameter) or ``ignored``
    (a decision for a command that is no longer pending). ``sequence`` numbers a command's
    entries from 1; ``entry_id`` is deterministic (command and sequence)."""

    entry_id: str
    command_id: str
    asset_id: str
    kind: str
    action: AuditAction
    timestamp: datetime
    actor: str
    mode: CommandMode
    reason: str
    parameter: str
    value: float
    previous_value: float
    expires_at: datetime
    recommendation_id: str
    alert_id: str | None
    sequence: int
    lineage: Lineage | None = None
