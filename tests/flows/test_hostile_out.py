"""Hostile ``--out`` values and ``--fresh`` beside files twinflow may not have written (round 17, CLEAN20).

Before: ``--out /``, ``--out ~`` and ``--out /etc`` were accepted as output folders (a demo wrote
its tables there, ``--fresh`` deleted in them), and ``--fresh`` deleted the named outputs
(``demo.png``, ``report.html``, ``scores.parquet`` ...) of any folder, twinflow's or not. Now
those folders are one line, exit 2, and ``--fresh`` deletes named outputs only when a twinflow
archive sits beside them. The CLI cases use a missing input or a refused folder, so that old code
would fail the test without writing into a system folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from flows.app.backtest import BACKTEST_OUTPUTS
from flows.app.out_dir import prepare_out
from flows.cli.args import UsageError
from flows.cli.main import main
from flows.cli.out_folders import refused_place, writable_dir
from tests.flows.archive_fixtures import small_archive
from tests.flows.test_cli_errors import fails, one_error_line

QUIET = ("--no-progress", "--no-report")


@pytest.mark.parametrize(("path", "what"), [
    ("/", "the file system's root"), ("/etc", "a system folder"), ("/usr", "a system folder"),
    ("/bin", "a system folder"), ("/var", "a system folder"), ("/proc", "a system folder"),
    ("/proc/self", "a system folder"), ("/sys", "a system folder"), ("/sys/kernel", "a system folder"),
    ("/dev", "a system folder"), ("/boot", "a system folder"), ("/lib", "a system folder"),
    ("/lib64", "a system folder"), ("/usr/../etc/", "a system folder"), ("/etc/..", "the file system's root"),
])
def test_system_folders_are_refused(path: str, what: str) -> None:
    assert refused_place(path) == what
    with pytest.raises(UsageError, match=f"--out {path.rstrip('/') or '/'}: refusing {what} "):
        writable_dir("--out", path)


@pytest.mark.parametrize("path", ["/var/lib/twinflow-test-x", "/usr/local/twin-out", "/etc/twinflow/out",
                                  "/tmp/twin-out", "/dev/shm/twin-out"])
def test_subfolders_of_system_folders_are_allowed(path: str) -> None:
    assert refused_place(path) is None


def test_the_home_folder_is_refused_its_subfolders_are_not(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert refused_place(home) == "the home folder"
    assert refused_place(f"{home}/") == "the home folder"
    assert refused_place(home / "demo" / "..") == "the home folder"
    link = tmp_path / "link-to-home"
    link.symlink_to(home)
    assert refused_place(link) == "the home folder"  # a link is judged by where it leads
    with pytest.raises(UsageError, match=r"refusing the home folder .*name a folder of its own, e\.g\. "):
        writable_dir("--out", home)
    assert writable_dir("--out", home / "twin-out") == home / "twin-out"
    assert refused_place(tmp_path) is None


def test_a_link_to_the_root_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to("/")
    assert refused_place(link) == "the file system's root"


@pytest.mark.parametrize("out", ["/", "/etc", "/usr/lib/.."])
def test_cli_refuses_system_folders_in_one_line(tmp_path: Path, out: str) -> None:
    line = fails("backtest", str(tmp_path / "missing.csv"), "--out", out, *QUIET)
    assert line.startswith(f"twin: error: --out {out}: refusing ")
    assert "as an output folder (a run writes its tables there, --fresh deletes in it)" in line


def test_demo_refuses_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert main(["demo", "--assets", "1", "--days", "1", "--out", str(home), "--no-progress", "--fresh"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"twin: error: --out {home}: refusing the home folder ")
    assert not (home / "features").exists() and not (home / "demo.png").exists()


def _outputs_without_archive(out: Path) -> list[Path]:
    made = []
    for name in ("demo.png", "report.html", "scores.parquet", "dead_letters.jsonl", "figures/holiday.png"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("someone else's")
        made.append(out / name)
    return made


def test_fresh_refuses_named_outputs_without_a_twinflow_archive_beside_them(tmp_path: Path) -> None:
    out = tmp_path / "pictures"
    files = _outputs_without_archive(out)
    with pytest.raises(ValueError, match=r"--fresh refused: .* has no twinflow archive beside it "
                                         r"\(.*archive holds no part-\*\.parquet\)"):
        prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert all(p.read_text() == "someone else's" for p in files)  # nothing deleted


def test_fresh_still_deletes_named_outputs_beside_a_twinflow_archive(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    files = _outputs_without_archive(out)
    small_archive(out / "archive")
    prepare_out(out, out / "archive", BACKTEST_OUTPUTS, fresh=True)
    assert [p.name for p in files if p.exists()] == ["demo.png"]  # not a backtest output
    assert not list((out / "archive").rglob("*.parquet"))


def test_fresh_on_a_folder_with_nothing_of_twinflow_s_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "new"
    (out / "notes.txt").parent.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    prepare_out(out, out, ("dead_letters*.jsonl", "demo.png"), fresh=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_demo_fresh_keeps_a_foreign_demo_png_in_one_line(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pictures"
    out.mkdir()
    (out / "demo.png").write_bytes(b"a holiday picture")
    argv = ["demo", "--assets", "1", "--days", "1", "--out", str(out), "--no-progress", "--json", "--fresh"]
    assert main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    png = out / "demo.png"
    assert line.startswith(f"twin: error: --fresh refused: {png} has no twinflow archive beside it")
    assert line.endswith("(nothing was deleted)")
    assert (out / "demo.png").read_bytes() == b"a holiday picture"
    assert sorted(p.name for p in out.iterdir()) == ["demo.png"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can write into /etc")
def test_the_write_probe_is_never_reached_for_a_system_folder() -> None:
    """As root every folder is writable: the refusal comes before the write check's probe file."""
    before = set(os.listdir("/etc"))
    with pytest.raises(UsageError):
        writable_dir("--out", "/etc")
    assert set(os.listdir("/etc")) == before


