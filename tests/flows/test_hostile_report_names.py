"""The backtest report's figure names against a hostile (or only international) fleet, round 39
(HOSTILE39). A figure was named after its asset id (and channel) with other characters as ``_``:

1. ``pump.1`` and ``pump_1`` (or ``Pump-1`` and ``pump-1`` on a folder that ignores case) both got
   ``figures/pump_1.png``: the second's plot overwrote the first's and the page showed it twice,
   under both names, saying nothing.
2. An asset id of 80 CJK characters (valid: up to 128 characters) made a 244-byte name + ``.png``
   etc. over the 255 bytes a name may have: ``twin backtest`` ran the whole input and then failed,
   exit 2, with no report.
"""

from __future__ import annotations

import re
from pathlib import Path

from flows.app.report_html import STEM_BYTES, _figure_name
from tests.flows.test_cli_errors import twin
from tests.flows.test_hostile_linked_folders import _waves


def _images(page: str) -> list[str]:
    return re.findall(r"<img src='figures/([^']+)'", page)


def test_assets_whose_names_differ_only_in_replaced_characters_get_their_own_figures(tmp_path: Path) -> None:
    """f313d9d: two images on the page, each named twice (pump_1.png, pump_1_vib_envelope.png)."""
    out = tmp_path / "bt"
    rc, _, err = twin("backtest", str(_waves(tmp_path / "w.parquet", ["pump.1", "pump_1"])),
                      "--out", str(out), "--no-progress")
    assert rc == 0, err
    images = _images((out / "report.html").read_text())
    assert len(images) == 4 and len(set(images)) == 4  # 2 asset plots, 2 waterfalls
    assert {p.name for p in (out / "figures").iterdir()} == set(images)
    assert "pump_1.png" in images and "pump_1_vib_envelope.png" in images  # the first keeps its name


def test_an_asset_id_too_long_for_a_file_name_still_gets_its_report(tmp_path: Path) -> None:
    """f313d9d: `twin: error: cannot write .../figures/泵泵...png: File name too long`, exit 2,
    after the whole run, and no report.html."""
    assets = ["泵" * 80, "泵" * 79 + "机"]
    out = tmp_path / "bt"
    rc, _, err = twin("backtest", str(_waves(tmp_path / "w.parquet", assets)), "--out", str(out),
                      "--no-progress")
    assert rc == 0, err
    images = _images((out / "report.html").read_text())
    assert len(set(images)) == 4
    assert all(len(name.encode()) <= STEM_BYTES + 9 + len("_envelope.png") for name in images)


def test_a_figure_name_is_cut_on_a_character_and_kept_apart_by_a_digest() -> None:
    taken: set[str] = set()
    a, b = _figure_name("é" * 100, ".png", taken), _figure_name("é" * 101, ".png", taken)
    assert a != b and a.startswith("é" * (STEM_BYTES // 2) + "-") and len(a.encode()) <= STEM_BYTES + 13
    assert _figure_name("Pump-1", ".png", taken) == "Pump-1.png"
    assert _figure_name("pump-1", ".png", taken).startswith("pump-1-")  # the same file where case is ignored


def test_the_out_check_counts_the_longest_figure_name(tmp_path: Path) -> None:
    """``FIGURE_TAIL`` is as long as a waterfall's temporary name can be, and ``twin backtest`` checks
    ``--out`` with it: an ``--out`` whose archive fits but whose figures would not is refused before
    the run (f313d9d: checked with the archive's tail only; the run then failed at its report)."""
    from flows.cli.path_limits import ARCHIVE_TAIL, FIGURE_TAIL

    name = _figure_name("泵" * 128 + "_" + "c" * 64, "_envelope.png", set())
    tmp = f"figures/.{Path(name).stem}.tmp-4194304-0123abcd.png"  # replace_file's: a 7-digit pid, 8 hex
    assert len(tmp.encode()) == len(FIGURE_TAIL.encode()) > len(f"archive/{ARCHIVE_TAIL}".encode())
    room = 4095 - len(str(tmp_path)) - 1 - len(FIGURE_TAIL) - 1 + 5  # 5 bytes over with a figure
    out = tmp_path.joinpath(*["d" * 200] * (room // 201), "e" * (room % 201 or 1))
    rc, _, err = twin("backtest", str(_waves(tmp_path / "w.parquet", ["brg-1"], per=6)), "--out", str(out),
                      "--no-progress")
    assert rc == 2 and "the files a run writes there would have paths of" in err, err
    assert not (tmp_path / ("d" * 200)).exists()
