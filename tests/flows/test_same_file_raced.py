"""Two processes writing the same output file at once (round 42, part HOLD42).

``replace_file`` wrote through a temporary name made of the process id only (``.<stem>.tmp-<pid>``):
two writers whose pids are the same (two containers sharing a volume, each ``twin simulate`` pid 7;
two hosts on one NFS export) shared one temporary file: one cleared the other's, wrote over it, and
renamed a file the other was still writing onto the output (a reader saw a torn or mixed file), the
other's rename then failing (``No such file or directory``). Simulated here by giving both children
the same ``os.getpid()``. Now each write has a name of its own (pid and 8 random hex digits)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

WRITER = """
import os, sys
os.getpid = lambda: 4242  # as in two containers: both processes have the same pid
from flows.cli.out_folders import write_json
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
doc = {"writer": tag, "rows": [tag * 64] * 4000}
print("ready", flush=True)
sys.stdin.readline()
failed = []
for i in range(n):
    try:
        write_json("--write-metadata", path, {**doc, "i": i})
    except ValueError as exc:  # the command's one line: counted, the loop goes on
        failed.append(str(exc))
print(len(failed), failed[:1], flush=True)
"""


def test_two_writers_of_one_file_never_show_a_reader_a_torn_file_nor_fail(tmp_path: Path) -> None:
    """On e838b3a: writes failed (their temporary renamed away by the other) and readers saw torn JSON."""
    out = tmp_path / "assets.json"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(out), tag, "150"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in "ab"]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:  # both start at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    torn, seen = 0, set()
    while any(p.poll() is None for p in procs):
        try:
            text = out.read_text()
        except FileNotFoundError:
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            torn += 1
            continue
        rows = doc["rows"]
        assert len(rows) == 4000 and set(rows) == {doc["writer"] * 64}  # one writer's, whole
        seen.add(doc["writer"])
        time.sleep(0.0005)
    said = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], said
    assert [out_err[0].startswith("0 []") for out_err in said] == [True, True], said  # no write failed
    assert torn == 0
    assert json.loads(out.read_text())["i"] == 149
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets.json"]  # no temporary left
