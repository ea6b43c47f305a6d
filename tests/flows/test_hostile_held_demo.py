"""``twin demo``'s archive (``--out`` itself) and ``followed/`` swapped for a link mid-run (round
40, part HOSTILE40c): both were written by path, so the parts after the swap landed in the folder
the link points to, outside --out. Now each is held open from before its sinks are built (as the
backtest's ``archive/``, HOSTILE40b) and every part goes into the folder the run started with."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flows.cli.main import main

ARGS = ["--assets", "3", "--days", "4", "--seed", "1", "--no-progress", "--json"]


def _swap_at_first_part(monkeypatch: pytest.MonkeyPatch, folder: Path, victim: Path) -> list[str]:
    """Before the first part: ``folder`` renamed to ``<folder>.moved`` and a link to ``victim``
    put at its name. The parts' roots, listed."""
    from flows.dataflow.sinks import archive_files

    real = archive_files.put_files
    roots: list[str] = []

    def swapping(root: Path, table: str, *args: Any) -> None:
        roots.append(str(root))
        if len(roots) == 1:
            os.rename(folder, f"{folder}.moved")
            folder.symlink_to(victim)
        real(root, table, *args)

    monkeypatch.setattr(archive_files, "put_files", swapping)
    return roots


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if not p.is_symlink())


def test_the_demo_s_out_swapped_for_a_link_mid_run_gets_none_of_its_parts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    roots = _swap_at_first_part(monkeypatch, out, victim)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", *ARGS, "--out", str(out)]) == 0
    assert list(victim.rglob("*.parquet")) == []  # before: every part after the swap was here
    assert len(roots) >= 3 and all(r.startswith("/proc/self/fd/") for r in roots)
    tables = {p.relative_to(tmp_path / "out.moved").parts[0] for p in _parts(tmp_path / "out.moved")}
    assert {"features", "twin_state", "alerts"} <= tables


def test_the_demo_s_out_may_be_a_link_when_it_starts(tmp_path: Path) -> None:
    """``--out`` is the user's folder: a link there at the start is followed (the hold is taken
    through it), as before."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "out").symlink_to(real)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", *ARGS, "--out", str(tmp_path / "out")]) == 0
    assert {"features", "twin_state"} <= {p.relative_to(real).parts[0] for p in _parts(real)}


def test_followed_swapped_for_a_link_mid_run_gets_none_of_its_parts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.app import demo_followed
    from flows.dataflow.sinks import archive_files

    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    followed = out / demo_followed.FOLLOWED_DIR
    real = archive_files.put_files
    second: list[str] = []
    real_run_fleet = demo_followed.run_fleet

    def second_pass(*args: Any, **kwargs: Any) -> Any:
        def swapping(root: Path, table: str, *a: Any) -> None:
            second.append(str(root))
            if len(second) == 1:  # the second pass's first part: followed/ moved aside, a link there
                os.rename(followed, f"{followed}.moved")
                followed.symlink_to(victim)
            real(root, table, *a)

        monkeypatch.setattr(archive_files, "put_files", swapping)
        return real_run_fleet(*args, **kwargs)

    monkeypatch.setattr(demo_followed, "run_fleet", second_pass)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", *ARGS, "--out", str(out), "--follow-plans"]) == 0
    assert list(victim.rglob("*.parquet")) == []
    assert len(second) >= 3 and all(r.startswith("/proc/self/fd/") for r in second)
    moved = Path(f"{followed}.moved")
    assert {"features", "twin_state"} <= {p.relative_to(moved).parts[0] for p in _parts(moved)}


def test_an_archive_write_failure_in_the_held_followed_names_it_not_proc(tmp_path: Path) -> None:
    """Run in a process of its own, as users run the command: after a ``cluster_main`` earlier in
    the same process (another test's), Bytewax also prints a failing run's Python traceback to
    ``sys.stderr``, which names the ``/proc`` path the sinks write by (round 39's merge section); a
    CLI process runs one command, so no user sees it, and this test would pass or fail by test order."""
    out = tmp_path / "out"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from flows.app import demo_followed\n"
        "from flows.dataflow.sinks import archive_files\n"
        "from flows.cli.main import main\n"
        f"out, victim = Path({str(out)!r}), Path({str(tmp_path)!r})\n"
        "followed = out / demo_followed.FOLLOWED_DIR\n"
        "real, real_run_fleet = archive_files.put_files, demo_followed.run_fleet\n"
        "def planting(root, table, *a):\n"
        "    assert str(root).startswith('/proc/self/fd/')\n"
        "    if not (followed / table).exists():  # a link planted at the table's folder mid-run\n"
        "        (followed / table).symlink_to(victim)\n"
        "    real(root, table, *a)\n"
        "def second_pass(*args, **kwargs):\n"
        "    archive_files.put_files = planting\n"
        "    return real_run_fleet(*args, **kwargs)\n"
        "demo_followed.run_fleet = second_pass\n"
        f"sys.exit(main(['demo', *{ARGS!r}, '--out', str(out), '--follow-plans']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TWIN_DEBUG": ""})
    err = done.stderr
    assert done.returncode != 0, err
    assert f"the archive's table folder {out / 'followed'}/" in err, err
    assert "/proc/" not in err, err
