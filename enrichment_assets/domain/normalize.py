"""Source harmonization: one validated scrape record -> :class:`NormalizedListing`.

Pure functions, no Dagster. The rules follow the production system's lessons:

* Missing stays missing. An absent or unrecognised age, size, sex, species, neuter or
  vaccination status becomes ``None`` / ``"unknown"``, never a default and never a guess
  (size is not derived from weight, purebred is not assumed from a single breed name).
* ``None`` never becomes the word ``"None"``: values are left out, not stringified.
* Anything that cannot be accepted (a payload that breaks the scrape contract, a birth
  date after the scrape, an age above 400 months, an age text that is not an age) raises
  :class:`NormalizationError`, whose message names organization, external id and field,
  so the stage can keep the rejected row with its reason.

The words the parsers use are the lexicon's (``enrichment_assets/lexicon/<lang>.yaml``,
sections ``normalizer``, ``missing_words``, ``booleans``), so a new source language is a
new file.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from datetime import date, datetime, timezone
from fractions import Fraction
from functools import lru_cache
from typing import Any

import ftfy
from pydantic import ValidationError

from enrichment_assets import lexicon
from enrichment_assets.domain.contract import ScrapeRecord
from enrichment_assets.domain.models import NormalizedListing, StatedFact

__all__ = [
    "MAX_AGE_MONTHS",
    "MIN_LANGUAGE_LETTERS",
    "MIN_LANGUAGE_CONFIDENCE",
    "NormalizationError",
    "normalize_record",
    "clean_text",
    "detect_language",
    "parse_species",
    "parse_breed",
    "parse_age_text",
    "age_from_birth_date",
    "parse_sex",
    "parse_size",
    "tri_state",
    "status_from_text",
    "content_hash",
    "standard_breed",
    "display_name",
]

MAX_AGE_MONTHS = 400
"""Upper bound of ``NormalizedListing.age_months`` (33 years: older than any dog on record)."""

MIN_LANGUAGE_LETTERS = 20
"""Below this many letters :func:`detect_language` answers ``"und"`` (too short to tell)."""

MIN_LANGUAGE_CONFIDENCE = 0.5
"""Detector probability below which :func:`detect_language` answers ``"und"``.

Measured on the 8,132 PetFinder dog descriptions: 99% of texts detected as English have a
probability of at least 0.54; the ones below 0.5 are mostly comma lists of adjectives
("Cute, Adorable, Obedient") that the detector also labels es/lb/jv. Our choice.
"""


class NormalizationError(ValueError):
    """A record the normalizer cannot accept. The message names organization, id and field."""


class UnreadableAge(ValueError):
    """An age text that states no age the parser can read ("approx 3", "many moons")."""


# ---------------------------------------------------------------------------------------
# Vocabulary: the "normalizer", "missing_words" and "booleans" sections of every language
# file of enrichment_assets/lexicon (merged), breed-name particles from breeds.yaml.
# ---------------------------------------------------------------------------------------


def _word_table(*path: str) -> dict[str, str]:
    """``{word: value}`` from a lexicon table written as ``value: [word, ...]``."""
    return {word: value for value, terms in lexicon.mapping(*path).items() for word in terms}


class _Vocabulary:
    """The normalizer's words and patterns, compiled once from the lexicon files."""

    def __init__(self) -> None:
        words = lexicon.words
        self.species = _word_table("normalizer", "species")
        self.species_suffixes = _word_table("normalizer", "species_suffixes")
        self.unknown = lexicon.missing_words()
        self.particles = frozenset(lexicon.data_file("breeds").get("particles") or [])
        mix = sorted(words("normalizer", "mix"), key=len, reverse=True)
        suffixes = "|".join(f"-?{re.escape(w)}" for w in words("normalizer", "mix_suffixes")) or r"(?!x)x"
        self.mix_suffix_re = re.compile(rf"(?<=\w{{3}})(?:{suffixes})$", re.IGNORECASE)
        self.mix_re = re.compile(r"(?<![^\s\-])(?:" + "|".join(re.escape(t) for t in mix) + r")(?![^\s\-])",
                                 re.IGNORECASE)
        self.pure_re = re.compile(
            r"\b(?:" + "|".join(re.escape(t) for t in words("normalizer", "purebred")) + r")\b",
            re.IGNORECASE)
        separators = "".join(rf"|\s+{re.escape(w)}\s+" for w in words("normalizer", "breed_separators"))
        self.breed_split_re = re.compile(rf"\s*(?:,|/|\\|&|\+|;|\s+x\s+{separators})\s*", re.IGNORECASE)
        self.sex = _word_table("normalizer", "sex")
        self.sex_suffixes = _word_table("normalizer", "sex_suffixes")
        self.size = _word_table("normalizer", "size")
        self.units = _word_table("normalizer", "age_units")
        unit_alt = "|".join(re.escape(u) for u in sorted(self.units, key=len, reverse=True))
        self.age_part_re = re.compile(
            r"(?P<num>\d+(?:[.,]\d+)?)(?:\s*(?P<frac>\d)/(?P<den>\d)|\s*(?P<half>½))?"
            rf"\s*(?P<unit>{unit_alt})\.?(?![^\W\d_])",
            re.IGNORECASE,
        )
        self.fillers = sorted(words("normalizer", "age_fillers"), key=len, reverse=True)
        #: one pattern per filler, longest first, applied in turn (compiled here: built in the
        #: loop they missed re's cache and were compiled again for most listings)
        self.filler_res = [re.compile(rf"(?<!\w){re.escape(f)}(?!\w)") for f in self.fillers]
        self.stages = frozenset(words("normalizer", "age_stages"))
        range_words = "".join(f"|{re.escape(w)}" for w in words("normalizer", "range_words"))
        self.age_range_re = re.compile(rf"\d+(?:[.,]\d+)?\s*(?:-|–{range_words})\s*\d+", re.IGNORECASE)
        breaks = "|".join(re.escape(w) for w in words("normalizer", "clause_breaks"))
        self.clause_split_re = re.compile(rf"[.!?;\n,()]+|\s+(?:{breaks})\s+", re.IGNORECASE)
        self.blocker_re = re.compile("|".join(words("normalizer", "status_blocker_regexes")), re.IGNORECASE)
        self.negator_re = re.compile("|".join(words("normalizer", "clause_negator_regexes")), re.IGNORECASE)
        status = lexicon.mapping("normalizer", "status_regexes")
        self.status = {which: (re.compile("|".join(f"(?:{p})" for p in table.get("yes", [])), re.IGNORECASE),
                               re.compile("|".join(f"(?:{p})" for p in table.get("no", [])), re.IGNORECASE))
                       for which, table in status.items()}
        shared_booleans = lexicon.shared("booleans") or {}
        self.booleans = {value: frozenset(w.casefold() for w in [*shared_booleans.get(value, []),
                                                                  *words("booleans", value)])
                         for value in ("yes", "no")}


