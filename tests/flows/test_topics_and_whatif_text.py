"""Two lines a user reads (round 30, USER30): ``twin topics describe``'s table, whose role column
was 13 wide and topic column 40 (longer roles and prefixed names shifted their rows), and ``twin
whatif`` without a plan, whose header said "as now (the rest as now)"."""

from __future__ import annotations

import pytest

from flows.app import topics as topics_module
from flows.app.topics import TOPIC_ROLES, TopicInfo
from flows.app.whatif_text import render
from flows.cli.main import main
from tests.whatif_samples import make_result
from twin_models.records import PlanSegment


def _starts(line: str, cells: list[str]) -> list[int]:
    """Where each of ``cells`` starts in ``line``, searched left to right."""
    at, out = 0, []
    for cell in cells:
        at = line.index(cell, at)
        out.append(at)
        at += len(cell)
    return out


@pytest.mark.parametrize("prefix", ["", "plant-7.", "a-very-long-site-prefix-of-the-plant-north-hall-3."])
def test_the_columns_of_topics_describe_line_up_for_any_role_and_topic_name(
        prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``twin topics describe`` as printed; the broker's answer stands in (``describe_topics``:
    a broker is not this test's subject, the table is)."""
    topics = [TopicInfo(role, f"{prefix}twin.{role}.v1", None if i == 2 else 12 - i, 3 if i % 2 else None,
                        "compact" if role == "state" else "delete") for i, role in enumerate(TOPIC_ROLES)]
    monkeypatch.setattr(topics_module, "describe_topics", lambda cfg: topics)
    assert main(["topics", "describe", "--topic-prefix", prefix, "--brokers", "127.0.0.1:19999"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(topics) + 1
    head = lines[0]
    left = [head.index("role"), head.index("topic"), head.index("cleanup")]
    right = [head.index("partitions") + len("partitions"), head.index("replication") + len("replication")]
    for t, line in zip(topics, lines[1:], strict=True):
        parts = "missing" if t.partitions is None else str(t.partitions)
        repl = str(t.replication or "")
        cells = [t.role, t.name, parts, *([repl] if repl else []), t.cleanup_policy or ""]
        at = dict(zip(("role", "name", "parts", *(["repl"] if repl else []), "cleanup"),
                      _starts(line, cells), strict=True))
        assert [at["role"], at["name"], at["cleanup"]] == left, line
        assert at["parts"] + len(parts) == right[0], line
        if repl:
            assert at["repl"] + len(repl) == right[1], line


def test_whatif_without_a_plan_says_so_plainly() -> None:
    r = make_result()
    text = render(type(r)(**{**{f: getattr(r, f) for f in r.__slots__}, "plan": (PlanSegment(0.0),)}))
    head = text.splitlines()[0]
    assert head.endswith("horizon 30.0 d: no change given (everything as now)"), head
    assert "(the rest as now)" not in text


def test_whatif_with_a_plan_still_names_it_and_the_rest() -> None:
    head = render(make_result()).splitlines()[0]
    assert head.endswith(": load 0.85; from +48.0 h: load 1, speed 25, ambient 30, duty 0.5 "
                         "(the rest as now)")


def test_whatif_with_no_damage_says_it_in_words_without_the_status_code() -> None:
    """Round 48 (USER48): the README's answer, "no damage evidence in this life: no failure expected
    within the horizon", was printed after the status code, "no_damage: no damage evidence ..."."""
    from twin_models.whatif import NO_DAMAGE

    r = make_result()
    text = render(type(r)(**{**{f: getattr(r, f) for f in r.__slots__}, "status": "no_damage",
                             "reason": NO_DAMAGE, "scenario": None, "baseline": None}))
    assert text.splitlines()[1:] == [f"  {NO_DAMAGE}"], text
    unknown = render(make_result("unknown_asset")).splitlines()[1]
    assert unknown == "  unknown_asset: no twin of asset 'pump-009'"
