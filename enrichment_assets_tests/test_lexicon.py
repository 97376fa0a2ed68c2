"""The one vocabulary: every language file loads and every term compiles."""

from __future__ import annotations

import re

import pytest
import yaml

from enrichment_assets import lexicon


def _terms(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _terms(value)
    elif isinstance(node, list):
        for item in node:
            yield from _terms(item)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("path", lexicon.language_files(), ids=lambda p: p.name)
def test_every_regex_term_compiles(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for term in _terms(data):
        if term.startswith("re:"):
            re.compile(lexicon.term_regex(term))
        assert "\b" not in term, f"{path.name}: a backspace character in {term!r} (use single quotes in YAML)"


def test_languages_are_files_and_a_new_file_is_a_new_language(tmp_path):
    assert {"de", "en"} <= set(lexicon.languages())
    for path in lexicon.language_files():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "nl.yaml").write_text("instructions: ['re:\\\\bnotitie voor de ai\\\\b']\n", encoding="utf-8")
    assert "nl" in lexicon.languages(tmp_path)
    assert lexicon.load_language("nl", tmp_path)["instructions"]
    merged = lexicon.merged(tmp_path)
    assert any("notitie" in t for t in merged["instructions"])


def test_fold_and_umlaut_tolerant_patterns_agree():
    assert lexicon.fold("Größe  Hündin") == "groesse huendin"
    pattern = re.compile(lexicon.umlaut_tolerant("Hündin"), re.IGNORECASE)
    assert pattern.fullmatch("Huendin") and pattern.fullmatch("HÜNDIN")


def test_breed_names_are_unique():
    seen = {}
    for entry in lexicon.data_file("breeds")["breeds"]:
        for name in [entry["english"], *entry.get("names", [])]:
            key = lexicon.fold(name)
            assert seen.setdefault(key, entry["english"]) == entry["english"], name
