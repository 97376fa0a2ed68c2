"""Stated facts: what a listing's own text states, as label/value entries with their spans.

Pure functions, no Dagster. Shelters put a fact block into the description, one entry per
line or flattened by the scraper into one run::

    Geschlecht: weiblich Kastriert: noch nicht Katzenverträglich: ja Hundeverträglich:
    unbekannt Kinder: ja, wenn älter Mittelmeercheck: negativ

:func:`parse_stated_facts` finds every label (vocabulary ``stated_facts.labels`` of the
lexicon files, any language), takes the text up to the next label, line break, tab, ``|``,
double space or sentence end as the value, and reads the value with the field's value words
(``stated_facts.values``). The rules, from issue 8 and the labelling guide
(``enrichment_assets_tests/data/LABELLING.md``):

* A negator belongs to its own entry: the value ends where the next label begins, so
  "Kastriert: noch nicht Katzenverträglich: ja" is neutered ``no`` and cats ``yes``.
* A label with no value is ``unknown``, never the next label's value.
* "unbekannt", "noch nicht getestet", "k. A.", "-", "not tested yet" are ``unknown``;
  "noch nicht" / "not yet" is ``no``; the longest matching value phrase wins.
* A conditional answer ("ja, wenn älter", "bedingt", "with older kids only") is ``maybe``
  with the condition kept as text (compatibility fields only; a tri-state field with a
  conditional answer is ``unknown`` with the condition).
* Numbers carry units: "14,5 kg" and "14, 5 kg" are 14.5 kg, pounds and inches are
  converted; a "Größe" without "cm" is no height. A year alone is no birth date; a month and
  year give the 1st; an English numeric date whose day and month could be swapped is left
  out. Ages go through :func:`enrichment_assets.domain.normalize.parse_age_text`.
* Labels the vocabulary does not read ("Fellfarbe:", "House trained:") end the previous
  value and state nothing.

A few sentence patterns (``stated_facts.prose``: "wiegt derzeit 26 kg", "Schulterhöhe von
56 cm", "am 25.02.2017 geboren") give facts with ``source="prose"``: weaker evidence, used
only where no block entry states the field.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from enrichment_assets import lexicon
from enrichment_assets.domain.models import StatedFact

__all__ = [
    "COMPATIBILITY_FIELDS",
    "TRISTATE_FIELDS",
    "TEST_FIELDS",
    "MAX_VALUE_CHARS",
    "parse_stated_facts",
    "stated_value",
    "facts_by_field",
]

COMPATIBILITY_FIELDS = ("good_with_cats", "good_with_dogs", "good_with_children", "good_with_animals")
TRISTATE_FIELDS = ("neutered", "vaccinated", "chipped")
TEST_FIELDS = ("mediterranean_test", "leishmaniasis_test", "heartworm_test")
MAX_VALUE_CHARS = 160
"""A value is read from at most this many characters after its label (a fact-block entry
is short; longer runs are prose that follows the block)."""

LB_TO_KG = 0.45359237
INCH_TO_CM = 2.54
_FILLERS = re.compile(
    r"^(?:(?:ca|circa|etwa|ungefähr|ungefaehr|rund|knapp|approx|approximately|about|around|"
    r"est|estimated|roughly|geschätzt|geschaetzt|vermutlich|~)\.?\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class _Label:
    fields: tuple[str, ...]
    language: str | None
    start: int
    end: int        # end of the colon
    label_end: int  # end of the label words


# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------


def _phrase_regex(phrase: str) -> str:
    parts = [lexicon.umlaut_tolerant(re.escape(p)) for p in phrase.split()]
    return r"\s+".join(parts)


@functools.cache
def _label_table() -> tuple[dict[str, tuple[tuple[str, ...], str | None]], re.Pattern[str], re.Pattern[str]]:
    """(folded phrase -> (fields, language), known-label pattern, generic-label pattern)."""
    table: dict[str, tuple[set[str], set[str]]] = {}

    def add(phrase: str, field: str | None, language: str) -> None:
        key = _key(phrase)
        fields, langs = table.setdefault(key, (set(), set()))
        if field:
            fields.add(field)
        langs.add(language)

    for language in lexicon.languages():
        section = lexicon.lookup("stated_facts", language=language) or {}
        for field, phrases in (section.get("labels") or {}).items():
            for phrase in phrases:
                add(phrase, field, language)
        for phrase in [*(section.get("ignored_labels") or []), *(section.get("compound_labels") or [])]:
            add(phrase, None, language)
    originals = sorted({phrase for language in lexicon.languages()
                        for section in [lexicon.lookup("stated_facts", language=language) or {}]
                        for phrase in [*(p for ps in (section.get("labels") or {}).values() for p in ps),
                                       *(section.get("ignored_labels") or []),
                                       *(section.get("compound_labels") or [])]},
                       key=len, reverse=True)
    alternation = "|".join(_phrase_regex(p) for p in originals)
    joiner = r"\s*(?:&|\+|/|,|\bund\b|\band\b|\bor\b|\boder\b)\s*"
    known = re.compile(
        rf"(?<![^\W\d_])(?P<label>(?:{alternation})(?:{joiner}(?:{alternation}))*)\s*[:：]",
        re.IGNORECASE)
    generic = re.compile(r"(?<![^\W\d_])(?P<label>[^\W\d_][^\W_]*(?:[-'’][^\W\d_]+)*)\s*[:：](?!//)")
    resolved = {k: (tuple(sorted(f)), next(iter(l)) if len(l) == 1 else None) for k, (f, l) in table.items()}
    return resolved, known, generic


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", lexicon.fold(text)).strip(" .")


@functools.cache
def _values(category: str) -> tuple[tuple[str, str], ...]:
    """(folded phrase, category) pairs of ``stated_facts.values.<category>``, all languages."""
    words = lexicon.lookup("stated_facts", "values", category) or []
    return tuple((_key(w) if _key(w) else lexicon.fold(w), category) for w in words)


@functools.cache
def _value_phrases(categories: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = [pair for c in categories for pair in _values(c)]
    return tuple(sorted(pairs, key=lambda p: len(p[0]), reverse=True))


def _leading(value: str, categories: tuple[str, ...]) -> tuple[str, str] | None:
    """(category, folded rest) of the longest value phrase ``value`` starts with."""
    folded = lexicon.fold(value).strip()
    for phrase, category in _value_phrases(categories):
        if not phrase or not folded.startswith(phrase):
            continue
        rest = folded[len(phrase):]
        if rest and (rest[0].isalnum() and phrase[-1].isalnum()):
            continue  # "m" is not the start of "maennlich"
        return category, rest
    return None


@functools.cache
def _contains_pattern(category: str) -> re.Pattern[str]:
    words = [w for w, _ in _values(category) if w]
    return lexicon.compile_terms(words)


@functools.cache
def _units() -> dict[str, str]:
    out: dict[str, str] = {}
    for language in lexicon.languages():
        for unit, words in (lexicon.lookup("stated_facts", "units", language=language) or {}).items():
            for word in words:
                out[lexicon.fold(word)] = unit
    return out


@functools.cache
def _months() -> dict[str, int]:
    out: dict[str, int] = {}
    for language in lexicon.languages():
        for word, number in (lexicon.lookup("stated_facts", "months", language=language) or {}).items():
            out[lexicon.fold(str(word))] = int(number)
    return out


def _date_order(language: str | None) -> str:
    if not language:
        return "dmy"
    return str(lexicon.lookup("stated_facts", "date_order", language=language) or "dmy")


@functools.cache
def _prose_patterns() -> tuple[tuple[str, str | None, re.Pattern[str]], ...]:
    out = []
    for language in lexicon.languages():
        for field, patterns in (lexicon.lookup("stated_facts", "prose", language=language) or {}).items():
            for pattern in patterns:
                out.append((field, language, re.compile(lexicon.umlaut_tolerant(pattern), re.IGNORECASE)))
    return tuple(out)


@functools.cache
def _neutered_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    return (lexicon.compile_terms(lexicon.lookup("neutered", "no") or []),
            lexicon.compile_terms(lexicon.lookup("neutered", "yes") or []))


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------

_VALUE_END = re.compile(r"\n|\t|\||\s{2,}|\s/\s|\s?·|[•▪►▶●◆♦🔸🔹🐾]|(?<=[!?])\s|(?<=\.)\s+(?=[A-ZÄÖÜ])")
_WORD_BEFORE = re.compile(r"([^\W\d_]+)\.$")
_NUMBER = r"(?P<number>\d+(?:[.,]\s?\d+)?)"
_NUMBER_UNIT = re.compile(rf"{_NUMBER}\s*(?P<unit>[^\W\d_]+\.?|\"|″)?", re.IGNORECASE)
_RANGE = re.compile(r"\d\s*(?:-|–|bis|to)\s*\d")


def _number(text: str) -> float:
    return float(re.sub(r"\s", "", text).replace(",", "."))


def _measure(value: str, field: str, label_words: str) -> str | None:
    text = _FILLERS.sub("", value.strip())
    m = _NUMBER_UNIT.match(text)
    if m is None or _RANGE.match(text):
        return None
    number = _number(m.group("number"))
    unit = _units().get(lexicon.fold((m.group("unit") or "").rstrip(".")))
    if field == "weight_kg":
        if unit == "lb":
            number *= LB_TO_KG
        elif unit not in ("kg", None):
            return None
        if unit is None and not _label_implies_unit(label_words):
            return None
        if not 0.3 <= number <= 120:
            return None
    else:
        if unit == "inch":
            number *= INCH_TO_CM
        elif unit not in ("cm", None):
            return None
        if unit is None and not _label_implies_unit(label_words):
            return None
        if not 5 <= number <= 120:
            return None
    return f"{round(number, 1):g}"


@functools.cache
def _unit_required() -> frozenset[str]:
    words = lexicon.lookup("stated_facts", "unit_required_labels") or []
    return frozenset(_key(w) for w in words)


def _label_implies_unit(label_words: str) -> bool:
    """A bare number is read in the label's usual unit unless the label needs an explicit
    unit ("Größe: 2" is no height; "Weight: 32" in English could be pounds)."""
    return _key(label_words) not in _unit_required()


def _parse_date(value: str, language: str | None) -> date | None:
    text = _FILLERS.sub("", value.strip()).strip()
    folded = lexicon.fold(text)
    try:
        if m := re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})\b", text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.match(r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\b", text):
            return date(int(m[3]), int(m[2]), int(m[1]))
        if m := re.match(r"(\d{1,2})/(\d{1,2})/(\d{4})\b", text):
            a, b, year = int(m[1]), int(m[2]), int(m[3])
            order = _date_order(language)
            if order == "mdy" or (order == "ambiguous" and b > 12 >= a):
                return date(year, a, b)
            if order == "dmy" or a > 12 or a == b:
                return date(year, b, a)
            return None  # 03/04/2021 in English: March 4th or April 3rd
        if m := re.match(r"(\d{1,2})[./](\d{4})\b", text):
            return date(int(m[2]), int(m[1]), 1)
        months = _months()
        if m := re.match(r"(?:(\d{1,2})\.?\s+)?([^\W\d_]+)\.?\s+(\d{4})\b", folded):
            month = months.get(m[2])
            if month:
                return date(int(m[3]), month, int(m[1]) if m[1] else 1)
    except ValueError:
        return None
    return None


def _year_only(value: str) -> str | None:
    """The year of a value that gives only a year ("ca. 2019", "2019 (estimated)")."""
    m = re.match(r"(19[89]\d|20\d\d)\b(?![./-]\d)", _FILLERS.sub("", value.strip()))
    return m.group(1) if m else None


def _age_months(value: str) -> int | None:
    from enrichment_assets.domain.normalize import parse_age_text

    words = value.strip().split()
    for n in range(min(len(words), 7), 0, -1):
        try:
            months, is_class = parse_age_text(" ".join(words[:n]))
        except ValueError:
            continue
        return None if is_class or months is None else months
    return None


def _narrows(rest: str, field: str) -> bool:
    """True when the words after a "yes" narrow it to some animals or children, read the
    way the compatibility reader reads a sentence ("ja, mit Hündinnen", "yes, older
    children"; "Yes (played with several dogs in playgroup)" narrows nothing)."""
    from enrichment_assets.domain import compatibility

    topic = compatibility.TOPIC_OF_FIELD.get(field)
    if topic is None:  # generic animals: only the value words say it
        return bool(_contains_pattern("conditional").search(lexicon.fold(rest)))
    return compatibility.read_text(rest, topic).verdict in ("maybe", "qualified") \
        or compatibility.is_conditional(rest, topic)


def _strip_value(text: str) -> str:
    return text.strip(" \t\r\n,;:.!-–—*•").strip()


def _condition(original: str, phrase_words: int) -> str:
    """The condition words of ``original``: the value without its leading yes phrase."""
    parts = original.split(None, phrase_words)
    rest = parts[phrase_words] if len(parts) > phrase_words else ""
    return _strip_value(rest.lstrip(" ,;:([-–")).rstrip(")")


def _read_value(field: str, raw: str, language: str | None, label_words: str) -> tuple[str, str | None] | None:
    """(value, condition) for one entry, ``None`` when the value says nothing readable."""
    value = _strip_value(raw)
    if not value:
        return ("unknown", None) if field not in ("location", "birth_date", "age_months",
                                                   "height_cm", "weight_kg", "sex") else None
    if field in COMPATIBILITY_FIELDS:
        lead = _leading(value, ("unknown", "no", "yes"))
        if lead is None:
            from enrichment_assets.domain import compatibility

            folded = lexicon.fold(value)
            topic = compatibility.TOPIC_OF_FIELD.get(field)
            if _contains_pattern("confirmations").match(folded):
                return "yes", None  # "Lived with cats"
            if _contains_pattern("conditional").search(folded) or (
                    topic and compatibility.is_conditional(value, topic)):
                return "maybe", value
            # the label names the topic ("Kids: Met kids at an event, did great", "Dogs:
            # Playgroup approved"), so the value is read as a sentence about it
            verdict = compatibility.read_text(f"{value} ({topic})", topic).verdict if topic else "neutral"
            if verdict in ("yes", "no", "unknown"):  # "Met kids at an event, did great"
                return verdict, None
            if verdict in ("maybe", "qualified"):
                return "maybe", value
            return None
        category, rest = lead
        if category != "yes":
            return category, None
        rest_clean = rest.strip(" ,;:.!()-–")
        if not rest_clean:
            return "yes", None
        if re.match(r"\d", rest_clean):  # "Yes, 8 and up", "Yes 10+"
            return "maybe", _condition(value, 1)
        head = " ".join(rest_clean.split()[:3])
        if _contains_pattern("confirmations").search(head):
            return "yes", None
        if re.match(r"[^\s,;:(]+\s+[A-ZÄÖÜ]", value):
            return "yes", None  # "Kinder: ja Sie ist ...": prose after the entry, not a condition
        if _contains_pattern("condition_markers").match(rest_clean) or _narrows(" ".join(rest_clean.split()[:6]), field):
            words = len(lexicon.fold(value)[:len(lexicon.fold(value)) - len(rest)].split())
            return "maybe", _condition(value, max(1, words))
        return "yes", None
    if field in TRISTATE_FIELDS:
        lead = _leading(value, ("unknown", "no", "yes"))
        if lead is not None:
            return lead[0], None
        if _contains_pattern("conditional").search(lexicon.fold(value)):
            return "unknown", value
        return None
    if field in TEST_FIELDS:
        lead = _leading(value, ("unknown", "negative", "positive", "no"))
        if lead is None:
            return None
        return ("unknown" if lead[0] == "no" else lead[0]), None
    if field == "handicap":
        folded = lexicon.fold(value)
        if any(folded == w or folded.startswith(w + " ") for w, _ in _values("none")):
            return "no", None
        lead = _leading(value, ("unknown",))
        if lead is not None and not lead[1].strip():
            return "unknown", None
        return "yes", value
    if field == "sex":
        lead = _leading(value, ("male", "female"))
        return (lead[0], None) if lead else None
    if field in ("height_cm", "weight_kg"):
        measured = _measure(value, field, label_words)
        return (measured, None) if measured else None
    if field == "birth_date":
        when = _parse_date(value, language)
        return (when.isoformat(), None) if when else None
    if field == "age_months":
        months = _age_months(_FILLERS.sub("", value))
        return (str(months), None) if months is not None else None
    if field == "location":
        return value[:120], None
    return None


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------


def _labels(text: str) -> list[_Label]:
    if ":" not in text and "：" not in text:
        return []  # both patterns end at a colon; most descriptions have none (the known-label
        # pattern tries hundreds of phrases at every word: 14% of normalizing a PetFinder listing)
    table, known, generic = _label_table()
    found: list[_Label] = []
    for m in known.finditer(text):
        words = m.group("label")
        fields: set[str] = set()
        langs: set[str | None] = set()
        for part in re.split(r"\s*(?:&|\+|/|,|\bund\b|\band\b|\bor\b|\boder\b)\s*", words, flags=re.IGNORECASE):
            entry = table.get(_key(part))
            if entry is None:
                entry = table.get(_key(words))
            if entry is not None:
                fields.update(entry[0])
                langs.add(entry[1])
        whole = table.get(_key(words))
        if whole is not None:  # "Spayed/Neutered" is one phrase of its own
            fields = set(whole[0])
            langs = {whole[1]}
        language = next(iter(langs)) if len(langs) == 1 else None
        found.append(_Label(tuple(sorted(fields)), language, m.start(), m.end(), m.start() + len(words)))
    taken = [(l.start, l.end) for l in found]
    for m in generic.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue
        found.append(_Label((), None, m.start(), m.end(), m.start() + len(m.group("label"))))
    return sorted(found, key=lambda l: l.start)


def _value_span(text: str, label: _Label, limit: int) -> tuple[int, int]:
    start = label.end
    while start < limit and text[start] in " \t":
        start += 1
    end = min(limit, start + MAX_VALUE_CHARS)
    for cut in _VALUE_END.finditer(text, start, end):
        if cut.group(0) == " " * len(cut.group(0)) and text[cut.start() - 1:cut.start()].isdigit() \
                and _unit_at(text, cut.end()):
            continue  # "Größe: 32  cm": a double space before the unit ends nothing
        if cut.group(0)[:1].isspace() and text[cut.start() - 1:cut.start()] == ".":
            word = _WORD_BEFORE.search(text, max(start, cut.start() - 12), cut.start())
            if word is None or len(word.group(1)) < 3 or _is_abbreviation(word.group(1)):
                continue  # "approx. March", "ca. 45", "St. Albans": no sentence end
        end = cut.start()
        break
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _unit_at(text: str, at: int) -> bool:
    """True when a unit word (``stated_facts.units``) starts at ``at`` and ends there."""
    m = re.match(r"[^\W\d_]+\.?", text[at:at + 20])
    return bool(m) and lexicon.fold(m.group(0).rstrip(".")) in _units()


def _alternatives(text: str, start: int, end: int, limit: int) -> Iterable[tuple[int, int]]:
    """Spans of the other halves of a bilingual value ("Rhyw / Sex: Gwryw / Male"): the text
    after each " / " that ended the value, up to the next end."""
    at = end
    for _ in range(3):
        m = re.match(r"\s/\s", text[at:at + 3])
        if m is None:
            return
        sub_start = at + m.end()
        cut = _VALUE_END.search(text, sub_start, min(limit, sub_start + MAX_VALUE_CHARS))
        sub_end = cut.start() if cut else min(limit, sub_start + MAX_VALUE_CHARS)
        yield sub_start, sub_end
        at = sub_end


@functools.cache
def _abbreviations() -> frozenset[str]:
    from enrichment_assets.domain.grounding import ABBREVIATIONS

    words = {a.rstrip(".").casefold() for terms in ABBREVIATIONS.values() for a in terms}
    return frozenset(words | {"approx", "ca", "est", "circa", "etc", "inkl", "ggf", "evtl"})


def _is_abbreviation(word: str) -> bool:
    return word.casefold() in _abbreviations()


def _age_field(field: str) -> str:
    return "age_months" if field == "age" else field


def parse_stated_facts(text: str, language: str | None = None) -> list[StatedFact]:
    """Every fact ``text`` states, in text order (block entries and prose patterns).

    ``text`` is a cleaned description (``normalize.clean_text``); spans index into it.
    ``language`` (ISO 639-1, the listing's detected language) decides numeric date order
    when a label exists in several languages. A field stated by a block entry is not also
    read from prose. Never raises for odd text: an unreadable value states nothing.
    """
    text = text or ""
    labels = _labels(text)
    facts: list[StatedFact] = []
    block_fields: set[str] = set()
    spans: list[tuple[int, int]] = []
    for i, label in enumerate(labels):
        label_words = text[label.start:label.label_end]
        if not label.fields and not _is_compound(label_words):
            continue
        limit = labels[i + 1].start if i + 1 < len(labels) else len(text)
        v_start, v_end = _value_span(text, label, limit)
        raw = text[v_start:v_end]
        lang = label.language or language
        entry_end = v_end if v_end > v_start else label.end
        produced = False
        if _is_compound(label_words):
            entries = _sub_entries(text, v_start, v_end, lang)
            facts.extend(entries)
            block_fields.update(f.field for f in entries)
            if entries:
                spans.append((label.start, entry_end))
            continue
        for field in (_age_field(f) for f in label.fields):
            read = _read_value(field, raw, lang, label_words)
            if read is None and field == "birth_date" and (year := _year_only(raw)):
                field, read = "birth_year", (year, None)
            if read is None:
                for alt_start, alt_end in _alternatives(text, v_start, v_end, limit):
                    read = _read_value(field, text[alt_start:alt_end], lang, label_words)
                    if read is not None:
                        entry_end = alt_end
                        break
            if read is None:
                continue
            value, condition = read
            facts.append(_fact(field, value, condition, text, label.start, entry_end, "block"))
            block_fields.add(field)
            produced = True
            if field == "sex":
                neutered = _neutered_in(raw)
                if neutered:
                    facts.append(_fact("neutered", neutered, None, text, label.start, entry_end, "block"))
                    block_fields.add("neutered")
        if produced:
            spans.append((label.start, entry_end))
    if "birth_date" in block_fields:  # an exact date beats an age that may be stale
        facts = [f for f in facts if f.field != "age_months"]
    facts.extend(_prose_facts(text, language, block_fields, spans))
    return sorted(facts, key=lambda f: (f.start, f.field))


@functools.cache
def _compound_labels() -> frozenset[str]:
    words = lexicon.lookup("stated_facts", "compound_labels") or []
    return frozenset(_key(w) for w in words)


def _is_compound(label_words: str) -> bool:
    """A label whose value is a list of sub-entries ("Lives with: dogs - yes, cats - no")."""
    return _key(label_words) in _compound_labels()


_SUB_ENTRY = re.compile(r"\s*(?P<key>[^\W\d_][^,;:=\-–]*?)\s*(?:\s[-–]\s|[:=]|\s[-–](?=\d)|[-–]\s)\s*(?P<value>[^,;]*)")


def _sub_entries(text: str, start: int, end: int, language: str | None) -> list[StatedFact]:
    """The compatibility facts of a compound value: comma or semicolon separated
    ``<topic> - <value>`` items whose topic is a compatibility label ("dogs - yes, cats - no,
    children - 14+"). Items that are not such pairs state nothing."""
    table = _label_table()[0]
    out: list[StatedFact] = []
    for item in re.finditer(r"[^,;]+", text[start:end]):
        m = _SUB_ENTRY.fullmatch(item.group(0))
        if m is None:
            continue
        entry = table.get(_key(m.group("key")))
        fields = [f for f in (entry[0] if entry else ()) if f in COMPATIBILITY_FIELDS]
        if not fields:  # "Hunden - ja": a topic word that is no label of its own
            from enrichment_assets.domain import compatibility

            key = lexicon.fold(m.group("key")).strip()
            fields = [f for f, topic in compatibility.TOPIC_OF_FIELD.items()
                      if compatibility.topic_pattern(topic).fullmatch(key)]
        for field in fields:
            read = _read_value(field, m.group("value"), language, m.group("key"))
            if read is not None:
                item_start, item_end = start + item.start(), start + item.end()
                while item_start < item_end and text[item_start].isspace():
                    item_start += 1
                out.append(_fact(field, read[0], read[1], text, item_start, item_end, "block"))
    return out


@functools.cache
def _past_context_pattern() -> re.Pattern[str]:
    return lexicon.compile_terms(lexicon.lookup("units", "past_context") or [])


def _past_context(text: str, at: int) -> bool:
    """A quantity right after past words (``units.past_context``: "kam mit", "arrived at")."""
    before = re.split(r"[.!?\n]\s", text[max(0, at - 40):at])[-1]  # this sentence only
    return bool(_past_context_pattern().search(lexicon.fold(before)))


def _neutered_in(value: str) -> str | None:
    """neutered yes/no named inside another entry's value ("Rüde, kastriert")."""
    no, yes = _neutered_patterns()
    folded = lexicon.fold(value)
    if no.search(folded) or re.search(r"\b(?:nicht|not|un)[\s-]?(?:kastriert|neutered|spayed)", folded):
        return "no"
    if yes.search(folded) or re.search(r"\bkastriert\b|\bsterilisiert\b", folded):
        return "yes"
    return None


def _fact(field: str, value: str, condition: str | None, text: str, start: int, end: int,
          source: str) -> StatedFact:
    span = text[start:end]
    if len(span) > 400:
        end = start + 400
        span = text[start:end]
    return StatedFact(field=field, value=value[:200], condition=(condition or None) and condition[:300],
                      text=span, start=start, end=end, source=source)


def _prose_facts(text: str, language: str | None, block_fields: set[str],
                 block_spans: Sequence[tuple[int, int]]) -> list[StatedFact]:
    out: list[StatedFact] = []
    seen: set[str] = set()
    for field, lang, pattern in _prose_patterns():
        if field in block_fields or field in seen:
            continue
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in block_spans):
                continue
            if field in ("weight_kg", "height_cm") and _past_context(text, m.start()):
                continue  # "kam mit einem Gewicht von ca. 27 kg zu uns": not the weight now
            value: str | None = None
            if field in ("weight_kg", "height_cm"):
                value = _measure(f"{m.group('number')} {m.group('unit')}", field, "")
            elif field == "birth_date":
                when = _parse_date(m.group("date"), lang or language)
                value = when.isoformat() if when else None
            if value is None:
                continue
            out.append(_fact(field, value, None, text, m.start(), m.end(), "prose"))
            seen.add(field)
            break
    return out


