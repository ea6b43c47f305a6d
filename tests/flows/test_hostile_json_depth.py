"""JSON nested too deeply for Python's parser (round 36, HOSTILE36): ``json.loads`` raises
RecursionError, not ValueError, on ``[[[[...`` a few thousand deep, and four readers caught
ValueError only.

Before: a ``.twinflow-outputs.json`` of that shape in ``--out`` made every ``twin demo`` and
``twin backtest`` into the folder (``--fresh`` too) end in ``twin: internal error: RecursionError``,
exit 1; a recovery store's cluster record did the same to ``twin run``; and a command decision of
that shape on the decisions topic stopped the flow (the step raised) instead of becoming a dead
letter. Now the manifest is one twinflow does not read as its own (never trusted nor overwritten),
the cluster record is refused in its one line, a decision or audit entry is ``invalid_json``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.app.out_dir import prepare_out
from flows.app.out_manifest import MANIFEST, Manifest, record_written
from flows.codec.errors import Reject

DEEP = "[" * 100_000 + "]" * 100_000


def _demo_folder(out: Path) -> Path:
    """A folder holding a demo's named output, recorded, beside no archive."""
    out.mkdir()
    (out / "demo.png").write_bytes(b"twinflow's picture")
    record_written(out, [out / "demo.png"])
    return out


@pytest.mark.parametrize("plant", ["deep", "deep_runs", "truncated", "not_utf8", "folder", "fifo", "link"])
def test_a_hostile_manifest_is_neither_trusted_nor_overwritten(tmp_path: Path, plant: str) -> None:
    out = _demo_folder(tmp_path / "demo")
    path = out / MANIFEST
    good = path.read_text()
    path.unlink()
    if plant == "deep":
        path.write_text(DEEP)
    elif plant == "deep_runs":  # twinflow's kind and files, a runs value nested too deeply
        path.write_text(good.rstrip()[:-1] + f', "runs": {{"r": {DEEP}}}}}')
    elif plant == "truncated":
        path.write_text(good[:40])
    elif plant == "not_utf8":
        path.write_bytes(b"\xff\xfe" + good.encode())
    elif plant == "folder":
        path.mkdir()
    elif plant == "fifo":
        os.mkfifo(path)  # never opened: a read would block
    else:
        (tmp_path / "elsewhere.json").write_text(good)
        path.symlink_to(tmp_path / "elsewhere.json")
    before = path.lstat()
    assert Manifest.read(out).files is None
    record_written(out, [out / "demo.png"])  # a run's outputs: the manifest is left as it is
    Manifest.read(out).record_run("20260101T000000-0000aaaa", "abc")
    prepare_out(out, out, ("demo.png",), identity="abc")  # a plain run: no note, no error
    with pytest.raises(ValueError, match=r"--fresh refused: .*demo\.png .*nothing was deleted"):
        prepare_out(out, out, ("demo.png",), fresh=True)  # not vouched for: refused, kept
    after = path.lstat()
    assert (after.st_ino, after.st_mode, after.st_size) == (before.st_ino, before.st_mode, before.st_size)
    assert (out / "demo.png").read_bytes() == b"twinflow's picture"
    if plant == "link":
        assert (tmp_path / "elsewhere.json").read_text() == good


def test_a_demo_into_a_folder_with_a_deeply_nested_manifest_runs(tmp_path: Path) -> None:
    """The command end to end: exit 0 (was 1, ``twin: internal error: RecursionError``)."""
    from tests.flows.test_cli_errors import twin

    out = tmp_path / "demo"
    out.mkdir()
    (out / MANIFEST).write_text(DEEP)
    rc, _, err = twin("demo", "--assets", "1", "--days", "1", "--out", str(out), "--no-progress", "--json")
    assert rc == 0, err
    assert "RecursionError" not in err and (out / MANIFEST).read_text() == DEEP


def test_a_deeply_nested_cluster_record_is_refused_in_one_line(tmp_path: Path) -> None:
    from flows.dataflow.store_cluster import RECORD, RecoveryStoreError, read_record

    store = tmp_path / "store"
    store.mkdir()
    (store / RECORD).write_text(DEEP)
    with pytest.raises(RecoveryStoreError, match="cluster record .* cannot be read") as err:
        read_record(store)
    assert "\n" not in str(err.value)
    assert (store / RECORD).read_text() == DEEP


def test_a_deeply_nested_command_decision_is_a_dead_letter() -> None:
    from flows.codec.command_fields import audit_from_json
    from flows.dataflow.commands import read_command_input
    from flows.dataflow.items import RawRecord

    payload = f'{{"actor": {DEEP}}}'.encode()
    (dead,) = read_command_input(RawRecord("twin.commands.decisions.v1", payload),
                                 datetime(2026, 1, 1, tzinfo=UTC))
    assert (dead.reason, dead.raw) == ("invalid_json", payload)
    with pytest.raises(Reject, match="audit entry is not UTF-8 JSON"):
        audit_from_json(payload)
