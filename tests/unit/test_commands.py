"""The command guard (twin_models.commands): modes, guard rails, approvals, expiry, the audit log."""

from __future__ import annotations

import pickle
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from twin_models.commands import CommandGuard, CommandsConfig, command_id
from twin_models.records import AuditEntry, Command, CommandDecision, PlanOption, Recommendation

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
RAIL = ("*", "load_limit", 0.5, 1.0, 0.2, 2, 86400.0, 4 * 3600.0)


def rec(load: float | None = 0.85, at: datetime = T0, *, n: int = 1, plan: str = "derate",
        kind: str = "pump", asset: str = "p1") -> Recommendation:
    """A recommendation to derate ``asset`` to ``load`` (``plan`` another plan: no setpoint)."""
    chosen = PlanOption(plan, load, T0 + 14 * 24 * H, 0.03, 1000.0)  # type: ignore[arg-type]
    as_is = PlanOption("as_is", None, None, 0.41, 19000.0)
    return Recommendation(f"rec-{asset}-{n}", asset, kind, at, "alert-1", chosen, (as_is, chosen), 18000.0,
                          "EUR", f"derate to {load} until the planned stop")


def guard(mode: str = "auto", *, send: bool = True, **rail: Any) -> CommandGuard:
    row = dict(zip(("kind", "parameter", "lo", "hi", "step", "count", "period", "expiry"), RAIL, strict=True))
    row.update(rail)
    cfg = CommandsConfig(mode=mode, rails=(tuple(row.values()),))  # type: ignore[arg-type]
    return CommandGuard("p1", cfg, send_allowed=send)


def decision(cmd: str, verb: str = "approve", at: datetime = T0 + H, who: str = "jdoe") -> CommandDecision:
    return CommandDecision(cmd, "p1", verb, who, at, "ok")  # type: ignore[arg-type]


def actions(out: Sequence[Any]) -> list[str]:
    return [x.action if isinstance(x, AuditEntry) else "COMMAND" for x in out]


def test_off_by_default_proposes_and_audits_nothing() -> None:
    assert CommandsConfig().mode == "off"
    g = CommandGuard("p1", CommandsConfig(), send_allowed=True)
    assert g.propose(rec()) == []
    assert g.decide(decision(command_id("rec-p1-1", "load_limit")))[0].action == "ignored"


def test_advise_audits_the_proposal_and_never_sends() -> None:
    out = guard("advise").propose(rec())
    assert actions(out) == ["proposed", "advised"]
    assert "within limits" in out[1].reason and "never sent" in out[1].reason


def test_auto_sends_within_the_rails_with_reason_lineage_and_alert() -> None:
    out = guard("auto").propose(rec(0.85))
    assert actions(out) == ["proposed", "COMMAND", "sent"]
    cmd = out[1]
    assert isinstance(cmd, Command)
    assert (cmd.parameter, cmd.value, cmd.previous_value, cmd.approved_by) == ("load_limit", 0.85, 1.0, None)
    assert cmd.issued_at == T0 and cmd.expires_at == T0 + 4 * H and cmd.alert_id == "alert-1"
    assert cmd.command_id == command_id("rec-p1-1", "load_limit") and "derate to 0.85" in cmd.reason


@pytest.mark.parametrize(("load", "rail", "why"), [
    (0.3, {}, "outside [0.5, 1]"),
    (0.7, {}, "step 0.3 from 1 exceeds the largest step 0.2"),
    (0.85, {"kind": "fan"}, "not allowed for kind 'pump'"),
])
def test_auto_refuses_outside_the_rails_with_the_reason(load: float, rail: dict[str, Any], why: str) -> None:
    out = guard("auto", **rail).propose(rec(load))
    assert actions(out) == ["proposed", "refused"]
    assert why in out[1].reason


def test_rate_limit_counts_sends_per_period() -> None:
    g = guard("auto", count=1, period=6 * 3600.0, step=0.5)
    assert "COMMAND" in actions(g.propose(rec(0.9, T0, n=1)))
    refused = g.propose(rec(0.8, T0 + H, n=2))
    assert actions(refused) == ["proposed", "refused"] and "rate limit: 1 command sent" in refused[1].reason
    later = g.propose(rec(0.7, T0 + 7 * H, n=3))
    assert "COMMAND" in actions(later) and later[1].previous_value == 0.9


def test_kill_switch_refuses_every_send() -> None:
    g = guard("auto")
    g.config = replace(g.config, kill_switch=True)
    out = g.propose(rec())
    assert actions(out) == ["proposed", "refused"] and "kill switch" in out[1].reason


def test_approve_keeps_the_command_pending_until_a_person_approves() -> None:
    g = guard("approve")
    out = g.propose(rec())
    assert actions(out) == ["proposed"] and out[0].mode == "approve"
    cid = out[0].command_id
    sent = g.decide(decision(cid, "approve", T0 + H, "jdoe"))
    assert actions(sent) == ["approved", "COMMAND", "sent"]
    assert sent[0].actor == "jdoe" and sent[1].approved_by == "jdoe" and sent[1].issued_at == T0 + H
    again = g.decide(decision(cid, "approve", T0 + 2 * H))
    assert actions(again) == ["ignored"], "a command is sent at most once"


