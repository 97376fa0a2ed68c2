"""The linear sentence splitter and contact-line filter give the answers of the old code.

Issue 9 made ``grounding._sentence_spans`` (and the offline model's former splitter) linear (no copy of
the rest of the text per full stop, terminator runs matched once) and the contact-line
filter linear (e-mail pattern tried once per word, a keyword prefilter). The reference
look-arounds below are the quadratic versions from before the change, kept verbatim as the
specification (run inside the unchanged span loops): on generated texts whose words are shorter than the new look-back
windows, old and new must agree exactly. Issue 8 left one splitter for the whole project:
the offline model uses ``grounding.sentence_spans`` (its own splitter and word lists are
gone), and the splitter's words come from the lexicon. Speed is measured by
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
    words = grounding._splitter_words()
    if word in words.abbreviations or grounding._INITIALISM_RE.match(word):
        return False
    if len(word) == 2 and word[0].isalpha():
        return False
    if re.fullmatch(r"\d{1,2}\.", word):
        next_word = re.match(r"[^\W\d_]+", rest)
        if next_word and next_word.group(0).lower() in words.months:
            return False
        before = text[:word_start].split()
        if before and before[-1].lower().strip("(\"'„") in words.ordinal_context:
            return False
    return True


def _old_grounding_spans(text: str) -> list[tuple[int, int]]:
    # the span loop did not change: run it with the old terminator pattern and look-around
    with mock.patch.object(grounding, "_TERMINATOR_RE", _OLD_TERMINATOR_RE), \
            mock.patch.object(grounding, "_ends_sentence", _old_grounding_ends):
        return grounding._sentence_spans(text)


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


def test_the_offline_model_uses_the_one_splitter() -> None:
    # one splitter for the project (issue 8): the offline model quotes the sentences the
    # rules, the rubric and the instruction filter read
    assert offline.split_sentences is grounding.sentence_spans


@_SETTINGS
@given(texts())
def test_contact_filter_agrees_with_the_old_patterns(text: str) -> None:
    old_contact = re.compile("|".join(f"(?:{p})" for terms in grounding.contact_patterns().values()
                                      for p in terms).replace(
        grounding.contact_patterns()["any"][0], _OLD_EMAIL, 1), re.IGNORECASE | re.MULTILINE)
    for line in [text, *text.split("\n")]:
        expected = bool(old_contact.search(line)) or grounding._has_phone_number(line)
        assert grounding.is_contact_line(line) == expected, line
    assert [m.span() for m in grounding._FINE_SPLIT_RE.finditer(text)] == \
        [m.span() for m in _OLD_FINE_SPLIT_RE.finditer(text)]


def test_contact_prefilter_covers_every_pattern() -> None:
    # every pattern yields keywords, so the prefilter is on; each pattern's own examples
    # contain one of its keywords after folding (dotted/dotless I and long s included)
    for terms in grounding.contact_patterns().values():
        for pattern in terms:
            assert required_keywords(pattern, min_length=1), pattern
    keywords = grounding._contact_filter().keywords
    assert keywords
    for example in ["pls cal me", "PLEASE CONTACT", "maİl me at x@y.org", "ſms 0176 123",
                    "Telefonisch erreichbar", "请联系我们"]:
        assert any(k in fold(example) for k in keywords), example
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
