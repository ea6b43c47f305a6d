"""``twin_models.text``'s "a, b, c and N more" (round 42, TIDY42): one helper for every line that
names the first few of a list, where 13 places built it by hand with their own limits and words."""

from __future__ import annotations

import pytest

from twin_models.text import and_more, counted, first_few


@pytest.mark.parametrize(("items", "want"), [
    ([], ""),
    (["a"], "a"),
    (["a", "b", "c"], "a, b, c"),  # exactly the limit: all named, nothing more
    (["a", "b", "c", "d"], "a, b, c and 1 more"),
    ([f"x{i}" for i in range(100_000)], "x0, x1, x2 and 99997 more"),
])
def test_first_few_names_up_to_the_limit_then_counts_the_rest(items: list[str], want: str) -> None:
    assert first_few(items, 3) == want


def test_first_few_renders_only_the_items_it_shows() -> None:
    shown: list[int] = []

    def show(n: int) -> str:
        shown.append(n)
        return f"<{n}>"

    assert first_few(range(10), 2, sep="; ", show=show) == "<0>; <1> and 8 more"
    assert shown == [0, 1]


def test_first_few_limit_one_and_below() -> None:
    assert first_few(["only"], 1) == "only"
    assert first_few(["a", "b"], 1) == "a and 1 more"
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        first_few(["a"], 0)


@pytest.mark.parametrize(("total", "shown", "noun", "want"), [
    (0, 1, "", ""),
    (1, 1, "", ""),
    (2, 1, "", " and 1 more"),
    (5, 1, "", " and 4 more"),
    (2, 1, "frame", " and 1 more frame"),
    (3, 1, "frame", " and 2 more frames"),
    (3, 3, "frame", ""),
])
def test_and_more_counts_what_a_line_leaves_unnamed(total: int, shown: int, noun: str, want: str) -> None:
    assert and_more(total, shown, noun) == want


@pytest.mark.parametrize(("n", "want"), [(0, "0 assets"), (1, "1 asset"), (2, "2 assets")])
def test_counted_is_plural_unless_one(n: int, want: str) -> None:
    assert counted(n, "asset") == want


@pytest.mark.parametrize(("n", "want"), [(0, "0 entries"), (1, "1 entry"), (3, "3 entries")])
def test_counted_takes_a_noun_s_own_plural(n: int, want: str) -> None:
    """Round 43 (TIDY43): ``entr{'ies' if n != 1 else 'y'}`` by hand in the audit readers' warning."""
    assert counted(n, "entry", "entries") == want
