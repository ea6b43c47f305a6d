"""``twin run`` given a folder through ``..`` past a missing one (round 48, part HOSTILE48).

The held folders (:func:`flows.app.out_held.held_folder`) counted as made here every lexical parent
missing before the ``mkdir``: ``new/../keep`` counted ``keep`` (looked at through the missing ``new``)
although it existed. A run refused or failed after that (here: no broker) removed the user's empty
``keep`` (``ARCHIVE/_quarantine`` given as ``ARCHIVE/new/../_quarantine``: the archive's own) and left
``new`` behind.
"""

from __future__ import annotations

from pathlib import Path

from tests.flows.test_cli_errors import NO_BROKER, fails


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_failed_run_keeps_existing_empty_folders_named_through_dotdot(tmp_path: Path) -> None:
    """The recovery folder and the archive (both held, made with their parents)."""
    (tmp_path / "keep").mkdir()
    (tmp_path / "arch").mkdir()
    line = fails("run", *NO_BROKER, "--archive", str(tmp_path / "other" / ".." / "arch"), "--recovery-dir",
                 str(tmp_path / "new" / ".." / "keep"))
    assert "127.0.0.1:19999" in line, line  # past the checks: the broker is not there
    assert _tree(tmp_path) == ["arch", "keep"]  # the base: ["new", "other"], the user's folders removed


def test_a_refused_recovery_folder_in_the_quarantine_named_through_dotdot_removes_nothing(
        tmp_path: Path) -> None:
    arch = tmp_path / "arch"
    (arch / "_quarantine").mkdir(parents=True)
    store = arch / "nonexist" / ".." / "_quarantine"
    line = fails("run", *NO_BROKER, "--archive", str(arch), "--recovery-dir", str(store))
    want = f"twin: error: --recovery-dir {store}: inside the archive's quarantine folder"
    assert line.startswith(want), line
    assert _tree(tmp_path) == ["arch", "arch/_quarantine"]  # the base: arch/nonexist, no _quarantine


def test_a_file_named_through_dotdot_leaves_no_folder_made_on_the_way(tmp_path: Path) -> None:
    """Round 49 (HOSTILE49): ``--archive new/../afile``, a file (not a folder) reached through the
    missing ``new``, passes the argument checks (``new`` is missing, so nothing is seen there); the
    hold made ``new``, then failed to open ``afile`` as a folder (or to make ``afile/sub``) and left
    ``new`` behind."""
    (tmp_path / "afile").write_text("mine\n")
    (tmp_path / "arch").mkdir()
    through = str(tmp_path / "new" / ".." / "afile")
    for argv in (["--archive", through], ["--archive", f"{through}/sub"],  # sub: its making fails
                 ["--archive", str(tmp_path / "arch"), "--recovery-dir", through]):
        line = fails("run", *NO_BROKER, *argv)
        assert "afile" in line, line
        assert _tree(tmp_path) == ["afile", "arch"], argv  # the base: "new" left behind
    assert (tmp_path / "afile").read_text() == "mine\n"