@lexicon.cached
def _vocabulary() -> _Vocabulary:
    return _Vocabulary()


FACT_KEYS: tuple[str, ...] = ("color", "quantity", "fur_length", "health", "dewormed")
"""Extra scrape keys that become ``NormalizedListing.facts`` (string values only)."""

_BIRTH_DATE_SENTINEL = date(1, 1, 1)

# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------

_TAG_BREAK_RE = re.compile(r"<\s*(?:br|/p|p|/div|div|/li|li|/h\d)\b[^<>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<!--.*?-->|</?[a-zA-Z][^<>]*>", re.DOTALL)
_SPACE_RE = re.compile(r"[^\S\n]+")
#: What ftfy changes in ASCII text: control characters but tab and line feed (removed, or
#: line breaks made ``\n``; terminal escapes start with ESC). Mojibake, curly quotes, wide
#: forms and ligatures are never ASCII, so ASCII text without these is left as it is
#: (ftfy cost a fifth of normalizing a PetFinder listing, mostly on short ASCII fields).
_FTFY_ASCII_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")


def _collapse_space(match: re.Match[str]) -> str:
    run = match.group(0)
    if "\t" in run:
        return "\t"
    return "  " if len(run) >= 2 else " "


def clean_text(text: str | None) -> str:
    """Return ``text`` repaired and tidied; ``""`` for ``None``.

    Steps: ftfy (mojibake such as ``"ä¼ç¾"`` -> Chinese, curly quotes to straight),
    HTML entities unescaped, tags stripped (``<br>``/``<p>``/``<li>`` become line breaks),
    a run of spaces and tabs becomes one tab if it holds a tab, two spaces if it has two
    or more, else one space (a flattened fact block separates its entries with tabs or
    double spaces: :mod:`~enrichment_assets.domain.facts` reads them), each line stripped,
    at most one blank line in a row, the whole stripped. Line breaks are kept because a
    line is the unit of a contact line (see ``grounding``) and of a fact-block entry.
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    if not text.isascii() or _FTFY_ASCII_RE.search(text):
        text = ftfy.fix_text(text, unescape_html=False)
    text = html.unescape(text)
    text = _TAG_BREAK_RE.sub("\n", text)
    text = _TAG_RE.sub(" ", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _SPACE_RE.sub(_collapse_space, text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _MANY_NEWLINES_RE.sub("\n\n", text)
    return text.strip()


@lru_cache(maxsize=1)
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    # py3langid 0.4 also knows ISO 639-3 labels (yue, wuu, pcm, ...). Restricting it to
    # two-letter labels makes every answer an ISO 639-1 code (Cantonese text -> zh).
    identifier.set_languages([lang for lang in identifier.labels if len(lang) == 2])
    # set_languages keeps the chosen columns as a column-major copy (numpy fancy indexing),
    # and every classify gathers rows of it: row-major, the same values, halves the time
    # (0.33 -> 0.18 ms per PetFinder description, answers identical)
    import numpy as np

    identifier.nb_ptc = np.ascontiguousarray(identifier.nb_ptc)
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` by py3langid, or ``"und"`` when it cannot tell.

    ``"und"`` when the text has fewer than :data:`MIN_LANGUAGE_LETTERS` letters (any
    script: 20 Chinese characters count as 20) or when the detector's probability is below
    :data:`MIN_LANGUAGE_CONFIDENCE`. Uses its own detector instance, so the process-wide
    py3langid state is left alone.
    """
    text = text or ""
    letters = 0
    for ch in text:  # stops at the threshold: a long text is not counted to its end
        letters += ch.isalpha()
        if letters >= MIN_LANGUAGE_LETTERS:
            break
    else:
        return "und"
    lang, confidence = _language_identifier().classify(text)
    if confidence < MIN_LANGUAGE_CONFIDENCE:
        return "und"
    return lang