@pytest.mark.parametrize("inside", ["features", "alerts", "features/date=2026-01-01",
                                    "features/date=2026-01-01/x", "features/../alerts/new"])
def test_an_out_inside_an_archive_table_folder_is_refused(tmp_path: Path, inside: str) -> None:
    """Round 23 (HOSTILE23): ``twin backtest --out ARCHIVE/features`` wrote scores.parquet,
    alerts.parquet and dead_letters.jsonl among the archive's files (every query then warned about
    three foreign files); ``twin demo --out ARCHIVE/alerts`` nested an archive in a table folder."""
    archive = small_archive(tmp_path / "archive")
    csv = tmp_path / "in.csv"
    csv.write_text("timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:00:01,2\n")
    before = sorted(str(p.relative_to(archive)) for p in archive.rglob("*"))
    out = archive / inside
    table = "alerts" if inside.startswith(("alerts", "features/..")) else "features"
    for argv in (["backtest", str(csv), "--out", str(out), *QUIET],
                 ["demo", "--assets", "1", "--days", "0.01", "--out", str(out), "--no-progress"]):
        line = fails(*argv)
        where = f"inside the archive table folder {archive / table} "
        assert line.startswith(f"twin: error: --out {out}: {where}")
    assert sorted(str(p.relative_to(archive)) for p in archive.rglob("*")) == before


def test_a_folder_named_like_a_table_but_without_partitions_is_fine(tmp_path: Path) -> None:
    (tmp_path / "features").mkdir()
    assert writable_dir("--out", tmp_path / "features") == tmp_path / "features"
    assert writable_dir("--out", tmp_path / "alerts" / "x") == tmp_path / "alerts" / "x"


