"""The audit log's two readers (the topic's, the archive's ``audit`` table) judge an entry alike
(round 28, part HOSTILE28): one whose actor holds a control character (which ``--actor`` refuses)
is left out by both, and ``twin commands list`` says so in one warning line with the reason.
Round 26 made the topic's reader drop it unsaid; the archive's kept it, so the two routes could
tell a command's state differently. The topic's route on a real broker:
tests/integration/test_kafka_audit_reader.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli.main import main
from tests.flows.test_command_path import approve, mode, rec, run
from twin_models.records import AuditEntry

EVIL = "twinflow\x1b[31m\u202e"


def tampered_archive(root: Path) -> list[AuditEntry]:
    """An approve-mode archive (proposed, approved, sent) whose `sent` entry's actor holds an escape
    sequence and U+202E, as a planted or rewritten file could: its entries, the `sent` one tampered."""
    got = run([rec(), approve()], mode("approve"), send=True, archive=root)
    assert [e.action for e in got.audit] == ["proposed", "approved", "sent"]
    (path,) = (root / "audit").rglob("*.parquet")
    data = pq.read_table(path)
    actors = [EVIL if a == "sent" else actor for a, actor in zip(data["action"].to_pylist(),
                                                                 data["actor"].to_pylist(), strict=True)]
    i = data.column_names.index("actor")
    pq.write_table(data.set_column(i, data.schema.field(i), pa.array(actors, pa.string())), path)
    return [e if e.action != "sent" else replace(e, actor=EVIL) for e in got.audit]


def test_the_archive_s_reader_leaves_out_an_entry_whose_actor_holds_a_control_character(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Main: the archive's reader kept the tampered `sent` entry (state `sent`, nothing said), where
    the topic's reader leaves it out (state `approved`)."""
    tampered_archive(tmp_path)
    assert main(["commands", "list", "--all", "--json", "--archive", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["state"] for line in out.splitlines()] == ["approved"]
    assert err == (f"twin: warning: 1 entry of the archive's audit table in {tmp_path} left out (not audit "
                   "entries: schema_violation 1; first: actor holds a control or invisible formatting "
                   "character U+001B: 'twinflow\\x1b[31m\\u202e')\n")


def test_the_archive_s_audit_is_folded_as_it_streams_with_the_topic_s_statuses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 39 (DURABLE39): ``twin commands list --archive`` fetched every row, decoded them into a
    list and sorted it (~3.3 KB of memory per entry). Now the rows come in (timestamp, sequence) order
    a few at a time and are folded as they come: the statuses are the ones the sorting fold gives,
    entries stored out of time order (a command's `sent` in a file written before its proposal's)."""
    from flows.app import command_log

    got = run([rec(), approve()], mode("approve"), send=True, archive=tmp_path / "one")
    (path,) = (tmp_path / "one" / "audit").rglob("*.parquet")
    data = pq.read_table(path)
    folder = tmp_path / "many" / "audit" / path.parent.name
    folder.mkdir(parents=True)
    copies = 7
    actions = data["action"].to_pylist()
    for f, action in enumerate(reversed(actions)):  # the last action's file first
        rows = data.filter(pa.array([a == action for a in actions]))
        for k in range(copies):
            ids = {c: pa.array([f"{v}~{k}" for v in rows[c].to_pylist()]) for c in ("entry_id", "command_id")}
            part = rows
            for c, values in ids.items():
                part = part.set_column(part.column_names.index(c), c, values)
            pq.write_table(part, folder / f"part-x-w0-{f:03d}{k:03d}.parquet")
    monkeypatch.setattr(command_log, "FETCH_ROWS", 2)
    fetched: list[int] = []
    real = command_log._archive_entries

    def counted(fetch, names, refused):  # type: ignore[no-untyped-def]
        def fetch_counted(n: int) -> list[tuple[object, ...]]:
            rows = fetch(n)
            fetched.append(len(rows))
            return rows
        return real(fetch_counted, names, refused)

    monkeypatch.setattr(command_log, "_archive_entries", counted)
    known, refused = command_log.read_archive_audit(tmp_path / "many")
    entries = [replace(e, entry_id=f"{e.entry_id}~{k}", command_id=f"{e.command_id}~{k}")
               for k in range(copies) for e in got.audit]
    expected = command_log.statuses(entries)
    assert refused == [] and len(known) == copies
    assert {c: (s.state, s.proposal.entry_id, s.last.entry_id) for c, s in known.items()} == \
        {c: (s.state, s.proposal.entry_id, s.last.entry_id) for c, s in expected.items()}
    assert {s.state for s in known.values()} == {"sent"}
    assert sum(fetched) == copies * len(actions) and max(fetched) == 2  # a few rows at a time
