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