_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


@lru_cache(maxsize=8192)
def _key(text: str) -> str:
    return re.sub(r"\s+", " ", clean_text(text).casefold()).strip(" .,;:!")


# ---------------------------------------------------------------------------------------
# Species, breed, sex, size
# ---------------------------------------------------------------------------------------

def parse_species(text: str | None) -> str:
    """Map free text to ``"dog" | "cat" | "other" | "unknown"``.

    Whole words of the lexicon's ``normalizer.species`` (every language file) and compounds
    ending in a ``normalizer.species_suffixes`` word (Mischlingshund -> dog). Missing, unrecognised or
    contradictory text (two species) stays ``"unknown"``: in a dog-rescue pipeline a
    missing species is still unknown, not "dog".
    """
    if text is None:
        return "unknown"
    vocabulary = _vocabulary()
    species_words = vocabulary.species
    key = _key(text)
    if not key or key in vocabulary.unknown:
        return "unknown"
    if key in species_words:
        return species_words[key]
    found: set[str] = set()
    for term, species in species_words.items():
        if " " in term and re.search(rf"\b{re.escape(term)}\b", key):
            found.add(species)
    for word in _WORD_RE.findall(key):
        for part in word.split("-"):
            if part in species_words:
                found.add(species_words[part])
                continue
            for suffix, species in vocabulary.species_suffixes.items():
                if part.endswith(suffix):
                    found.add(species)
    return found.pop() if len(found) == 1 else "unknown"


def _recase(name: str) -> str:
    if not (name.islower() or name.isupper()):
        return name  # the source gave case information (German names): keep it
    words = []
    for i, word in enumerate(name.split(" ")):
        if i > 0 and word.lower() in _vocabulary().particles:
            words.append(word.lower())
        else:
            words.append("-".join(seg[:1].upper() + seg[1:].lower() for seg in word.split("-")))
    return " ".join(words)


@lexicon.cached
def _breed_names() -> dict[str, str]:
    """Folded breed name -> standard English name, from ``lexicon/breeds.yaml`` (FCI
    nomenclature plus colloquial and general type names)."""
    data = lexicon.data_file("breeds")
    out: dict[str, str] = {}
    for entry in data.get("breeds") or []:
        for name in [entry["english"], *entry.get("names", [])]:
            out.setdefault(lexicon.fold(name), entry["english"])
    for entry in data.get("general") or []:
        out.setdefault(lexicon.fold(entry["name"]), entry["english"])
    return out


def standard_breed(text: str | None) -> str | None:
    """The standard English breed name of ``text`` (German, English or colloquial:
    "Deutscher Schäferhund", "Schäferhund", "GSD" -> "German Shepherd Dog"), or ``None``
    when the lexicon does not know it. Matching is on :func:`lexicon.fold` of the whole text."""
    if not text:
        return None
    names = _breed_names()
    key = lexicon.fold(text)
    return names.get(key) or names.get(key.replace("-", " "))


