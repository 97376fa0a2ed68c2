"""The scrape contract's line rules (issue 9): limits checked before parsing, bounded reasons.

Plain pytest over ``domain/contract.py`` and the line reader/parser of ``pipeline/raw.py``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from enrichment_assets.domain import contract
from enrichment_assets.domain.contract import (
    MAX_DEPTH, MAX_DESCRIPTION_CHARS, MAX_LINE_BYTES, MAX_REASON_CHARS, InvalidOrganizationKey,
    LineRejected, ScrapeHeader, cut_long_text, decode_line, find_unstorable, loads_line, nesting_depth_exceeds,
    validate_organization_key,
)
from enrichment_assets.pipeline.raw import file_health, iter_lines, parse_scrape


@pytest.mark.parametrize("key", ["org\n", "org\r", ".hidden", "..", "Org", "a b", "-org", "a/b", "", "ü"])
def test_invalid_organization_keys(key: str) -> None:
    with pytest.raises(InvalidOrganizationKey) as info:
        validate_organization_key(key)
    assert "\n" not in str(info.value)


def test_lines_split_on_newline_only_and_lone_cr_is_data() -> None:
    data = b'{"a": "x\ry"}\r\n\n{"b": 1}\n\xff\n'
    lines = list(iter_lines(io.BytesIO(data)))
    assert [(l.line_no, l.offset, l.data) for l in lines] == [
        (1, 0, b'{"a": "x\ry"}\r'), (2, 14, b""), (3, 15, b'{"b": 1}'), (4, 24, b"\xff")]
    assert list(iter_lines(io.BytesIO(b"no newline at the end"))) [0].data == b"no newline at the end"
    assert list(iter_lines(io.BytesIO(b""))) == []


def test_a_line_over_the_limit_is_counted_not_buffered() -> None:
    big = b"{" + b"x" * (MAX_LINE_BYTES + 10) + b"}\n" + b"{}\n"
    first, second = iter_lines(io.BytesIO(big))
    assert first.data is None and first.size == MAX_LINE_BYTES + 12
    assert len(first.head) == contract.MAX_RAW_CHARS and first.head.startswith(b"{xxx")
    assert second.line_no == 2 and second.data == b"{}" and second.offset == MAX_LINE_BYTES + 13


def test_invalid_utf8_names_its_byte_offset() -> None:
    with pytest.raises(LineRejected, match=r"invalid UTF-8 at byte 3 of the line \(byte 103 of the file\)"):
        decode_line(b'{"a\xc3(": 1}', file_offset=100)


def test_depth_limit_ignores_brackets_inside_strings() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert nesting_depth_exceeds(deep)
    assert not nesting_depth_exceeds("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert not nesting_depth_exceeds(json.dumps({"t": "[" * 5000 + '\\"{' * 100}))
    assert not nesting_depth_exceeds("[" + ",".join(["[1]"] * 5000) + "]")
    with pytest.raises(LineRejected, match=f"deeper than {MAX_DEPTH}"):
        loads_line('{"a": ' + "[" * 300 + "]" * 300 + "}")


@pytest.mark.parametrize("literal,field", [
    ("9" * 4301, "n"), ("1e400", "n"), ("-1e400", "n"), ("Infinity", "n"), ("NaN", "n"),
    ("-Infinity", "n"), (str(2**63), "n"), ("0." + "1" * 40, "n"),
])
def test_numbers_outside_the_range_are_named_by_field(literal: str, field: str) -> None:
    value = loads_line('{"external_id": 1, "nested": [{"n": ' + literal + "}]}")
    problem = find_unstorable(value)
    assert problem is not None and problem.field == "nested[0].n"
    assert len(str(problem)) < 200


def test_numbers_inside_the_range_parse() -> None:
    assert loads_line('{"a": 9223372036854775807, "b": -1.5e300, "c": 1e-400}') == {
        "a": 2**63 - 1, "b": -1.5e300, "c": 0.0}


@pytest.mark.parametrize("line,field", [
    ('{"name": "a\\u0000b"}', "name"),
    ('{"extra": {"k": "\\ud83d"}}', "extra.k"),
    ('{"extra": ["ok", "\\udc00x"]}', "extra[1]"),
    ('{"bad\\u0000key": 1}', "bad\\x00key"),
])
def test_nul_and_lone_surrogates_are_rejected_with_their_field(line: str, field: str) -> None:
    problem = find_unstorable(loads_line(line))
    assert problem is not None and problem.field == field
    assert find_unstorable(loads_line('{"emoji": "\\ud83d\\ude00 \u200f\u200b"}')) is None


def test_long_description_and_extras_are_cut_with_a_note() -> None:
    data, notes = cut_long_text({"external_id": "1", "name": "n", "description": "d" * (MAX_DESCRIPTION_CHARS + 5),
                                 "html": {"body": "h" * 20_000}, "breed": "b" * 600})
    assert len(data["description"]) == MAX_DESCRIPTION_CHARS and len(data["html"]["body"]) == 10_000
    assert data["breed"] == "b" * 600, "declared fields other than description are not cut"
    assert notes == [f"field description cut from {MAX_DESCRIPTION_CHARS + 5:,} to {MAX_DESCRIPTION_CHARS:,} "
                     "characters (scrape contract maximum)",
                     "field html.body cut from 20,000 to 10,000 characters (scrape contract maximum)"]


@pytest.mark.parametrize("header,message", [
    ({"scraped_at": "0001-01-01T00:00:00+14:00"}, "cannot be converted to UTC"),
    ({"scraped_at": "1970-01-01T00:00:00Z"}, "outside"),
    ({"full": "yes"}, "full"),
    ({"ful": True}, "ful"),
    ({"scrape_id": "x" * 201}, "scrape_id"),
])
def test_header_rules(header: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScrapeHeader.model_validate(header)
    assert ScrapeHeader.model_validate({"scraped_at": "2026-11-21T08:00:00"}).scraped_at.year == 2026


def test_parse_reasons_name_file_line_field_and_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "scrape.jsonl"
    huge_id = "i" * 3_000_000
    lines = [
        json.dumps({"__scrape__": {"scrape_id": "s", "full": True}}),
        json.dumps({"external_id": huge_id, "name": "x", "description": "y"}),
        json.dumps({"external_id": "w" * 500, "name": "x", "description": "y"}),
        json.dumps({"external_id": "ok", "name": "x", "description": "y", "weight_kg": 400}),
        json.dumps({"external_id": "ok", "name": "x", "description": "y"}),
        json.dumps({"external_id": "ok", "name": "x", "description": "y"}),
        '{"external_id": "nul", "name": "x", "description": "y\\u0000"}',
        "\x00garbage",
        json.dumps({"__scrape__": {}}),
        '"just a string"',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = parse_scrape(path)
    assert parsed.lines == 10 and parsed.listing_lines == 9 and [a.line_no for a in parsed.accepted] == [5]
    reasons = {r.line_no: r for r in parsed.rejections}
    assert sorted(reasons) == [2, 3, 4, 6, 7, 8, 9, 10]
    for r in parsed.rejections:
        assert r.reason.startswith(f"scrape.jsonl line {r.line_no}") and len(r.reason) <= MAX_REASON_CHARS
        assert len(r.raw) <= contract.MAX_RAW_CHARS + 60 and "\x00" not in r.raw
        assert r.external_id is None or len(r.external_id) <= 200
    assert "more than the 2,097,152 allowed" in reasons[2].reason
    assert "field external_id: String should have at most 200 characters" in reasons[3].reason
    assert "field weight_kg" in reasons[4].reason and reasons[4].field == "weight_kg"
    assert "duplicate within the file" in reasons[6].reason
    assert "field description: contains U+0000" in reasons[7].reason
    assert "only allowed on line 1" in reasons[9].reason
    assert "not a JSON object (the line is a string)" in reasons[10].reason
    assert file_health(parsed)[0] == "quarantined"  # 1 of 9 accepted is below the floor
