"""Sample records of the command path (commands, audit entries, decisions) for the contract tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.unit.test_commands import T0, decision, guard, rec
from twin_models.records import AuditEntry, Command, CommandDecision, Lineage


def command_samples(lineage: Lineage) -> list[Command]:
    """A sent command (auto) and an approved one with lineage and a derate end."""
    auto = [x for x in guard("auto").propose(rec()) if isinstance(x, Command)]
    g = guard("approve")
    cid = g.propose(replace(rec(), lineage=lineage))[0].command_id
    approved = [x for x in g.decide(decision(cid)) if isinstance(x, Command)]
    return [*auto, replace(approved[0], until=None, alert_id=None)]


def audit_samples(lineage: Lineage) -> list[AuditEntry]:
    """Every kind of entry: proposed, refused, approved, sent, ignored (with and without lineage)."""
    out = [x for x in guard("auto").propose(rec(0.3)) if isinstance(x, AuditEntry)]
    g = guard("approve")
    cid = g.propose(replace(rec(), lineage=lineage))[0].command_id
    out += [x for x in g.decide(decision(cid)) if isinstance(x, AuditEntry)]
    out += [x for x in g.decide(decision(cid, at=T0 + timedelta(hours=2))) if isinstance(x, AuditEntry)]
    return out


def approve() -> CommandDecision:
    """A person's approval."""
    return decision("cmd-3f2a9c0d1e4b5a67")