def parse_breed(text: str | None) -> tuple[str | None, bool | None]:
    """Split breed text into ``(breed, mixed_breed)``.

    * Mix markers (lexicon ``normalizer.mix``: "Mix", "Mischling", "Mixed Breed", "cross", a
      trailing "-Mix") are removed and set ``mixed_breed=True``; so does naming two or
      more breeds ("Labrador x Poodle", "Collie, Schäferhund").
    * A mix marker alone ("Mixed Breed", "Mix", "Mischling") means the breed is unknown:
      ``(None, True)``. Decision: "Mixed Breed" is PetFinder's label for "no breed known",
      not a breed name, so it never reaches a prompt as one.
    * ``mixed_breed=False`` only for an explicit purebred statement ("purebred",
      "reinrassig"); one breed name alone gives ``None`` (shelters often list the
      dominant breed of a mix, so "purebred" would be a guess).
    * Breeds are joined with ``" / "``; a name the breed lexicon knows becomes its
      standard English name (:func:`standard_breed`: "Schäferhund" -> "German Shepherd
      Dog", "Dogge" -> "Great Dane"); other all-lower or all-upper names are title-cased
      (particles like "da" stay lower), names with their own capitalisation are kept as
      given.
    * An age class ("Welpe", "puppy") is never a breed: it is dropped here.
    """
    if text is None:
        return None, None
    cleaned = clean_text(text).replace("(", " ").replace(")", " ")
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    vocabulary = _vocabulary()
    if not cleaned or cleaned.casefold() in vocabulary.unknown:
        return None, None
    purebred = bool(vocabulary.pure_re.search(cleaned))
    cleaned = vocabulary.pure_re.sub(" ", cleaned)
    mixed = False
    breeds: list[str] = []
    for part in vocabulary.breed_split_re.split(cleaned):
        part, n_mix = vocabulary.mix_re.subn(" ", part)
        part, n_suffix = vocabulary.mix_suffix_re.subn("", part.strip())
        if n_mix or n_suffix:
            mixed = True
        part = re.sub(r"\s+", " ", part).strip(" -.,;:")
        if not part or part.casefold() in vocabulary.unknown:
            continue
        if part.casefold() in vocabulary.stages:
            continue  # "Welpe", "puppy": an age class, never a breed
        part = standard_breed(part) or _recase(part)
        if part.casefold() not in {b.casefold() for b in breeds}:
            breeds.append(part)
    if len(breeds) > 1:
        mixed = True
    breed = " / ".join(breeds) or None
    if mixed:
        return breed, True
    if purebred:
        return breed, False
    return breed, None


def parse_sex(text: str | None) -> str:
    """Map free text to ``"male" | "female" | "group" | "unknown"``.

    Whole words of the lexicon's ``normalizer.sex`` (male/m/Rüde/männlich, female/f/w/Hündin/weiblich,
    group/pair/mixed/Gruppe) and German compounds ending in Rüde/Hündin. Text naming
    both sexes ("1 male, 2 females") is a group. Anything else is ``"unknown"``.
    """
    if text is None:
        return "unknown"
    key = _key(text)
    vocabulary = _vocabulary()
    if not key or key in vocabulary.unknown:
        return "unknown"
    if key in vocabulary.sex:
        return vocabulary.sex[key]
    found: set[str] = set()
    for word in _WORD_RE.findall(key):
        if len(word) == 1:
            continue  # single letters only count as the whole value ("m", "f", "w")
        value = vocabulary.sex.get(word)
        if value is None:
            value = next((v for s, v in vocabulary.sex_suffixes.items() if word.endswith(s)), None)
        if value is not None:
            found.add(value)
    if {"male", "female"} <= found or "group" in found:
        return "group"
    return found.pop() if len(found) == 1 else "unknown"


def parse_size(text: str | None) -> str:
    """Map free text to ``"small" | "medium" | "large" | "xlarge" | "unknown"``.

    Terms of the lexicon's ``normalizer.size`` (small/medium/large/extra large/xl, klein/mittel/groß/
    gross/sehr groß). Two different sizes ("small to medium") are ``"unknown"``. Size is
    never derived from weight or height: that would be a guess.
    """
    if text is None:
        return "unknown"
    key = _key(text)
    vocabulary = _vocabulary()
    sizes = vocabulary.size
    if not key or key in vocabulary.unknown:
        return "unknown"
    if key in sizes:
        return sizes[key]
    found: set[str] = set()
    rest = key
    for term in sorted((t for t in sizes if " " in t or "-" in t), key=len, reverse=True):
        pattern = rf"(?<![\w-]){re.escape(term)}(?![\w-])"
        if re.search(pattern, rest):
            found.add(sizes[term])
            rest = re.sub(pattern, " ", rest)
    for word in re.findall(r"[^\W\d_]+", rest):
        if len(word) > 2 and word in sizes:
            found.add(sizes[word])
        elif word in {"xl", "xxl"}:
            found.add("xlarge")
    return found.pop() if len(found) == 1 else "unknown"