def test_a_backtest_into_a_demo_s_folder_and_a_demo_into_a_backtest_s_are_refused(tmp_path: Path) -> None:
    """Round 23: ``twin backtest --out <a demo's folder>`` replaced the demo's dead_letters.jsonl
    with its own (and wrote a second archive under it); a demo into a backtest's folder the same."""
    csv = tmp_path / "in.csv"
    csv.write_text("timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:00:01,2\n")
    demo = small_archive(tmp_path / "demo")
    (demo / "dead_letters.jsonl").write_text('{"reason": "the demo\'s"}\n')
    line = fails("backtest", str(csv), "--out", str(demo), *QUIET)
    assert line == (f"twin: error: --out {demo} holds an archive's tables (features, alerts: a `twin demo` "
                    f"or `twin run` archive): a backtest writes its own archive to {demo / 'archive'} and "
                    f"replaces {demo / 'dead_letters.jsonl'}; name a folder of its own")
    assert (demo / "dead_letters.jsonl").read_text() == '{"reason": "the demo\'s"}\n'
    assert not (demo / "archive").exists() and not (demo / "scores.parquet").exists()
    bt = tmp_path / "bt"
    small_archive(bt / "archive")
    (bt / "scores.parquet").write_bytes(b"x")
    line = fails("demo", "--assets", "1", "--days", "0.01", "--out", str(bt), "--no-progress")
    assert line.startswith(f"twin: error: --out {bt} holds a backtest's outputs ({bt / 'archive'}, "
                           "scores.parquet)")
    assert not (bt / "features").exists()


def test_a_table_folder_that_is_a_file_is_refused_before_the_run_writes_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 24 (HOSTILE24): on main a demo into an archive whose ``twin_state`` was a regular file
    ran, wrote its other tables' files into the earlier run's archive, then failed at that table's
    first write (``Not a directory``): a half-written run mixed into the archive."""
    out = small_archive(tmp_path / "a")
    (out / "twin_state").write_text("x")
    before = sorted(out.rglob("*.parquet"))
    assert main(["demo", "--assets", "1", "--days", "0.2", "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "twin: error:" in line]
    assert len(err) == 1
    assert err[-1].endswith(f"cannot write the archive: its table folder {out / 'twin_state'} is not a "
                            f"folder (move it aside: `twin archive check --archive {out} --repair`)")
    assert sorted(out.rglob("*.parquet")) == before


@pytest.mark.parametrize("argv", [["demo", "--assets", "1", "--days", "0.2", "--no-progress"],
                                  ["run", "--brokers", "127.0.0.1:9", "--connect-timeout", "1"]])
def test_a_date_folder_that_is_a_file_is_refused_before_the_run_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """Round 26: a ``date=`` entry of a table folder that is a regular file was found at that day's
    first write: `twin demo` failed mid-way, its other tables' files already in the archive, and
    `twin run` only once the brokers answered and the rows came. Now one line, exit 2, at start,
    where the table folder that is a file is refused (`twin run`: before asking the brokers)."""
    out = small_archive(tmp_path / "a")
    stray = out / "twin_state" / "date=2026-01-01"  # a day the run writes
    stray.parent.mkdir()
    stray.write_text("x")
    before = sorted(out.rglob("*"))
    flag = "--out" if argv[0] == "demo" else "--archive"
    assert main([*argv, flag, str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "twin: error:" in line]
    assert err == [f"twin: error: cannot write the archive: its date folder {stray} is not a folder (move it "
                   f"aside: `twin archive check --archive {out} --repair`)"]
    assert sorted(out.rglob("*")) == before


@pytest.mark.parametrize("argv", [["demo", "--assets", "1", "--days", "0.2", "--no-progress"],
                                  ["run", "--brokers", "127.0.0.1:9", "--connect-timeout", "1"]])
def test_a_date_folder_that_is_a_link_is_refused_before_the_run_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """Round 47 (HOSTILE47): a ``date=`` entry that is a symbolic link to a folder passed the start's
    check (``is_dir`` follows links), and the day's first write refused it (never written through):
    `twin demo` failed mid-way with its other tables' files already in the archive ("keeps its
    archive (2 files of this run ...)"), `twin run` once the rows came. Now refused at start, as a
    ``date=`` entry that is a file (round 26), and `twin archive check --repair` moves the link aside."""
    out = small_archive(tmp_path / "a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = out / "twin_state" / "date=2026-01-01"  # a day the run writes
    link.parent.mkdir()
    link.symlink_to(elsewhere, target_is_directory=True)
    before = sorted(out.rglob("*"))
    flag = "--out" if argv[0] == "demo" else "--archive"
    assert main([*argv, flag, str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "twin: error:" in line]
    assert err == [f"twin: error: cannot write the archive: its date folder {link} is a symbolic link (never "
                   f"written through) (move it aside: `twin archive check --archive {out} --repair`)"]
    assert sorted(out.rglob("*")) == before and list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("name", ["arch 1;x", "two  spaces", "it's"])
def test_the_repair_command_a_refused_table_folder_suggests_names_the_archive_in_one_word(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Round 47 (HOSTILE47): the `twin archive check --archive ... --repair` suggested by the sink's
    table-folder checks showed the archive unquoted: pasted, `--archive arch 1;x` named `arch`, and
    `;x` ran a command of its own (the compaction's and queries' hints quote it since round 43)."""
    out = tmp_path / name
    (out / "twin_state").mkdir(parents=True)
    (out / "twin_state" / "date=2026-01-01").write_text("x")
    (out / "alerts").write_text("x")
    for table in ("twin_state", "alerts"):
        argv = ["run", "--brokers", "127.0.0.1:9", "--connect-timeout", "1", "--archive", str(out)]
        if table == "alerts":
            (out / "twin_state" / "date=2026-01-01").unlink()
        assert main(argv) == 2
        (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "twin: error:" in ln]
        command = line.split("`")[1]  # pasted into bash, each word printed on its own line
        assert command.startswith("twin "), line
        said = subprocess.run(["bash", "-c", "printf '%s\\n' " + command.removeprefix("twin ")],
                              capture_output=True, text=True, check=True).stdout
        assert said.splitlines() == ["archive", "check", "--archive", str(out), "--repair"], line


