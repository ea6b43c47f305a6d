"""`twin replay --sep` reads every file with that separator, its count of records included.

Round 49 (HOSTILE49B): the records were read with ``--sep``, but the count for the progress bar
(``count_records``) read each header again with the separator guessed, so a file whose separator
the guess misses (``timestamp;temp,degC;press,bar``: as many commas as semicolons) stopped the
replay with ``has no 'timestamp' column`` before it connected, while `twin backtest --sep ';'`
read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.cli import kafka_commands
from flows.cli.main import main


def test_replay_counts_the_records_with_the_separator_given(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "plant.csv"
    path.write_text("timestamp;temp,degC;press,bar\n2024-01-01T00:00:00;1;2\n2024-01-01T00:01:00;2;3\n")
    seen: dict[str, Any] = {}

    def publish(records: Any, total: int, args: Any) -> int:  # in place of producing to Kafka
        seen["records"], seen["total"] = list(records), total
        return 0

    monkeypatch.setattr(kafka_commands, "_publish", publish)
    assert main(["replay", str(path), "--sep", ";", "--no-progress"]) == 0
    assert seen["total"] == 4
    assert sorted({r.channel for r in seen["records"]}) == ["press,bar", "temp,degC"]