# ---------------------------------------------------------------------------------------
# Age
# ---------------------------------------------------------------------------------------

_DAYS_PER_MONTH = Fraction(36525, 1200)  # 365.25 / 12


def parse_age_text(text: str | None) -> tuple[int | None, bool]:
    """Age in whole months from free text, floor: ``(months, is_age_class)``.

    Accepted: one or more ``<number> <unit>`` parts, summed ("2 years 3 months",
    "2 Jahre und 6 Monate", "1.5 years" = 18, "2,5 Jahre" = 30, "3 1/2 mths" = 3,
    "10 weeks"/"10 Wochen" = 2, "3 yrs", "8 Jahre alt", "ca. 6 Monate"). Units in
    the lexicon's ``normalizer.age_units``; weeks and days convert with 365.25/12 days per month.

    Returns ``(None, False)`` for missing or explicit-unknown text ("unknown",
    "unbekannt"), and ``(None, True)`` for a range ("2-3 years") or an age class
    ("puppy", "Senior", "Welpe"): not an age, so no number is invented; the caller keeps
    the text as a fact.

    Raises:
        UnreadableAge: text that is none of the above (e.g. a number without a unit).
        ValueError: an age above :data:`MAX_AGE_MONTHS`.
    """
    if text is None:
        return None, False
    key = _key(text)
    vocabulary = _vocabulary()
    if not key or key in vocabulary.unknown:
        return None, False
    if vocabulary.age_range_re.search(key):
        return None, True
    total = Fraction(0)
    matched = False
    for m in vocabulary.age_part_re.finditer(key):
        matched = True
        value = Fraction(m.group("num").replace(",", "."))
        if m.group("frac"):
            if int(m.group("den")) == 0:
                raise ValueError(f"age text {text!r}: division by zero")
            value += Fraction(int(m.group("frac")), int(m.group("den")))
        if m.group("half"):
            value += Fraction(1, 2)
        unit = vocabulary.units[m.group("unit").lower()]
        if unit == "y":
            total += value * 12
        elif unit == "m":
            total += value
        elif unit == "w":
            total += value * 7 / _DAYS_PER_MONTH
        else:
            total += value / _DAYS_PER_MONTH
    rest = vocabulary.age_part_re.sub(" ", key)
    for filler_re in vocabulary.filler_res:
        rest = filler_re.sub(" ", rest)
    rest = re.sub(r"[\s.,;:&+~()\-]+", " ", rest).strip()
    if not matched:
        words = rest.split()
        if words and all(w in vocabulary.stages for w in words):
            return None, True
        raise UnreadableAge(f"age text {text!r} is not an age (expected e.g. '2 years', "
                            "'6 Monate')")
    if rest:
        raise UnreadableAge(f"age text {text!r}: cannot read {rest!r}")
    months = math.floor(total)
    if months > MAX_AGE_MONTHS:
        raise ValueError(f"age text {text!r} is {months} months, more than {MAX_AGE_MONTHS}")
    return months, False


def age_from_birth_date(birth_date: date, scraped_at: datetime | date) -> int:
    """Whole months (floor) from ``birth_date`` to the scrape date.

    Born 2020-05-20, scraped 2021-05-19 -> 11; scraped 2021-05-20 -> 12.

    Raises:
        ValueError: when the birth date is after the scrape date or the age is above
            :data:`MAX_AGE_MONTHS`.
    """
    on = scraped_at.date() if isinstance(scraped_at, datetime) else scraped_at
    if birth_date > on:
        raise ValueError(f"birth_date {birth_date.isoformat()} is after the scrape date "
                         f"{on.isoformat()}")
    months = (on.year - birth_date.year) * 12 + (on.month - birth_date.month)
    if on.day < birth_date.day:
        months -= 1
    if months > MAX_AGE_MONTHS:
        raise ValueError(f"birth_date {birth_date.isoformat()} gives {months} months, "
                         f"more than {MAX_AGE_MONTHS}")
    return months


# ---------------------------------------------------------------------------------------
# Neutered / vaccinated
# ---------------------------------------------------------------------------------------


def tri_state(value: bool | None) -> str:
    """``True -> "yes"``, ``False -> "no"``, ``None -> "unknown"``."""
    if value is None:
        return "unknown"
    return "yes" if value else "no"