def test_reject_closes_the_command_without_sending() -> None:
    g = guard("approve")
    cid = g.propose(rec())[0].command_id
    out = g.decide(decision(cid, "reject"))
    assert actions(out) == ["rejected"] and out[0].actor == "jdoe"
    assert actions(g.decide(decision(cid, "approve"))) == ["ignored"]


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_blank_reason_is_audited_as_the_verb(verb: str) -> None:
    """Round 24: a decision's reason of spaces or a newline (a Kafka client's; the CLI refuses a
    newline) went into the audit log as it was, a reason that says nothing; now as an empty one."""
    for blank in ("", " ", "  \n\t "):
        g = guard("approve")
        cid = g.propose(rec())[0].command_id
        out = g.decide(replace(decision(cid, verb), reason=blank))
        assert out[0].reason == {"approve": "approved", "reject": "rejected"}[verb], repr(blank)
    g = guard("approve")
    cid = g.propose(rec())[0].command_id
    assert g.decide(replace(decision(cid, verb), reason=" planned stop ")).pop(0).reason == " planned stop "


def test_approval_rechecks_the_rails() -> None:
    g = guard("approve")
    first = g.propose(rec(0.9, T0, n=1))[0].command_id
    second = g.propose(rec(0.8, T0 + H, n=2))  # supersedes the first (same parameter)
    assert actions(second) == ["superseded", "proposed"] and second[0].command_id == first
    g.config = replace(g.config, kill_switch=True)  # flipped (a restart with the switch on)
    out = g.decide(decision(second[1].command_id, at=T0 + 2 * H))
    assert actions(out) == ["approved", "refused"] and "kill switch" in out[1].reason


def test_pending_commands_expire() -> None:
    g = guard("approve")
    cid = g.propose(rec())[0].command_id
    out = g.decide(decision(cid, at=T0 + 5 * H))
    assert actions(out) == ["expired", "ignored"]
    assert out[0].timestamp == T0 + 4 * H and out[0].command_id == cid
    g2 = guard("approve")
    g2.propose(rec(0.9, n=1))
    assert actions(g2.propose(rec(0.8, T0 + 5 * H, n=2))) == ["expired", "proposed"]


@pytest.mark.parametrize("mode", ["approve", "auto"])
def test_a_guard_that_may_not_send_only_advises(mode: str) -> None:
    g = guard(mode, send=False)
    out = g.propose(rec())
    assert actions(out) == ["proposed", "advised"] and "replay: never sent" in out[1].reason
    assert actions(g.decide(decision(out[0].command_id))) == ["ignored"]


def test_no_setpoint_and_no_repeat() -> None:
    g = guard("auto")
    assert g.propose(rec(plan="replace_now", load=None)) == []
    assert g.propose(rec(1.0)) == [], "no change to the current value"
    assert g.propose(rec(float("nan"))) == [] and g.propose(rec(float("inf"))) == []
    a = guard("advise")
    assert len(a.propose(rec(0.85, T0, n=1))) == 2
    assert a.propose(rec(0.85, T0 + H, n=2)) == [], "the same proposal again within the period"


def test_audit_is_complete_ordered_and_deterministic() -> None:
    """Every command has its proposal first and an outcome; entry ids are unique and replayable."""

    def scenario() -> list[Any]:
        g = guard("approve", count=1)
        out = g.propose(rec(0.9, T0, n=1))  # pending ...
        out += g.propose(rec(0.8, T0 + H, n=2))  # ... superseded by this one, then approved: sent
        out += g.decide(decision(out[-1].command_id, "approve", T0 + 2 * H))
        out += g.propose(rec(0.7, T0 + 3 * H, n=3))  # refused: rate limit
        out += g.propose(rec(0.75, T0 + 30 * H, n=4))  # pending, then rejected
        out += g.decide(decision(out[-1].command_id, "reject", T0 + 31 * H))
        out += g.propose(rec(0.7, T0 + 32 * H, n=5))  # pending, then expired by the next item
        out += g.propose(rec(0.6, T0 + 40 * H, n=6))  # pending at the end
        return out

    out = scenario()
    entries = [e for e in out if isinstance(e, AuditEntry)]
    by_cmd: dict[str, list[AuditEntry]] = defaultdict(list)
    for e in entries:
        by_cmd[e.command_id].append(e)
    assert [log[-1].action for log in by_cmd.values()] == [
        "superseded", "sent", "refused", "rejected", "expired", "proposed"]
    for cid, log in by_cmd.items():
        assert log[0].action == "proposed" and [e.sequence for e in log] == list(range(1, len(log) + 1)), cid
    assert len({e.entry_id for e in entries}) == len(entries)
    assert [e.entry_id for e in scenario() if isinstance(e, AuditEntry)] == [e.entry_id for e in entries]
    sent = [c for c in out if isinstance(c, Command)]
    assert [c.value for c in sent] == [0.8]


def test_guard_state_pickles() -> None:
    g = guard("approve")
    g.propose(rec())
    back = pickle.loads(pickle.dumps(g))
    assert back.pending.keys() == g.pending.keys() and back.config == g.config


def test_the_wall_clock_decides_not_the_decisions_own_timestamp() -> None:
    """A decision back-dated before the expiry does not revive an expired command."""
    g = guard("approve")
    cid = g.propose(rec())[0].command_id
    out = g.decide(decision(cid, at=T0 + H), now=T0 + 5 * H)
    assert actions(out) == ["expired", "ignored"]