# ---------------------------------------------------------------------------------------
# Reading the facts
# ---------------------------------------------------------------------------------------


def facts_by_field(facts: Iterable[StatedFact]) -> dict[str, list[StatedFact]]:
    """Facts grouped by field, in text order."""
    out: dict[str, list[StatedFact]] = {}
    for fact in facts:
        out.setdefault(fact.field, []).append(fact)
    return out


def stated_value(facts: Iterable[StatedFact], field: str) -> StatedFact | None:
    """The fact that decides ``field``: block entries over prose; ``None`` when the field is
    not stated or its block entries disagree (two different values: missing stays
    missing)."""
    found = [f for f in facts if f.field == field]
    block = [f for f in found if f.source == "block"] or found
    values = {f.value for f in block}
    if len(values) != 1:
        return None
    return block[0]


def as_number(fact: StatedFact | None) -> float | None:
    """A numeric fact's value as a float (``None`` for no fact or a non-number)."""
    if fact is None:
        return None
    try:
        number = float(fact.value)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def compact(facts: Sequence[StatedFact]) -> dict[str, Any]:
    """``{field: value}`` (``"maybe (wenn älter)"`` with its condition) of the deciding
    facts, for prompts and the offline model; undecided fields are left out."""
    out: dict[str, Any] = {}
    for field in dict.fromkeys(f.field for f in facts):
        fact = stated_value(facts, field)
        if fact is None:
            continue
        out[field] = f"{fact.value} ({fact.condition})" if fact.condition else fact.value
    return out
