"""``twin run -i/--process-id -a/--addresses`` checked in one line, exit 2, before anything is read
or written (round 28, part HOSTILE28). On main: Bytewax's `internal error: RuntimeError: ...
failed to initialize networking: invalid port value` (exit 1) after the recovery store was
initialised, a wait for ever (deaf to SIGTERM) for an address listed twice, `;;` dropped silently
(a cluster of three run as one), `-i 3` without `-a` taken as 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main

A, B = "127.0.0.1:2101", "127.0.0.1:2102"
CASES = [
    (["-i", "0", "-a", f"127.0.0.1:99999;{B}"],
     f"-a/--addresses '127.0.0.1:99999;{B}': address 0 '127.0.0.1:99999' has port '99999', not a number "
     "in 1-65535"),
    (["-i", "0", "-a", f"127.0.0.1;{B}"],
     f"-a/--addresses '127.0.0.1;{B}': address 0 '127.0.0.1' has no port (host:port)"),
    (["-i", "1", "-a", f"{A};:2102"], f"-a/--addresses '{A};:2102': address 1 ':2102' has an empty host"),
    (["-i", "0", "-a", f"{A},{B}"], f"-a/--addresses '{A},{B}': address 0 '{A},{B}' holds a ',' (addresses "
                                     "are separated by ';')"),
    (["-i", "0", "-a", f"{A};;{B}"], f"-a/--addresses '{A};;{B}': address 1 '' is empty"),
    (["-i", "0", "-a", f"{A};{A}"], f"-a/--addresses '{A};{A}': '{A}' is listed twice (addresses 0 and 1): "
                                     "each process needs its own host:port"),
    (["-i", "2", "-a", f"{A};{B}"], "-i 2 is not an index of the 2 addresses in -a (0-1)"),
    (["-i", "3"], "-i 3 without -a/--addresses: a single process is index 0 (give every process's "
                  "host:port in -a, this one's at index -i)"),
]


@pytest.mark.parametrize(("flags", "line"), CASES, ids=[c[1].split(":")[0][:20] + str(i) for i, c in
                                                          enumerate(CASES)])
def test_bad_cluster_flags_are_one_line_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], line: str) -> None:
    archive, store = tmp_path / "archive", tmp_path / "store"
    code = main(["run", "--brokers", "127.0.0.1:1", "--connect-timeout", "1", "--archive", str(archive),
                 "--recovery-dir", str(store), "--exit-at-end", *flags])
    assert (code, capsys.readouterr().err) == (2, f"twin: error: {line}\n")
    assert list(tmp_path.iterdir()) == []
