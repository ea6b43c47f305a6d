"""An output folder its user may write in but not list (mode -wx), round 41 (HOSTILE41).

``twin demo --out D`` said ``twin: error: [Errno 13] Permission denied: 'D'`` (Python's words, from
the open that holds the folder while the demo writes) and ``twin backtest --out D`` wrote its outputs
there, exit 0, unable to list what it wrote among (its left temporary files, ``--fresh``). Both now
say one line naming the flag and what to do, exit 2, before anything is written. Run as uid 65534
(root lists every folder): see test_hostile_user."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.flows.test_hostile_user import NOBODY, PYTHON, _tree, place, twin_as_nobody
from tests.flows.test_scores_file import CONFIG, _fleet_csv

pytestmark = pytest.mark.skipif(PYTHON is None, reason="cannot run this Python as uid 65534 with setpriv")
__all__ = ["place"]  # the fixture, imported for these tests


def _unlisted(place: Path) -> Path:
    out = place / "out"
    out.mkdir()
    (out / "theirs.txt").write_text("kept\n")
    os.chown(out, NOBODY, NOBODY)
    out.chmod(0o311)
    return out


def _python_as_nobody(code: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """``code`` run as uid 65534 with ``folder`` as its argument; ``folder`` made 0755 again after."""
    assert PYTHON is not None
    try:
        return subprocess.run([*PYTHON, "-c", code, str(folder)], capture_output=True, text=True,
                              timeout=60, cwd="/tmp", check=False)
    finally:
        folder.chmod(0o755)


def _said(out: Path) -> str:
    return (f"twin: error: --out {out}: cannot list it (Permission denied): a run lists its output "
            "folder (its own left temporary files, --fresh); make it readable for this user\n")


def test_a_demo_into_an_out_it_cannot_list_is_one_line(place: Path) -> None:
    out = _unlisted(place)
    res = twin_as_nobody("demo", "--assets", "2", "--days", "1", "--no-progress", "--out", str(out))
    out.chmod(0o755)
    assert (res.returncode, res.stderr) == (2, _said(out))
    assert _tree(out) == ["theirs.txt"]


def test_a_backtest_into_an_out_it_cannot_list_is_one_line(place: Path) -> None:
    csv = _fleet_csv(place / "fleet.csv", n=100)
    Path(f"{csv}.toml").write_text(CONFIG)
    out = _unlisted(place)
    res = twin_as_nobody("backtest", str(csv), "--config", f"{csv}.toml", "--out", str(out), "--no-progress")
    out.chmod(0o755)
    assert (res.returncode, res.stderr) == (2, _said(out))
    assert _tree(out) == ["theirs.txt"]


def test_a_held_folder_made_unlistable_since_the_check_is_named(place: Path) -> None:
    """The open that holds the folder (out_held.held_folder) failing for want of read permission:
    a WriteFailed naming the folder, not PermissionError's ``[Errno 13] ...: 'path'``."""
    out = _unlisted(place)
    code = ("import sys\nfrom pathlib import Path\nfrom flows.app.out_held import held_folder\n"
            "try:\n    with held_folder(Path(sys.argv[1]), lambda: None):\n        pass\n"
            "except OSError as exc:\n    print(type(exc).__name__, exc)\n")
    res = _python_as_nobody(code, out)
    assert res.stdout == f"WriteFailed cannot open {out} to write in it: Permission denied\n", res.stderr


def test_a_manifest_update_in_a_folder_made_read_only_warns_of_no_lock(place: Path) -> None:
    """A demo whose --out was made read-only mid-run (``chmod -R a-w``) ended with two lines: the
    archive's write error and, before it, "the output manifest's lock ... was not taken (Permission
    denied); the manifest was updated without it" (it was not: the folder could not be written). The
    lock that cannot be made for want of writing the folder is no warning: the manifest's own write
    fails (and the command says why once)."""
    out = place / "out"
    out.mkdir()
    (out / "a.txt").write_text("a")
    os.chown(out, NOBODY, NOBODY)
    out.chmod(0o555)
    code = ("import sys\nfrom pathlib import Path\nfrom flows.app.out_manifest import record_written\n"
            "out = Path(sys.argv[1])\ntry:\n    record_written(out, [out / 'a.txt'])\n"
            "except OSError as exc:\n    print(type(exc).__name__, exc.strerror)\n")
    res = _python_as_nobody(code, out)
    assert "was not taken" not in res.stderr, res.stderr
    assert res.stdout == f"WriteFailed cannot write {out / '.twinflow-outputs.json'}: Permission denied\n"
    assert _tree(out) == ["a.txt"]