def test_a_summary_shows_an_out_path_s_control_characters_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 24: ``twin demo`` / ``twin backtest`` echoed ``--out`` raw in their summaries (plot,
    archive, outputs, the "holds data of an earlier run" warning): an escape in the path drove
    the user's terminal. Now it is shown as ``\\x1b``."""
    nab = tmp_path / "nab.csv"
    nab.write_text("timestamp,value\n2026-01-01T00:00:00Z,1.0\n2026-01-01T00:01:00Z,2.0\n")
    runs = [["demo", "--assets", "1", "--days", "0.3", "--no-progress",
             "--out", str(tmp_path / "d\x1b[31mx")],
            ["backtest", str(nab), "--format", "nab", *QUIET, "--out", str(tmp_path / "b\x1b]0;t\x07")]]
    for argv in runs:
        for _ in range(2):  # the second run says that the folder holds an earlier run's data
            assert main(argv) == 0
        got = capsys.readouterr()
        text = got.out + got.err
        assert "\x1b" not in text and "\x07" not in text, text
        shown = "d\\x1b[31mx" if argv[0] == "demo" else "b\\x1b]0;t\\x07"
        # round 35: a demo of the same seed again gets a note (the same rows again), not the warning
        said = "holds the rows of 1 earlier run" if argv[0] == "demo" else "holds data of 1 earlier run"
        assert f"{shown} {said}" in got.err
        assert text.count(shown) >= (4 if argv[0] == "demo" else 2), text


