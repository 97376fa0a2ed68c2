"""The linear sentence splitters and contact-line filter give the answers of the old code.

Issue 9 made ``grounding._sentence_spans`` / ``offline.split_sentences`` linear (no copy of
the rest of the text per full stop, terminator runs matched once) and the contact-line
filter linear (e-mail pattern tried once per word, a keyword prefilter). The reference
look-arounds below are the quadratic versions from before the change, kept verbatim as the
specification (run inside the unchanged span loops): on generated texts whose words are shorter than the new look-back
windows, old and new must agree exactly. Speed is measured by
``benchmarks/text_linearity.py``, not here.
"""

from __future__ import annotations

import re
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrichment_assets.domain import grounding
from enrichment_assets.domain.prefilter import fold, required_keywords
from enrichment_assets.llm import offline

# ------------------------------------------------------------------ the old code (reference)

_OLD_TERMINATOR_RE = re.compile(r"[.!?…]+[\"'’”»)\]]*(?=\s)|[。！？]+[”」』)]*|\n+")
_OLD_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_OLD_FINE_SPLIT_RE = re.compile(r"(?<=[.!?;])\s+|\s+-+\s+|\s+(?=\d{1,2}\)\s)|(?<=:\))\s*")
_OLD_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»«)\]]*(?=\s|$)|[。！？]+|\n+")


def _old_grounding_ends(text: str, dot_at: int, end: int, token: str) -> bool:
    rest = text[end:].lstrip()
    if not rest:
        return True
    if rest[0].islower():
        return False
    if not token.startswith("."):
        return True
    word_start = max(text.rfind(" ", 0, dot_at), text.rfind("\n", 0, dot_at)) + 1
    word = text[word_start:dot_at + 1].lstrip("(\"'„“»[").lower()
    if word in grounding._ABBREVIATIONS or grounding._INITIALISM_RE.match(word):
        return False
    if len(word) == 2 and word[0].isalpha():
        return False
    if re.fullmatch(r"\d{1,2}\.", word):
        next_word = re.match(r"[^\W\d_]+", rest)
        if next_word and next_word.group(0).lower() in grounding._MONTHS:
            return False
        before = text[:word_start].split()
        if before and before[-1].lower().strip("(\"'„") in grounding._ORDINAL_CONTEXT:
            return False
    return True


def _old_grounding_spans(text: str) -> list[tuple[int, int]]:
    # the span loop did not change: run it with the old terminator pattern and look-around
    with mock.patch.object(grounding, "_TERMINATOR_RE", _OLD_TERMINATOR_RE), \
            mock.patch.object(grounding, "_ends_sentence", _old_grounding_ends):
        return grounding._sentence_spans(text)


def _old_offline_ends(text: str, sent_start: int, dot: int, after: int) -> bool:
    token_match = re.search(r"(\S+)$", text[sent_start:dot])
    token = token_match.group(1).lstrip(offline._LEADING_PUNCT) if token_match else ""
    lowered = token.lower()
    if lowered in offline.ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isalpha():
        return False
    next_match = re.match(r"\s*(\S+)", text[after:])
    next_word = next_match.group(1) if next_match else ""
    next_clean = next_word.lstrip(offline._LEADING_PUNCT).rstrip(".,;:!?)").lower()
    if lowered in offline.FINAL_ABBREVIATIONS:
        return next_word[:1].isupper()
    if token.isdigit() and (next_clean in offline.MONTH_NAMES or next_clean[:1].isdigit()):
        return False
    if next_clean[:1].isdigit() and len(token) <= 3 and token.isalpha():
        return False
    if next_word[:1].islower() and (len(token) <= 3 or "." in token):
        return False
    return True


def _old_offline_spans(text: str) -> list[tuple[int, int]]:
    with mock.patch.object(offline, "_SENTENCE_END", _OLD_SENTENCE_END), \
            mock.patch.object(offline, "_ends_sentence", _old_offline_ends):
        return offline.split_sentences(text)