def status_from_text(description: str, which: str) -> str:
    """``"yes" | "no" | "unknown"`` from explicit statements in ``description``.

    ``which`` is ``"neutered"`` or ``"vaccinated"`` (the lexicon's
    ``normalizer.status_regexes``). The text is cut into clauses (at sentence marks, commas,
    "but"/"aber"); a clause counts only when it has no blocker from
    ``normalizer.status_blocker_regexes`` (future: "will be spayed", "wird kastriert"; duty: "must
    be"; doubt: "ob sie kastriert ist, wissen wir nicht"; another animal: "the mother is
    spayed"). Negations ("nicht kastriert", "unkastriert", "not yet neutered",
    "weder ... noch") give "no". Both "yes" and "no" in one text: "unknown".

    Raises:
        ValueError: for an unknown ``which``.
    """
    vocabulary = _vocabulary()
    if which not in vocabulary.status:
        raise ValueError(f"status_from_text: which={which!r}, expected one of "
                         f"{sorted(vocabulary.status)}")
    yes_re, no_re = vocabulary.status[which]
    found: set[str] = set()
    for clause in vocabulary.clause_split_re.split(description or ""):
        if not clause.strip() or vocabulary.blocker_re.search(clause):
            continue
        negated_clause = bool(vocabulary.negator_re.search(clause))
        no_spans = [m.span() for m in no_re.finditer(clause)]
        if no_spans:
            found.add("no")
        for m in yes_re.finditer(clause):
            if any(s <= m.start() < e for s, e in no_spans):
                continue
            found.add("no" if negated_clause else "yes")
    return found.pop() if len(found) == 1 else "unknown"


# ---------------------------------------------------------------------------------------
# Facts and hash
# ---------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip().casefold() in _vocabulary().unknown | {""}:
        return True
    return False


def _fact_value(key: str, value: Any) -> str | None:
    if _missing(value):
        return None
    if key == "quantity":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"quantity {value!r} is not a number") from None
        if math.isnan(number) or number != int(number) or number < 1:
            raise ValueError(f"quantity {value!r} is not a whole number >= 1")
        return str(int(number)) if number > 1 else None
    if key == "dewormed":
        if isinstance(value, bool):
            return "yes" if value else "no"
        word = str(value).strip().casefold()
        booleans = _vocabulary().booleans
        if word in booleans["yes"]:
            return "yes"
        if word in booleans["no"]:
            return "no"
        return None  # "not sure" and the like: missing stays missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        parts = [clean_text(str(v)) for v in value if not _missing(v)]
        parts = [p for p in parts if p]
        return ", ".join(parts) or None
    if isinstance(value, dict):
        return None
    text = clean_text(str(value))
    return text or None


def _scrub(text: str) -> str:
    """``""`` for a text that is only a stringified null ("None", "nan"), else ``text``."""
    return "" if text.casefold() in lexicon.null_words() else text


def content_hash(fields: dict[str, Any] | NormalizedListing) -> str:
    """sha256 hex of the canonical JSON of a listing's prompt-relevant fields.

    Takes a :class:`NormalizedListing` or its ``model_dump(mode="json")``. Hashed: every
    field except ``content_hash``, ``organization`` and ``scraped_on``, as JSON with sorted keys (also
    inside ``facts``), ``ensure_ascii=False``, compact separators. So the hash changes
    when any value changes and never when only key order does.
    """
    if isinstance(fields, NormalizedListing):
        fields = fields.model_dump(mode="json")
    payload = {k: v for k, v in fields.items() if k not in {"content_hash", "organization", "scraped_on"}}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------
# Display name
# ---------------------------------------------------------------------------------------

_NAME_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


@lexicon.cached
def _name_vocabulary() -> tuple[frozenset[str], frozenset[str], frozenset[str], re.Pattern[str]]:
    """(title words, not-names, placeholders, trigger pattern) from the lexicon files."""
    title = frozenset(lexicon.fold(w) for w in lexicon.lookup("title_words") or [])
    not_names = frozenset(lexicon.fold(w) for w in lexicon.lookup("not_names") or [])
    placeholders = frozenset(lexicon.fold(w) for w in lexicon.lookup("name_placeholders") or [])
    triggers = [t for t in lexicon.lookup("name_triggers") or []]
    alternation = "|".join(t[3:] if t.startswith("re:") else r"\s+".join(map(re.escape, t.split()))
                           for t in sorted(triggers, key=len, reverse=True))
    # capital letters: A-Z and the capitals of the transliterated letters (Ä, Ö, Ü)
    capitals = "A-Z" + "".join(sorted(c.upper() for c in lexicon.transliteration() if len(c.upper()) == 1))
    trigger_re = re.compile(rf"(?<!\w)(?i:{alternation})[\s:,!-]+(?P<name>[{capitals}][^\W\d_]+)")
    return title, not_names, placeholders, trigger_re