@pytest.mark.parametrize("kind", ["folder", "nothing", "part-named file"])
def test_fresh_refuses_a_symbolic_link_in_a_table_folder_and_deletes_nothing(tmp_path: Path,
                                                                             kind: str) -> None:
    """Round 32 noticed: a link to a folder or to nothing was left in place without a word (while a
    regular foreign file made --fresh refuse), and a link named like a part file was deleted."""
    out = small_archive(tmp_path / "out")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.parquet").write_text("not ours")
    date = sorted((out / "features").glob("date=*"))[0]
    link, target = {"folder": (date / "linked", elsewhere), "nothing": (date / "dangling", tmp_path / "gone"),
                    "part-named file": (date / "part-x-w0-000001.parquet", elsewhere / "keep.parquet")}[kind]
    link.symlink_to(target)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(ValueError, match="--fresh refused: ") as refused:
        prepare_out(out, out, ("demo.png",), fresh=True)
    assert f"{link} is a symbolic link (to {target}); twinflow writes no links" in str(refused.value)
    assert "(nothing was deleted)" in str(refused.value)
    assert sorted(p.name for p in out.rglob("*")) == before and link.is_symlink()
    assert (elsewhere / "keep.parquet").read_text() == "not ours"


@pytest.mark.parametrize("kind", ["demo.png to a file", "figures/ to a folder", "report.html to nothing"])
def test_fresh_refuses_a_symbolic_link_among_the_named_outputs_and_deletes_nothing(tmp_path: Path,
                                                                                  kind: str) -> None:
    """Round 34 (round 33 noticed): beside an archive, ``--fresh`` deleted a link among the named
    outputs (``demo.png -> ~/mine.png``: the link), and went through a ``figures`` link to a folder,
    deleting the user's pictures there, while it refused any link inside the table folders."""
    out = tmp_path / "out"
    small_archive(out / "archive")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.png").write_text("the user's picture")
    link, target = {"demo.png to a file": (out / "demo.png", elsewhere / "mine.png"),
                    "figures/ to a folder": (out / "figures", elsewhere),
                    "report.html to nothing": (out / "report.html", tmp_path / "gone")}[kind]
    link.symlink_to(target)
    (out / "scores.parquet").write_text("an earlier backtest's")
    before = sorted(str(p) for p in out.rglob("*"))
    with pytest.raises(ValueError, match="--fresh refused: ") as refused:
        prepare_out(out, out / "archive", (*BACKTEST_OUTPUTS, "demo.png"), fresh=True)
    line = str(refused.value)
    assert "\n" not in line and line.endswith("(nothing was deleted)"), line
    assert f"{link} is a symbolic link (to {target}); twinflow writes no links" in line
    assert sorted(str(p) for p in out.rglob("*")) == before and link.is_symlink()
    assert (elsewhere / "mine.png").read_text() == "the user's picture"


@pytest.mark.parametrize("name", ["plain folder", "it's", "back\\slash", "esc\x1b[31mred", "nl\nx",
                                  "rtl\u202ex", "nel\x85x", "byte\udcffx", "tab\tx$HOME`id`", "two  spaces",
                                  "esc\x1b  x"])
def test_a_suggested_command_names_the_same_folder_when_pasted(name: str) -> None:
    """Round 39 (HOSTILE39): the demo's ``try:`` hint and the archive's `twin archive check` hints
    showed ``printable(shlex.quote(path))``: for ``esc\\x1b[31mred`` that is ``'esc\\x1b[31mred'``, a
    folder with a backslash and no escape in it. ``shell_word`` gives bash's ``$'...'`` instead: still
    no control character on the terminal, and bash reads it back as the same bytes."""
    import subprocess

    from flows.archive.files import shell_word

    word = shell_word(name)
    assert word.isprintable() and "  " not in word  # round 46: a one-line message folds runs of spaces
    got = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True,
                         env={**os.environ, "LC_ALL": "C.UTF-8"}).stdout
    assert got == os.fsencode(name)