# ------------------------------------------------------------------ generated texts

_WORDS = st.sampled_from([
    "Bello", "ist", "ca.", "z.B.", "bzw.", "e.g.", "Dr.", "Nr.", "No.", "etc.", "usw.", "d.h.", "J.",
    "am", "im", "25.", "3.", "September", "Lebensjahr", "jan", "He", "he", "loves", "Kinder", "mail",
    "contact", "Contact:", "call", "me", "pls", "WhatsApp", "Telefon", "tel.", "hubungi", "联系", "微信",
    "x@y.de", "a.b+c@mail.example.org", "@", "0176", "1234567", "+49", "(089)", "12/34", "3)", ":)",
    "-", "–", "…", "!", "?", "...", "。", "„Hallo“", "(gut)", "[1]", "»Hund«", "'s", "İnfo", "ſms",
    "ÄRGER", "über", "13:00", "37,9", "kg.",
])
_SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\n\n", ". ", "! ", "? ", ".\t", "; ",
                               " - ", ".", ""])


@st.composite
def texts(draw) -> str:
    parts = draw(st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=40))
    return "".join(w + s for w, s in parts)


_SETTINGS = settings(max_examples=400, derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(texts())
def test_grounding_splitter_agrees_with_the_old_one(text: str) -> None:
    assert grounding._sentence_spans(text) == _old_grounding_spans(text)


@_SETTINGS
@given(texts())
def test_offline_splitter_agrees_with_the_old_one(text: str) -> None:
    assert offline.split_sentences(text) == _old_offline_spans(text)


@_SETTINGS
@given(texts())
def test_contact_filter_agrees_with_the_old_patterns(text: str) -> None:
    old_contact = re.compile("|".join(f"(?:{p})" for terms in grounding.CONTACT_PATTERNS.values()
                                      for p in terms).replace(
        grounding.CONTACT_PATTERNS["any"][0], _OLD_EMAIL, 1), re.IGNORECASE | re.MULTILINE)
    for line in [text, *text.split("\n")]:
        expected = bool(old_contact.search(line)) or grounding._has_phone_number(line)
        assert grounding.is_contact_line(line) == expected, line
    assert [m.span() for m in grounding._FINE_SPLIT_RE.finditer(text)] == \
        [m.span() for m in _OLD_FINE_SPLIT_RE.finditer(text)]


def test_contact_prefilter_covers_every_pattern() -> None:
    # every pattern yields keywords, so the prefilter is on; each pattern's own examples
    # contain one of its keywords after folding (dotted/dotless I and long s included)
    for terms in grounding.CONTACT_PATTERNS.values():
        for pattern in terms:
            assert required_keywords(pattern, min_length=1), pattern
    assert grounding._CONTACT_KEYWORDS
    for example in ["pls cal me", "PLEASE CONTACT", "maİl me at x@y.org", "ſms 0176 123",
                    "Telefonisch erreichbar", "请联系我们"]:
        assert any(k in fold(example) for k in grounding._CONTACT_KEYWORDS), example
    assert grounding.is_contact_line("kindly ſms us") and grounding.is_contact_line("plz e-maİl")


def test_long_runs_keep_their_meaning() -> None:
    # beyond the look-back windows the answers stay sensible (no split inside a long word,
    # a long run of stops is one terminator, an e-mail after a long local part is found)
    word = "x" * 5000
    assert grounding.split_sentences(f"{word}. Next one.") == [f"{word}.", "Next one."]
    assert grounding.split_sentences("Luna" + "." * 10_000 + " Bello") == ["Luna" + "." * 10_000, "Bello"]
    assert offline.split_sentences("Luna" + "." * 10_000 + " Bello") == [(0, 10_004), (10_005, 10_010)]
    assert grounding.is_contact_line("y" * 100_000 + "@example.org")
    assert not grounding.is_contact_line("y" * 100_000)
