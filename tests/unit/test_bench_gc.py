"""benchmarks/bench_gc.py (issue 10, round 26): the collections of every Python process a command
starts (a benchmark's ``twin run`` child too), counted per generation, and the command's exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gc.py"

# a parent that collects each generation once, then a child that makes garbage cycles and
# collects twice in full; the parent exits with 3
COMMAND = """
import gc, subprocess, sys
gc.collect(0); gc.collect(1); gc.collect(2)
child = "import gc\\nfor _ in range(1000):\\n    a = []\\n    a.append(a)\\ngc.collect()\\ngc.collect()"
subprocess.run([sys.executable, "-c", child], check=True)
sys.exit(3)
"""


def test_every_python_process_of_the_command_is_counted(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--min-cpu-s", "0", "--out", str(tmp_path), "--",
                           sys.executable, "-c", COMMAND], capture_output=True, text=True, check=False)
    assert done.returncode == 3  # the command's exit code is passed on
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["rc"] == 3 and out["total"]["processes"] == 2
    by_full = sorted(p["generations"][2]["count"] for p in out["per_process"])
    assert by_full[0] >= 1 and by_full[1] >= 2  # the parent's full collection and the child's two
    assert out["total"]["generations"][0]["count"] >= 1 and out["total"]["generations"][1]["count"] >= 1
    assert 0 <= out["total"]["gc_cpu_s"] <= out["total"]["cpu_s"]
    assert len(list((tmp_path / "data").glob("gc-*.json"))) == 2  # one file per process


def _bench_module():  # type: ignore[no-untyped-def]
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_gc", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_process_that_took_no_cpu_tick_is_listed_not_a_crash() -> None:
    """A short child's os.times can read 0 s: its line says "gc n/a" (it was a TypeError, which
    made the command's exit code 1 instead of the command's own on a loaded machine)."""
    gen = {"count": 1, "wall_s": 0.0, "max_wall_s": 0.0, "cpu_s": 0.0, "over_10ms": 0, "over_50ms": 0}
    rec = {"pid": 7, "argv": ["python", "-c", "pass"], "cpu_s": 0.0, "thresholds": [[700, 10, 10]],
           "frozen": 0, "generations": [gen, gen, gen]}
    line = _bench_module().process_line(rec)
    assert line.startswith("pid 7 cpu 0.00s gc n/a g0=1/")
