"""The what-if basis read from an archive: a damage checkpoint's JSON-text columns of another shape
are one named error (`twin whatif` prints it in one line, exit 2), never an internal error."""

from __future__ import annotations

import pytest

from flows.app.whatif_archive import _numbers


@pytest.mark.parametrize("text", ["[" * 100_000, "{\"a\": " * 50_000, "not json", "[1, 2]", None])
def test_a_column_not_an_object_of_numbers_is_a_named_value_error(text: str | None) -> None:
    with pytest.raises(ValueError, match=r"of 'pump-1' in the archive: scalars is not a JSON"):
        _numbers("pump-1", "scalars", text)


def test_an_object_of_numbers_is_read_and_nulls_left_out() -> None:
    assert _numbers("pump-1", "prior", '{"a": 1, "b": null, "c": 2.5}') == {"a": 1.0, "c": 2.5}
