"""``twin commands list|approve|reject``: the people's side of the guarded command path (issue 11).

Argument parsing and printing only; :mod:`flows.app.command_log` reads the audit topic and sends
decisions. An unknown, decided or expired id, or a bad argument, is one line and exit 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime

from flows.archive.files import printable
from flows.cli.args import env_default, refuse_empty
from flows.cli.kafka_commands import _add_kafka_args, _kafka_cfg

__all__ = ["COMMAND_COMMANDS", "add_command_parsers"]


def _actor(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= 128 or any(c.isspace() or not c.isprintable() for c in name):
        msg = (f"--actor must be a name of 1..128 printable characters without spaces, "
               f"got {text!r}")
        raise argparse.ArgumentTypeError(msg)
    return name


def _reason(text: str) -> str:
    """The reason goes into the audit log and `twin commands list`'s lines: a character that is
    not printable (a newline forging a line, an escape driving the terminal) is refused."""
    if len(text) > 4096:
        msg = f"--reason must have at most 4096 characters, got {len(text)}"
        raise argparse.ArgumentTypeError(msg)
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        msg = f"--reason holds the non-printable character U+{ord(bad):04X} (write it on one line, in words)"
        raise argparse.ArgumentTypeError(msg)
    return text


def add_command_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``commands`` to the ``twin`` subcommands."""
    p = sub.add_parser(
        "commands", help="list, approve or reject the commands the twins propose (approve mode)",
        description="The guarded command path: `list` shows the pending commands (from the audit "
                    "topic twin.audit.v1; --all: every command and its last entry); `approve ID` / "
                    "`reject ID` send a decision to twin.commands.decisions.v1, which `twin run` "
                    "routes to the asset's guard: it re-checks the expiry, the kill switch and the "
                    "guard rails before it sends the command to twin.commands.v1, and audits it. An "
                    "unknown, decided or expired id: one line, exit 2. Example: twin commands "
                    "approve ID --reason \"planned stop confirmed\" (ID from `twin commands list`)")
    p.add_argument("action", choices=("list", "approve", "reject"))
    p.add_argument("command_id", nargs="?", default=None, help="the command (approve, reject)")
    p.add_argument("--reason", type=_reason, default="", help="why, in words (kept in the audit log)")
    p.add_argument("--actor", type=_actor, default=env_default("ACTOR", None),
                   help="who decides (env TWIN_ACTOR; default: the login name)")
    p.add_argument("--all", action="store_true", help="list: every command, not only the pending ones")
    p.add_argument("--json", action="store_true", help="list: one JSON object per line")
    p.add_argument("--archive", default=None,
                   help="list: read the archive's audit table in this folder instead of the audit "
                        "topic (no Kafka needed; it lags the topic by up to an archive flush)")
    _add_kafka_args(p)


def _cmd_commands(args: argparse.Namespace) -> int:
    from flows.app.command_log import (
        pending,
        read_archive_audit,
        read_audit,
        refused_line,
        send_decision,
        statuses,
    )
    from flows.cli.config_file import check_file
    from twin_models.command_records import DecisionKind
    from twin_models.records import CommandDecision

    if args.action == "list" and args.command_id is not None:
        msg = f"`twin commands list` takes no command id (got {args.command_id!r})"
        raise ValueError(msg)
    if args.action != "list" and args.command_id is None:
        msg = f"`twin commands {args.action}` needs the command id (see `twin commands list`)"
        raise ValueError(msg)
    if args.archive is not None and args.action != "list":
        msg = f"--archive is for `twin commands list` only: {args.action} checks the audit topic"
        raise ValueError(msg)
    now = datetime.now(UTC)
    if args.archive is not None:  # folded as the rows stream (round 39: bounded by the commands)
        refuse_empty("--archive", args.archive)  # round 42: "" read the working folder's audit table
        check_file(args.config)  # no Kafka setting is used, but a typo in --config is still refused
        known, refused = read_archive_audit(args.archive)
        source = f"the archive's audit table in {args.archive}"
    else:
        cfg = _kafka_cfg(args).kafka
        entries, refused = read_audit(cfg)
        known = statuses(entries)
        source = f"the audit topic {cfg.topic('audit')}"
    if refused:  # round 28: the topic's reader left them out unsaid, the archive's kept them
        print(printable(refused_line(refused, source)), file=sys.stderr)
    if args.archive is not None:
        _print_list(known, now, show_all=args.all, as_json=args.json)
        return 0
    if args.action == "list":
        _print_list(known, now, show_all=args.all, as_json=args.json)
        return 0
    proposal = pending(known.get(args.command_id), args.command_id, now)
    actor = _actor(args.actor) if args.actor is not None else _actor(getpass.getuser() or "unknown")
    verb: DecisionKind = "approve" if args.action == "approve" else "reject"
    decision = CommandDecision(proposal.command_id, proposal.asset_id, verb, actor, now, args.reason)
    topic = send_decision(cfg, decision)
    print(f"{verb} of {proposal.command_id} ({proposal.asset_id} {proposal.parameter}={proposal.value:g}) "
          f"sent to {topic} by {actor}; `twin run` re-checks the guard rails and audits the outcome")
    return 0


def _print_list(known: dict, now: datetime, *, show_all: bool, as_json: bool) -> None:  # type: ignore[type-arg]
    rows = []
    for cid, st in known.items():
        state = "expired" if st.state == "pending" and st.expired(now) else st.state
        if not show_all and state != "pending":
            continue
        p = st.proposal
        rows.append({"command_id": cid, "asset_id": p.asset_id, "state": state, "parameter": p.parameter,
                     "value": p.value, "previous_value": p.previous_value,
                     "proposed_at": p.timestamp.isoformat(), "expires_at": p.expires_at.isoformat(),
                     "alert_id": p.alert_id, "reason": st.last.reason if state != "pending" else p.reason})
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    if not rows:
        print("no pending commands" if not show_all else "no commands in the audit log")
        return
    print(f"{'command_id':<21} {'asset_id':<16} {'state':<10} {'change':<24} {'expires_at':<25} reason")
    for r in rows:  # decisions from other Kafka clients may hold any text: escaped for the terminal
        r = {k: printable(v) if isinstance(v, str) else v for k, v in r.items()}
        change = f"{r['parameter']} {r['previous_value']:g}->{r['value']:g}"
        print(f"{r['command_id']:<21} {r['asset_id']:<16} {r['state']:<10} {change:<24} "
              f"{r['expires_at']:<25} {r['reason']}")


COMMAND_COMMANDS = {"commands": _cmd_commands}
