"""JSON text of a hostile shape (round 36, HOSTILE36).

Nested too deeply for Python's parser: ``json.loads`` raises
RecursionError, not ValueError, on ``[[[[...`` a few thousand deep, and four readers caught
ValueError only.

Before: a ``.twinflow-outputs.json`` of that shape in ``--out`` made every ``twin demo`` and
``twin backtest`` into the folder (``--fresh`` too) end in ``twin: internal error: RecursionError``,
exit 1; a recovery store's cluster record did the same to ``twin run``; and a command decision of
that shape on the decisions topic stopped the flow (the step raised) instead of becoming a dead
letter. Now the manifest is one twinflow does not read as its own (never trusted nor overwritten),
the cluster record is refused in its one line, a decision or audit entry is ``invalid_json``.

Of another shape in an archive's JSON text columns (an option without ``p_failure``, top features
that are no pairs): ``twin explain`` ended in an internal error; now one line, exit 2.
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


@pytest.mark.parametrize(("top", "options"), [
    ('[["vib.rms", 3.1]]', "[1, 2]"),  # round 34's _made_at: 'int' object has no attribute 'get'
    ('[["vib.rms", 3.1]]', '[{"plan": "derate"}]'),  # KeyError: 'p_failure'
    ('[["vib.rms", 3.1]]', '"x"'),
    ('[1, 2]', '[]'),  # the top features: 'int' object is not subscriptable, --json too
])
def test_explain_of_archived_json_text_of_another_shape_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], top: str, options: str) -> None:
    """Round 36: JSON text columns of another writer (or edited) ended ``twin explain`` in ``twin:
    internal error``, exit 1; now one line naming the archive and the alert, exit 2, and ``--json``
    prints them as they are."""
    import json

    from flows.cli.main import main
    from flows.dataflow.sinks.archive import write_rows
    from tests.flows.archive_fixtures import alert_rows

    archive, run_id = tmp_path / "archive", "20260101T000000-aaaaaaaa"
    alerts = [{**r, "started_at": r["timestamp"], "top_features": top} for r in alert_rows()]
    write_rows(archive, "alerts", alerts, f"part-{run_id}-w0-000000", run_id)
    rec = {"recommendation_id": "r1", "alert_id": "a1", "asset_id": "pump-000", "date": "2026-01-01",
           "timestamp": alerts[0]["timestamp"], "explanation": "replace", "expected_saving": 1.0,
           "currency": "EUR", "chosen": '{"plan": "as_is"}', "options": options}
    write_rows(archive, "recommendations", [rec], f"part-{run_id}-w0-000000", run_id)
    if top == '[1, 2]':  # the lineage document itself: the pairs that are pairs
        assert main(["explain", "a1", "--archive", str(archive)]) == 0
        assert "top features of the raising window" in capsys.readouterr().out
    else:
        assert main(["explain", "a1", "--archive", str(archive)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"twin: error: the archive {archive} holds rows of alert 'a1' whose JSON text")
        assert err.endswith("--json prints them as they are)\n") and len(err.splitlines()) == 1
    assert main(["explain", "a1", "--archive", str(archive), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["recommendations"][0]["options"] == (json.loads(options) or [])


def test_a_manifest_over_its_size_bound_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 36: every demo and backtest read the manifest whole (a planted one of some GB: as much
    memory, several times over); one over ``MAX_BYTES`` is left alone as one not twinflow's."""
    from flows.app import out_manifest

    out = _demo_folder(tmp_path / "demo")
    size = (out / MANIFEST).stat().st_size
    monkeypatch.setattr(out_manifest, "MAX_BYTES", size)
    assert set(Manifest.read(out).files or {}) == {"demo.png"}  # at the bound: read
    monkeypatch.setattr(out_manifest, "MAX_BYTES", size - 1)
    assert Manifest.read(out).files is None
    before = (out / MANIFEST).read_bytes()
    record_written(out, [out / "demo.png"])
    assert (out / MANIFEST).read_bytes() == before
