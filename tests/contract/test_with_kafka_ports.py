"""Round 50 (LEFT50): ``infra/kafka/with-kafka.sh`` takes KAFKA_PORT+1 (the broker's controller)
and KAFKA_PORT+2 (SASL_SSL) besides KAFKA_PORT, and neither its usage text nor README's test section
said so: two suites side by side on KAFKA_PORTs 1 apart collided. Both say it now."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "kafka" / "with-kafka.sh"


def _usage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_PORT": "19620"}  # a port of this round's own range, never bound here
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, check=False,
                          timeout=30, env=env)


def test_the_usage_text_names_the_three_ports() -> None:
    bare = _usage()  # first: on a script that does not know --help, it would start a broker
    assert bare.returncode == 2 and bare.stdout == ""
    assert "P+1 (its controller)" in bare.stderr and "P+2 (SASL_SSL" in bare.stderr, bare.stderr
    helped = _usage("--help")
    assert (helped.returncode, helped.stderr) == (0, bare.stderr)


def test_readme_s_test_section_names_the_three_ports() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("make test   # every test"):readme.index("## Concepts")]
    text = " ".join(section.split())
    assert "infra/kafka/with-kafka.sh" in text
    assert re.search(r"`KAFKA_PORT\+1` \(its controller\) and `KAFKA_PORT\+2` \(SASL_SSL", text), text