def display_name(name: str, description: str) -> str | None:
    """The dog's name when the listing's ``name`` is a title, else ``None``.

    A title ("Süße Lina sucht ein Zuhause", "URGENT - Sweet Bella needs a home", "Special
    Needs Husky") has three or more words, or a word of the lexicons' ``title_words``, or
    names a breed. The name is then a capitalized word of the title that the description
    uses (most uses wins: "Lina"), else the first capitalized word after a
    ``name_triggers`` phrase of the description ("Meet Koda", "Informationen zu AMY"),
    else ``None`` (missing stays missing: the title is not shortened by guesswork).
    """
    title_words, not_names, placeholders, trigger_re = _name_vocabulary()
    words = _NAME_TOKEN_RE.findall(name or "")
    if not words or lexicon.fold(name) in placeholders:
        return None
    folded_words = [lexicon.fold(w) for w in words]
    is_title = (len(words) >= 3 or any(w in title_words for w in folded_words)
                or any(standard_breed(w) for w in words) or not name.strip()[-1:].isalpha())
    if not is_title:
        return None
    counts: list[tuple[int, int, str]] = []
    for i, word in enumerate(words):
        core = re.sub(r"['’]s$", "", word)
        key = lexicon.fold(core)
        if not core[:1].isupper() or key in title_words or key in not_names or standard_breed(core):
            continue
        uses = len(re.findall(rf"(?<!\w){re.escape(core)}(?!\w)", description or ""))
        if uses:
            counts.append((-uses, i, core))
    if counts:
        return sorted(counts)[0][2]
    for m in trigger_re.finditer(description or ""):
        candidate = m.group("name")
        key = lexicon.fold(candidate)
        if key not in not_names and key not in title_words and not standard_breed(candidate):
            return candidate
    return None


def _apply_stated_facts(fields: dict[str, Any], stated: list[StatedFact], record: ScrapeRecord,
                        scraped_at: datetime | None, label: str) -> None:
    """Fill missing structured fields from what the description states (never overwrite)."""
    from enrichment_assets.domain.facts import as_number, stated_value

    def decided(field: str) -> StatedFact | None:
        return stated_value(stated, field)

    if fields["sex"] == "unknown" and (fact := decided("sex")) is not None:
        fields["sex"] = fact.value
    if fields["age_months"] is None:
        if (fact := decided("birth_date")) is not None:
            try:
                fields["age_months"] = age_from_birth_date(date.fromisoformat(fact.value),
                                                           scraped_at or datetime.now(timezone.utc))
            except ValueError:
                pass  # a stated birth date after the scrape or too old: no age
        elif (fact := decided("age_months")) is not None:
            months = int(float(fact.value))
            fields["age_months"] = months if months <= MAX_AGE_MONTHS else None
    for key in ("weight_kg", "height_cm"):
        if fields[key] is None and (number := as_number(decided(key))) is not None:
            fields[key] = number
    for key in ("neutered", "vaccinated"):
        if getattr(record, key) is None:
            block = [f for f in stated if f.field == key and f.source == "block"]
            if block:  # a fact-block entry wins over a free-text guess, "unknown" included
                fact = decided(key)
                fields[key] = fact.value if fact is not None else "unknown"
    if fields["location"] is None and (fact := decided("location")) is not None:
        fields["location"] = fact.value


# ---------------------------------------------------------------------------------------
# The record
# ---------------------------------------------------------------------------------------


