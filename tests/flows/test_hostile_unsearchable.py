"""An output path below a folder this user cannot search (round 45, HOSTILE45): `twin run --archive
/root/x` for a user who is not root. Every case was ``twin: error: [Errno 13] Permission denied: '...'``,
naming no flag (``Path.exists`` raises on EACCES), or, for ``--write-metadata``, "cannot write there
(F is not a folder)" of a folder. We run as root, for whom modes do not apply: each case runs ``twin``
without the capabilities that bypass them (``setpriv``), as root still (this Python lives under /root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TWIN = str(Path(sys.executable).parent / "twin")
NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
          "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []

pytestmark = pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                                reason="root without setpriv: modes cannot be made to apply")

RUN = ("run", "--brokers", "127.0.0.1:1", "--connect-timeout", "1")


@pytest.mark.parametrize(("argv", "flag"), [
    ((*RUN, "--archive", "{L}/a"), "--archive"),
    ((*RUN, "--archive", "{T}/a", "--recovery-dir", "{L}/r"), "--recovery-dir"),
    (("demo", "--assets", "1", "--days", "1", "--no-progress", "--out", "{L}/o"), "--out"),
    (("backtest", "{T}/in.csv", "--out", "{L}/b"), "--out"),
    (("simulate", "--brokers", "127.0.0.1:1", "--connect-timeout", "1", "--write-metadata", "{L}/sub/m.json"),
     "--write-metadata"),
])
def test_an_output_below_a_folder_this_user_cannot_search_is_one_line_naming_its_flag(
        tmp_path: Path, argv: tuple[str, ...], flag: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "in.csv").write_text("timestamp,value\n2024-01-01T00:00:00,1\n")
    locked.chmod(0)
    try:
        args = [a.format(L=locked, T=tmp_path) for a in argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
        done = subprocess.run([*NO_DAC, TWIN, *args], capture_output=True, text=True, timeout=120,
                              check=False, env=env)
    finally:
        locked.chmod(0o755)
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    shown = args[args.index(flag) + 1]
    assert lines[0].startswith(f"twin: error: {flag} {shown}: "), lines[0]
    assert "Permission denied" in lines[0] and "[Errno" not in lines[0] and "not a folder" not in lines[0]
    assert list(locked.iterdir()) == []


def test_a_recovery_folder_in_a_folder_this_user_cannot_write_says_where_its_lock_would_go(
        tmp_path: Path) -> None:
    """The lock file sits beside the recovery folder: in a read-only parent it cannot be made, and the
    line said "its lock file P/.rec.lock cannot be used: Permission denied; remove it" of a file that
    is not there. Now it names the folder that cannot be written."""
    parent = tmp_path / "ro"
    (parent / "rec").mkdir(parents=True)
    lock = ("import sys\nfrom pathlib import Path\nfrom flows.dataflow.recovery_store import lock_store, "
            "RecoveryStoreError\ntry:\n    lock_store(Path(sys.argv[1]))\nexcept RecoveryStoreError as e:\n"
            "    sys.exit(str(e))\n")
    parent.chmod(0o555)
    try:
        done = subprocess.run([*NO_DAC, sys.executable, "-c", lock, str(parent / "rec")], capture_output=True,
                              text=True, timeout=120, check=False)
    finally:
        parent.chmod(0o755)
    assert done.returncode == 1, done.stderr
    line = done.stderr.strip()
    assert line.startswith(f"--recovery-dir {parent / 'rec'}: its lock file {parent / '.rec.lock'} cannot be "
                           f"made in {parent} (Permission denied)"), line
    assert "remove it" not in line and "\n" not in line
    assert sorted(p.name for p in parent.iterdir()) == ["rec"]
