"""The ports tests and benchmarks give the processes they start: outside the range the kernel takes
outgoing connections' local ports from, so no connection made meanwhile can take one (round 44's CI
lost a run's --metrics-port that way)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from benchmarks import free_ports as fp


def _range_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ip_local_port_range"
    path.write_text(text)
    return path


def test_ports_are_distinct_bindable_and_below_the_machines_ephemeral_range() -> None:
    low, _ = fp.ephemeral_range()
    ports = fp.free_ports(8)
    assert len(set(ports)) == 8
    assert all(fp.POOL_START <= p < low for p in ports)
    for p in ports:
        with closing(socket.socket()) as s:
            s.bind(("127.0.0.1", p))


def test_a_range_starting_low_moves_the_pool_above_it(tmp_path: Path) -> None:
    path = _range_file(tmp_path, "1024\t60999\n")
    assert fp.pool(path) == range(61000, 65536)
    assert all(61000 <= p <= 65535 for p in fp.free_ports(3, path=path))


def test_an_unreadable_range_file_means_linuxs_default(tmp_path: Path) -> None:
    assert fp.ephemeral_range(tmp_path / "absent") == (32768, 60999)
    assert fp.ephemeral_range(_range_file(tmp_path, "not numbers")) == (32768, 60999)


def test_a_range_file_naming_no_range_of_ports_means_linuxs_default(tmp_path: Path) -> None:
    """Round 46 (HOSTILE46): ``70000 80000`` made a pool past 65535 (``bind``: OverflowError, not an
    OSError: a traceback), ``60999 32768`` one overlapping the ephemeral range."""
    for text in ("70000 80000", "60999 32768", "0 0", "-1 5"):
        assert fp.ephemeral_range(_range_file(tmp_path, text)) == (32768, 60999), text
    ports = fp.free_ports(2, path=_range_file(tmp_path, "70000 80000"))
    assert len(set(ports)) == 2 and all(fp.POOL_START <= p < 32768 for p in ports)


def test_a_taken_port_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        held = taken.getsockname()[1]
        draws: Iterator[int] = iter([held, held, 25001])
        monkeypatch.setattr(fp._pick, "choice", lambda _pool: next(draws))
        with closing(socket.socket()) as probe:
            try:
                probe.bind(("0.0.0.0", 25001))  # noqa: S104
            except OSError:
                pytest.skip("port 25001 is in use on this machine")
        assert fp.free_ports(1) == [25001]


def test_no_pool_left_falls_back_to_the_kernels_pick(tmp_path: Path) -> None:
    path = _range_file(tmp_path, "1024 65535")
    assert len(fp.pool(path)) == 0
    ports = fp.free_ports(2, path=path)
    assert len(set(ports)) == 2 and all(p > 0 for p in ports)
