"""A command's result on a full disk (round 28, part HOSTILE28): `twin whatif ... > FILE` (and every
command printing on stdout) is one line naming standard output, exit 2. Main: `twin: error: [Errno
28] No space left on device` alone (or `[Errno 27] File too large`). `twin sql`'s own:
tests/flows/test_hostile_disk.py."""

from __future__ import annotations

import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.test_archive_compact import ROOT, _archive
from tests.flows.test_whatif_archive import _degrading, demo  # noqa: F401 - the fixture

FULL = Path("/dev/full")
NEEDS_FULL = pytest.mark.skipif(not (FULL.exists() and stat.S_ISCHR(FULL.stat().st_mode)),
                                reason="no /dev/full device here")


def _no_room() -> None:
    """In the child: no file may grow (writes fail with EFBIG, as a full disk fails them)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def twin(out: Path, *args: str, limited: bool = False) -> subprocess.CompletedProcess[str]:
    with out.open("w") as stdout:
        return subprocess.run([sys.executable, "-m", "flows.cli.main", *args], stdout=stdout,
                              stderr=subprocess.PIPE, text=True, check=False, timeout=120, cwd=ROOT,
                              preexec_fn=_no_room if limited else None)


def test_a_what_if_result_to_a_file_that_cannot_grow_is_one_line_naming_standard_output(
        demo: Path, tmp_path: Path) -> None:  # noqa: F811
    asset, _when = _degrading(demo)
    for flags in ([], ["--json"]):
        res = twin(tmp_path / "result.txt", "whatif", asset, "--load", "0.8", "--archive", str(demo), *flags,
                   limited=True)
        assert (res.returncode, res.stderr) == (
            2, "twin: error: cannot write the result to standard output: File too large\n")


@NEEDS_FULL
def test_results_to_a_full_device_are_one_line_naming_standard_output(demo: Path, tmp_path: Path) -> None:  # noqa: F811
    asset, _when = _degrading(demo)
    archive = _archive(tmp_path / "a")
    for args in (["whatif", asset, "--archive", str(demo)], ["commands", "list", "--archive", str(demo)],
                 ["archive", "check", "--archive", str(archive)]):
        res = twin(FULL, *args)
        assert (res.returncode, res.stderr) == (
            2, "twin: error: cannot write the result to standard output: No space left on device\n"), args
