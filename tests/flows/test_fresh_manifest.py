"""``twin backtest --out DIR --fresh`` where DIR holds an earlier backtest's outputs but no archive
(round 18, HARDEN21).

Before: refused ("has no twinflow archive beside it"), though every file there was twinflow's.
Now each backtest lists what it wrote in ``DIR/.twinflow-outputs.json`` (size and SHA-256), and
``--fresh`` deletes those files while their bytes are unchanged; a file the manifest does not
list, an edited one, or a link in its place is still refused and nothing is deleted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flows.app.backtest import BACKTEST_OUTPUTS
from flows.app.out_dir import prepare_out
from flows.app.out_manifest import MANIFEST, record_written, unrecognised
from tests.flows.archive_fixtures import small_archive
from tests.flows.test_cli_errors import one_error_line, twin
from tests.flows.test_hostile_inputs import NAB

NAMES = ("scores.parquet", "alerts.parquet", "dead_letters.jsonl", "report.html", "figures/pump.png")


def _earlier_outputs(out: Path, names: tuple[str, ...] = NAMES) -> list[Path]:
    """Outputs as a backtest leaves them (recorded in the manifest), its archive/ already gone."""
    paths = []
    for name in names:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(f"twinflow wrote {name}".encode())
        paths.append(out / name)
    record_written(out, paths)
    return paths


def test_fresh_deletes_an_earlier_run_s_outputs_without_its_archive(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    paths = _earlier_outputs(out)
    (out / "notes.txt").write_text("mine")  # not a named output: stays
    prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert not [p for p in paths if p.exists()]
    assert not (out / "figures").exists() and not (out / MANIFEST).exists()
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_beside_an_archive_the_manifest_narrows_fresh_to_what_it_lists(tmp_path: Path) -> None:
    """With a twinflow archive beside them, --fresh deleted every file its patterns match, a user's
    ``figures/holiday.png`` included; with a manifest, only the files it lists go."""
    out = tmp_path / "bt"
    paths = _earlier_outputs(out)
    small_archive(out / "archive")
    holiday = out / "figures" / "holiday.png"
    holiday.write_bytes(b"a holiday picture")  # matches figures/*.png, never written by twinflow
    prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert not [p for p in paths if p.exists()]
    assert holiday.read_bytes() == b"a holiday picture"
    assert not list((out / "archive").rglob("*.parquet")) and not (out / MANIFEST).exists()


@pytest.mark.parametrize(("change", "why"), [
    ("edit", "its content changed since twinflow wrote it"),
    ("same size", "its content changed since twinflow wrote it"),
    ("foreign", f"{MANIFEST} does not list it"),
    ("link", "is a symbolic link (to"),  # round 34: refused as a link, whatever the manifest says
])
def test_fresh_still_refuses_what_the_manifest_does_not_vouch_for(tmp_path: Path, change: str,
                                                                  why: str) -> None:
    out = tmp_path / "bt"
    paths = _earlier_outputs(out)
    outside = tmp_path / "outside.html"
    outside.write_text("the user's own page")
    odd = out / "report.html"
    if change == "edit":
        odd.write_text("my notes on the report")
    elif change == "same size":
        odd.write_bytes(odd.read_bytes().upper())
    elif change == "foreign":
        odd = out / "figures" / "holiday.png"
        odd.write_bytes(b"a holiday picture")
    else:
        odd.unlink()
        odd.symlink_to(outside)
    before = {p: p.read_bytes() for p in [*paths, odd, out / MANIFEST] if p.exists()}
    with pytest.raises(ValueError, match=r"--fresh refused: ") as err:
        prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert str(odd) in str(err.value) and why in str(err.value)
    assert (change == "link") != ("has no twinflow archive beside it" in str(err.value))
    assert str(err.value).endswith("(nothing was deleted)")
    assert {p: p.read_bytes() for p in before} == before
    assert outside.read_text() == "the user's own page"


def test_a_manifest_that_is_not_twinflow_s_is_neither_trusted_nor_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    out.mkdir()
    (out / MANIFEST).write_text('{"files": {"report.html": {}}}')  # not twinflow's format
    (out / "report.html").write_text("page")
    record_written(out, [out / "report.html"])
    assert (out / MANIFEST).read_text() == '{"files": {"report.html": {}}}'
    assert unrecognised(out, [out / "report.html"]) == (out / "report.html", (
        f"{MANIFEST} is not one twinflow can read as its own (not its JSON, nested too deeply, over 64 MiB, "
        "or not a regular file)"))  # round 36: "does not list it", the manifest not named as the cause
    with pytest.raises(ValueError, match="--fresh refused"):
        prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert (out / "report.html").read_text() == "page"


def test_backtest_fresh_after_its_archive_was_removed(tmp_path: Path) -> None:
    """The command end to end: a backtest, its archive/ moved away, a second one with --fresh."""
    data = tmp_path / "good.csv"
    data.write_text(NAB)
    out = tmp_path / "bt"
    rc, _, err = twin("backtest", str(data), "--out", str(out), "--no-progress")
    assert rc == 0, err
    listed = json.loads((out / MANIFEST).read_text())["files"]
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
               and not p.relative_to(out).as_posix().startswith("archive/") and p.name != MANIFEST}
    assert set(listed) == written and "report.html" in listed and "scores.parquet" in listed
    assert any(name.startswith("figures/") for name in listed)
    shutil.move(out / "archive", tmp_path / "kept-archive")
    (out / "figures" / "holiday.png").write_bytes(b"a holiday picture")
    rc, _, err = twin("backtest", str(data), "--out", str(out), "--no-progress", "--no-report", "--fresh")
    assert rc == 2
    assert "figures/holiday.png" in one_error_line(err) and "(nothing was deleted)" in err
    (out / "figures" / "holiday.png").unlink()
    rc, _, err = twin("backtest", str(data), "--out", str(out), "--no-progress", "--no-report", "--fresh")
    assert rc == 0, err
    assert not (out / "report.html").exists() and not (out / "figures").exists()  # the earlier run's
    assert set(json.loads((out / MANIFEST).read_text())["files"]) == {
        "scores.parquet", "alerts.parquet", "dead_letters.jsonl"}


def test_demo_fresh_replaces_its_own_outputs_and_keeps_a_user_s_file(tmp_path: Path) -> None:
    """Round 19: ``twin demo`` writes the manifest too. Before, its ``--fresh`` deleted every file
    its patterns match beside its archive: a user's ``dead_letters-notes.jsonl`` went with them."""
    out = tmp_path / "demo"
    argv = ("demo", "--assets", "1", "--days", "1", "--out", str(out), "--no-progress", "--json",
            "--workers", "2")
    rc, _, err = twin(*argv)
    assert rc == 0, err
    listed = json.loads((out / MANIFEST).read_text())["files"]
    assert set(listed) == {"demo.png", "dead_letters.jsonl", "dead_letters-w1.jsonl"}
    runs = {p.name.split("-w")[0] for p in out.rglob("part-*.parquet")}
    notes = out / "dead_letters-notes.jsonl"  # matches dead_letters*.jsonl, never written by twinflow
    notes.write_text('{"my": "notes"}\n')
    (out / "demo.png").write_bytes(b"stale")  # replaced whatever its bytes: it is twinflow's name
    rc, _, err = twin(*argv, "--fresh")
    assert rc == 0, err
    assert notes.read_text() == '{"my": "notes"}\n'
    assert (out / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = {p.name.split("-w")[0] for p in out.rglob("part-*.parquet")}
    assert again and not again & runs  # the earlier run's archive files went
    listed = json.loads((out / MANIFEST).read_text())["files"]
    assert set(listed) == {"demo.png", "dead_letters.jsonl", "dead_letters-w1.jsonl"}
    assert listed["demo.png"]["size"] == (out / "demo.png").stat().st_size


def test_a_demo_stopped_before_its_first_archive_file_can_be_run_again_fresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 32 (LOOSE32): a demo stopped once its flow had started but before its first archive
    file (its stop line: "keeps its archive (0 files of this run ...), dead_letters.jsonl (this
    run's ...)") left a folder ``--fresh`` refused: "dead_letters.jsonl has no twinflow archive
    beside it ... .twinflow-outputs.json does not list it". The stop now records the run's logs."""
    from flows.app import demo
    from flows.cli.main import main

    def stopped_at_start(flow: object) -> None:  # the flow's sinks opened, then Ctrl-C
        out.mkdir(parents=True, exist_ok=True)
        (out / "dead_letters.jsonl").write_bytes(b"")
        raise KeyboardInterrupt

    out = tmp_path / "demo"
    argv = ["demo", "--assets", "1", "--days", "1", "--no-progress", "--json", "--out", str(out)]
    monkeypatch.setattr(demo, "run_main", stopped_at_start)
    assert main(argv) == 130
    kept = "keeps its archive (0 files of this run, each complete), dead_letters.jsonl"
    assert kept in capsys.readouterr().err
    monkeypatch.undo()
    assert main([*argv, "--fresh"]) == 0, capsys.readouterr().err
    assert "refused" not in capsys.readouterr().err


def test_fresh_goes_on_past_a_file_deleted_meanwhile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 36 (HOSTILE36): two ``--fresh`` runs into one folder at once; the second stopped with
    ``twin: error: [Errno 2] No such file or directory: '.../part-....parquet'``: the file it was to
    delete was gone already, which is what it was to do."""
    from flows.app import out_dir

    out = tmp_path / "bt"
    paths = _earlier_outputs(out)
    small_archive(out / "archive")
    walk = out_dir._walk_tables
    gone = out / "archive" / "features" / "date=2026-01-01" / "part-20260101T000000-bbbb-w0-000000.parquet"

    def walked_before_the_other_deleted(archive: Path) -> out_dir._Walked:
        w = walk(archive)
        return out_dir._Walked(sorted([*w.files, gone]), w.links, w.odd)

    monkeypatch.setattr(out_dir, "_walk_tables", walked_before_the_other_deleted)
    prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert not [p for p in paths if p.exists()] and not list((out / "archive").rglob("*.parquet"))


def test_fresh_stopped_mid_way_says_how_far_it_got_and_a_second_one_finishes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 36 (HOSTILE36): SIGTERM while ``--fresh`` deleted an archive of 30,000 files said
    ``twin: interrupted`` only, the earlier runs' files partly gone."""
    out = tmp_path / "bt"
    paths = _earlier_outputs(out)
    small_archive(out / "archive")
    total = len(list((out / "archive").rglob("*.parquet"))) + len(paths)
    unlink, calls = Path.unlink, []

    def stopped_at_the_second(self: Path, missing_ok: bool = False) -> None:
        calls.append(self)
        if len(calls) == 2:
            raise KeyboardInterrupt
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", stopped_at_the_second)
    with pytest.raises(KeyboardInterrupt) as stop:
        prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    monkeypatch.undo()
    assert stop.value.__notes__ == [f"--fresh stopped after deleting 1 of the {total} files of earlier runs "
                                    f"in {out} (this run wrote nothing): run it again with --fresh to finish"]
    assert not calls[0].exists() and calls[1].exists()
    prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert not [p for p in paths if p.exists()] and not list((out / "archive").rglob("*.parquet"))
