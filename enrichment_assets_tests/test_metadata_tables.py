"""Markdown preview tables in asset metadata (``assets._metadata.md_table``)."""

import math

from enrichment_assets.assets._metadata import md_table


def _cells(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()]


def test_columns_are_every_key_in_first_seen_order_and_missing_cells_are_empty():
    rows = [{"external_id": "fido-1", "name": "Fido", "age_months": None},
            {"external_id": "luna-2", "age_months": math.nan, "breed": "Podenco"},
            {"external_id": "rex-3", "name": "Rex", "age_months": 30}]
    table = _cells(md_table(rows).value)
    assert table[0] == ["external_id", "name", "age_months", "breed"]
    assert set(table[1][0]) <= {":", "-"}  # the pipe format's alignment row
    body = {line[0]: line[1:] for line in table[2:]}
    assert body == {"fido-1": ["Fido", "", ""], "luna-2": ["", "", "Podenco"], "rex-3": ["Rex", "30", ""]}


def test_long_cells_are_shortened_to_max_chars_and_no_rows_says_so():
    table = _cells(md_table([{"text": "x" * 500}], max_chars=40).value)
    assert table[2] == ["x" * 39 + "…"]
    assert md_table([]).value == "_no rows_"
