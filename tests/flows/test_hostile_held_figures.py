"""``figures/`` swapped for a link while a backtest's report draws its plots (round 40, part
HOSTILE40): the plots after the swap were written, and files of their names replaced, in the folder
the link points to, outside --out (round 39 checked the folder before the run and before the report
only). Now the folder is held open from the check on and every plot is written into it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flows.app import backtest, report_html
from flows.config.pipeline import load_config
from tests.flows.test_scores_file import CONFIG, _fleet_csv


def test_figures_swapped_for_a_link_mid_report_is_never_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "pump-b.png").write_text("keep")  # a file of a plot's name there
    out = tmp_path / "out"
    real = report_html.plot_asset
    drawn: list[str] = []

    def swapping(*args: Any) -> Path:
        png = real(*args)
        drawn.append(png.name)
        if len(drawn) == 1:  # after the first plot: figures/ moved aside, a link put in its place
            os.rename(out / "figures", out / "figures.moved")
            (out / "figures").symlink_to(victim)
        return png

    monkeypatch.setattr(report_html, "plot_asset", swapping)
    (tmp_path / "bt.toml").write_text(CONFIG)
    backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=200)], out, load_config(tmp_path / "bt.toml"),
                          progress=False)
    assert drawn == ["pump-a.png", "pump-b.png", "pump-c.png"]
    assert sorted(os.listdir(victim)) == ["pump-b.png"] and (victim / "pump-b.png").read_text() == "keep"
    assert sorted(os.listdir(out / "figures.moved")) == drawn  # every plot in the folder checked


def test_a_link_put_there_between_the_check_and_the_open_is_refused(tmp_path: Path) -> None:
    from flows.app.out_held import held_folder

    folder = tmp_path / "figures"
    calls: list[int] = []

    def refuse() -> None:
        calls.append(1)
        if len(calls) == 1:  # the check passes, then the link is put there
            folder.symlink_to(tmp_path)
        elif folder.is_symlink():
            msg = "figures is a symbolic link"
            raise ValueError(msg)

    with pytest.raises(ValueError, match="figures is a symbolic link"), held_folder(folder, refuse):
        pass
    assert len(calls) == 2


def test_a_failed_write_in_the_held_folder_names_it_not_proc(tmp_path: Path) -> None:
    from flows.app.out_dir import replace_file
    from flows.app.out_held import held_folder
    from flows.archive.layout import WriteFailed

    def full(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteFailed) as got, held_folder(tmp_path / "figures", lambda: None) as drawn:
        assert str(drawn).startswith("/proc/self/fd/")
        replace_file(drawn / "a.png", full)
    assert str(got.value) == f"cannot write {tmp_path / 'figures' / 'a.png'}: No space left on device"