def normalize_record(
    organization: str, payload: dict[str, Any], scraped_at: datetime | None = None
) -> NormalizedListing:
    """Harmonize one scrape record of ``organization`` into a :class:`NormalizedListing`.

    ``payload`` is ``ScrapeRecord.model_dump(mode="json")`` including extra keys (it is
    validated against :class:`ScrapeRecord` again). ``scraped_at`` is the scrape time
    (header of the scrape file) that a ``birth_date`` is measured against; ``None`` means
    now (UTC).

    Field rules: see :func:`parse_species`, :func:`parse_breed`, :func:`parse_age_text`
    (used only without a ``birth_date``: an exact date beats a text; an age text it cannot
    read, such as "approx 3", is kept as the fact ``age_text`` with no number),
    :func:`age_from_birth_date` (``0001-01-01`` is the "no date" value of several
    crawlers and counts as missing), :func:`parse_sex`, :func:`parse_size`; neutered and
    vaccinated come from the structured booleans, and only when those are ``None`` from
    explicit statements in the description (:func:`status_from_text`); fee, currency
    (upper-cased), weight, height, url pass through; location, name and description go
    through :func:`clean_text` (a name or description that is only a stringified null,
    "None"/"nan"/"null", becomes ``""``: a pandas or Python null never reaches a prompt as
    a word); ``facts`` holds the extra keys in :data:`FACT_KEYS`
    (quantity only when > 1, dewormed as yes/no) plus ``age_text`` when the age text is an
    age class or a range; ``language`` from :func:`detect_language` on the description;
    ``content_hash`` from :func:`content_hash`.

    Raises:
        NormalizationError: ``"<organization>/<external_id>: <field>: <problem>"`` for a
            payload that breaks the scrape contract, an unreadable or out-of-range age, a
            birth date after ``scraped_at``, or an unreadable quantity.
    """
    raw_id = payload.get("external_id") if isinstance(payload, dict) else None
    label = f"{organization}/{raw_id if raw_id not in (None, '') else '<no external_id>'}"
    if not isinstance(payload, dict):
        raise NormalizationError(f"{label}: payload: expected an object, got "
                                 f"{type(payload).__name__}")
    try:
        record = ScrapeRecord.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<record>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise NormalizationError(f"{label}: {problems}") from exc
    label = f"{organization}/{record.external_id}"

    def fail(field: str, problem: str) -> NormalizationError:
        return NormalizationError(f"{label}: {field}: {problem}")

    extras = record.model_extra or {}
    description = _scrub(clean_text(record.description))
    facts: dict[str, str] = {}

    age_months: int | None = None
    if record.birth_date is not None and record.birth_date != _BIRTH_DATE_SENTINEL:
        when = scraped_at or datetime.now(timezone.utc)
        try:
            age_months = age_from_birth_date(record.birth_date, when)
        except ValueError as exc:
            raise fail("birth_date", str(exc)) from None
    elif record.age_text is not None:
        try:
            age_months, is_class = parse_age_text(record.age_text)
        except UnreadableAge:
            # free text that states no readable age ("approx 3"): no number is guessed, the
            # words stay a fact for the model (missing stays missing, nothing is lost)
            age_months, is_class = None, True
        except ValueError as exc:
            raise fail("age_text", str(exc)) from None
        if is_class:
            facts["age_text"] = clean_text(record.age_text)

    breed, mixed_breed = parse_breed(record.breed)

    neutered = tri_state(record.neutered)
    if neutered == "unknown":
        neutered = status_from_text(description, "neutered")
    vaccinated = tri_state(record.vaccinated)
    if vaccinated == "unknown":
        vaccinated = status_from_text(description, "vaccinated")

    for key in FACT_KEYS:
        if key in extras:
            try:
                value = _fact_value(key, extras[key])
            except ValueError as exc:
                raise fail(key, str(exc)) from None
            if value is not None:
                facts[key] = value

    location = clean_text(record.location) or None
    language = detect_language(description)
    from enrichment_assets.domain.facts import parse_stated_facts

    stated = parse_stated_facts(description, language)
    if record.breed is not None and breed is None and _key(record.breed) in _vocabulary().stages and age_months is None:
        facts.setdefault("age_text", clean_text(record.breed))
    name = _scrub(clean_text(record.name))
    fields: dict[str, Any] = {
        "organization": organization,
        "external_id": record.external_id,
        "name": name,
        "species": parse_species(record.species),
        "breed": breed,
        "mixed_breed": mixed_breed,
        "age_months": age_months,
        "sex": parse_sex(record.sex),
        "size": parse_size(record.size),
        "weight_kg": record.weight_kg,
        "height_cm": record.height_cm,
        "neutered": neutered,
        "vaccinated": vaccinated,
        "fee": record.fee,
        "currency": record.currency.upper() if record.currency else None,
        "location": location,
        "url": record.url,
        "description": description,
        "language": language,
        "facts": dict(sorted(facts.items())),
        "display_name": display_name(name, description),
        "stated_facts": [f.model_dump() for f in stated],
        "scraped_on": (scraped_at.date() if isinstance(scraped_at, datetime) else scraped_at)
        if scraped_at is not None else None,
    }
    _apply_stated_facts(fields, stated, record, scraped_at, label)
    try:
        draft = NormalizedListing.model_validate({**fields, "content_hash": "0" * 64})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise NormalizationError(f"{label}: {problems}") from exc
    return draft.model_copy(update={"content_hash": content_hash(draft)})
