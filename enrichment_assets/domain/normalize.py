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

The word lists the parsers use are module constants (data, one dict per language), so a
new source language is a data change.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from datetime import date, datetime, timezone
from fractions import Fraction
from functools import cache as functools_cache
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
# Lexicons (data). Keys are lower-case; matching is on whole words after clean_text.
# ---------------------------------------------------------------------------------------

SPECIES_TERMS: dict[str, dict[str, str]] = {
    "en": {
        "dog": "dog", "dogs": "dog", "puppy": "dog", "puppies": "dog", "pup": "dog",
        "pups": "dog", "canine": "dog",
        "cat": "cat", "cats": "cat", "kitten": "cat", "kittens": "cat", "kitty": "cat",
        "feline": "cat",
        "rabbit": "other", "bunny": "other", "hamster": "other", "guinea pig": "other",
        "bird": "other", "parrot": "other", "budgie": "other", "horse": "other",
        "pony": "other", "ferret": "other", "rat": "other", "mouse": "other",
        "reptile": "other", "turtle": "other", "tortoise": "other", "snake": "other",
        "chinchilla": "other", "degu": "other", "pig": "other", "goat": "other",
    },
    "de": {
        "hund": "dog", "hunde": "dog", "welpe": "dog", "welpen": "dog", "rüde": "dog",
        "hündin": "dog",
        "katze": "cat", "katzen": "cat", "kater": "cat", "kätzchen": "cat",
        "kaninchen": "other", "hase": "other", "meerschweinchen": "other",
        "vogel": "other", "wellensittich": "other", "pferd": "other", "frettchen": "other",
        "ratte": "other", "maus": "other", "schildkröte": "other", "schwein": "other",
        "ziege": "other", "kleintier": "other",
    },
    "es": {"perro": "dog", "perra": "dog", "cachorro": "dog", "gato": "cat", "gata": "cat",
           "conejo": "other"},
    "fr": {"chien": "dog", "chienne": "dog", "chiot": "dog", "chat": "cat", "chatte": "cat",
           "chaton": "cat", "lapin": "other"},
}

# German compounds (Mischlingshund, Hofhund, Hauskatze) end in the species word.
SPECIES_SUFFIXES: dict[str, str] = {"hund": "dog", "welpe": "dog", "katze": "cat"}

MIX_TERMS: dict[str, tuple[str, ...]] = {
    "en": ("mixed breed", "mix breed", "mixed", "mix", "crossbreed", "cross breed", "cross",
           "mongrel", "mutt"),
    "de": ("mischlingshund", "mischlingsrüde", "mischlingshündin", "mischlingswelpe",
           "mischling", "mix"),
}

PUREBRED_TERMS: dict[str, tuple[str, ...]] = {
    "en": ("purebred", "pure breed", "pure bred", "pedigree"),
    "de": ("reinrassig", "rassehund"),
}

# Lower-case words inside breed names when a name is re-cased (Cão da Serra da Estrela).
BREED_PARTICLES = frozenset({"de", "da", "do", "dos", "del", "la", "le", "von", "van", "of",
                             "the", "and"})

UNKNOWN_TERMS = frozenset({"unknown", "unbekannt", "n/a", "na", "n.a.", "k.a.", "?", "-",
                           "--", "not sure", "none", "null", "nan", "keine angabe",
                           "not specified", "desconocido", "inconnu"})

AGE_UNITS: dict[str, dict[str, str]] = {
    "en": {"years": "y", "year": "y", "yrs": "y", "yr": "y", "y/o": "y", "y": "y",
           "yo": "y",
           "months": "m", "month": "m", "mths": "m", "mth": "m", "mos": "m", "mo": "m",
           "mon": "m", "m": "m",
           "weeks": "w", "week": "w", "wks": "w", "wk": "w", "w": "w",
           "days": "d", "day": "d", "d": "d"},
    "de": {"jahre": "y", "jahren": "y", "jahr": "y", "j": "y",
           "monate": "m", "monaten": "m", "monat": "m", "mon": "m",
           "wochen": "w", "woche": "w", "tage": "d", "tagen": "d", "tag": "d"},
    "es": {"años": "y", "año": "y", "meses": "m", "mes": "m", "semanas": "w", "semana": "w"},
    "fr": {"ans": "y", "an": "y", "mois": "m", "semaines": "w", "semaine": "w",
           "jours": "d", "jour": "d"},
}

# Words an age text may carry around its numbers without changing them.
AGE_FILLER_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("about", "approx", "approximately", "around", "ca", "circa", "roughly", "old",
           "of age", "and", "age", "aged", "nearly", "almost", "over", "just"),
    "de": ("ca", "circa", "etwa", "ungefähr", "rund", "alt", "und", "knapp", "fast",
           "über", "alter"),
}

# An age class instead of an age: kept as the fact "age_text", age_months stays None.
AGE_STAGE_TERMS: dict[str, tuple[str, ...]] = {
    "en": ("puppy", "pup", "baby", "young", "juvenile", "adolescent", "adult",
           "young adult", "senior", "old", "elderly", "kitten"),
    "de": ("welpe", "junghund", "jung", "jungtier", "erwachsen", "senior", "seniorin",
           "alt", "älter"),
}

SEX_TERMS: dict[str, dict[str, str]] = {
    "en": {"male": "male", "m": "male", "boy": "male",
           "female": "female", "f": "female", "girl": "female",
           "group": "group", "mixed": "group", "pair": "group", "both": "group",
           "males": "group", "females": "group", "litter": "group"},
    "de": {"rüde": "male", "männlich": "male", "kater": "male",
           "hündin": "female", "weiblich": "female", "w": "female", "kätzin": "female",
           "gruppe": "group", "paar": "group", "geschwister": "group", "wurf": "group"},
    "es": {"macho": "male", "hembra": "female"},
    "fr": {"mâle": "male", "femelle": "female"},
}
SEX_SUFFIXES: dict[str, str] = {"rüde": "male", "hündin": "female"}

SIZE_TERMS: dict[str, dict[str, str]] = {
    "en": {"small": "small", "s": "small", "toy": "small", "mini": "small",
           "medium": "medium", "m": "medium", "mid": "medium", "medium-sized": "medium",
           "large": "large", "l": "large", "big": "large",
           "extra large": "xlarge", "extra-large": "xlarge", "xl": "xlarge",
           "x-large": "xlarge", "xlarge": "xlarge", "giant": "xlarge", "xxl": "xlarge"},
    "de": {"klein": "small", "kleine": "small", "kleiner": "small",
           "mittel": "medium", "mittelgroß": "medium", "mittelgross": "medium",
           "groß": "large", "gross": "large", "große": "large", "grosse": "large",
           "großer": "large",
           "sehr groß": "xlarge", "sehr gross": "xlarge", "riesig": "xlarge"},
}

# Explicit statements in a description (used only when the structured value is missing).
# Per language: "yes" and "no" regexes, searched in one clause at a time. "no" spans win
# over "yes" matches inside them; a clause with a "blocker" (future, obligation, doubt,
# another animal) is ignored; "neither/weder" negates the whole clause.
NEUTERED_TEXT: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "yes": (r"\b(?:neutered|spayed|sterili[sz]ed|castrated|desexed)\b",),
        "no": (r"(?:\bnot|n't|\bnever|\bnor)\s+(?:(?:yet|been|be|got|gotten|already|"
               r"currently)\s+)*(?:(?:her|him|them|it)\s+)?(?:[a-z]+\s+(?:or|nor|and|&)\s+)?"
               r"(?:neutered|spayed|sterili[sz]ed|castrated|desexed)\b",
               r"\b(?:un-?neutered|un-?spayed|un-?sterili[sz]ed)\b",
               r"\bintact\s+(?:male|female|boy|girl|dog)\b",
               r"\b(?:neutered|spayed|sterili[sz]ed)\s*[:=]\s*no\b"),
    },
    "de": {
        "yes": (r"\bkastriert\w*", r"\bsterilisiert\w*"),
        "no": (r"\b(?:nicht|nie)\s+(?:\w+\s+)?(?:kastriert|sterilisiert)\w*",
               r"\bun(?:kastriert|sterilisiert)\w*",
               r"\b(?:kastriert|sterilisiert)\s*[:=]\s*nein\b",
               r"\bintakte[rn]?\s+(?:rüde|hündin|hund)\b"),
    },
}

VACCINATED_TEXT: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "yes": (r"\bvaccinated\b",
                r"\bvaccin(?:e|es|ation|ations)\s+(?:are\s+|is\s+)?(?:up[\s-]to[\s-]date|"
                r"complete|completed)\b"),
        "no": (r"(?:\bnot|n't|\bnever|\bnor)\s+(?:(?:yet|been|be|got|gotten|already|"
               r"currently)\s+)*(?:(?:her|him|them|it)\s+)?(?:[a-z]+\s+(?:or|nor|and|&)\s+)?vaccinated\b",
               r"\bun-?vaccinated\b",
               r"\bno\s+vaccin(?:e|es|ation|ations)\b",
               r"\bvaccinated\s*[:=]\s*no\b"),
    },
    "de": {
        "yes": (r"\bgeimpft\w*", r"\bgrundimmunisiert\w*"),
        "no": (r"\b(?:nicht|nie)\s+(?:\w+\s+)?geimpft\w*", r"\bungeimpft\w*",
               r"\bkeine\s+impfung(?:en)?\b", r"\bgeimpft\s*[:=]\s*nein\b"),
    },
}

TEXT_STATUS_BLOCKERS: dict[str, tuple[str, ...]] = {
    # future / obligation / condition / doubt: the clause does not state a fact
    "en": (r"\bwill\b", r"'ll\b", r"\bwould\b", r"\bgoing\s+to\b", r"\bgonna\b",
           r"\bmust\b", r"\bshould\b", r"\bneeds?\s+to\b", r"\bto\s+be\b",
           r"\bcan(?:not|'t)?\s+be\b", r"\bdoubt", r"\bas\s+soon\s+as\b",
           r"\bensure\b", r"\bmake\s+sure\b", r"\bwhen\s+of\s+age\b", r"\badopters?\b",
           # "to (get her) spayed", "get them vaccinated", "after spayed": not a state
           r"\b(?:to|get|after)\s+(?:get\s+|being\s+|getting\s+)?(?:\w+\s+)?"
           r"(?:spay|neuter|steril|castrat|vaccin)\w*",
           r"\brequired?\b", r"\bcompulsory\b", r"\bmandatory\b", r"\bcondition\b",
           r"\bif\b", r"\bwhether\b", r"\bnot\s+sure\b", r"\bunsure\b", r"\bunknown\b",
           r"\bplan(?:ned|ning)?\b", r"\bonce\b", r"\bafter\s+adoption\b",
           r"\bcost\b", r"\bfee\b", r"\bsponsor",
           # another animal
           r"\bmother\b", r"\bmom\b", r"\bmum\b", r"\bmommy\b", r"\bmama\b",
           r"\bparents?\b",
           r"\bsiblings?\b", r"\bbrothers?\b", r"\bsisters?\b"),
    "de": (r"\bwird\b", r"\bwerden\b", r"\bmuss\b", r"\bmüssen\b", r"\bsoll(?:te|en)?\b",
           r"\bob\b", r"\bfalls\b", r"\bwenn\b", r"\bunbekannt\b", r"\bunklar\b",
           r"\bwissen\s+wir\s+nicht\b", r"\bnicht\s+bekannt\b", r"\bgeplant\b",
           r"\bmutter\b", r"\beltern\b", r"\bgeschwister\b", r"\bbruder\b",
           r"\bschwester\b"),
}
CLAUSE_NEGATORS: tuple[str, ...] = (r"\bneither\b", r"\bweder\b")

FACT_KEYS: tuple[str, ...] = ("color", "quantity", "fur_length", "health", "dewormed")
"""Extra scrape keys that become ``NormalizedListing.facts`` (string values only)."""

_BIRTH_DATE_SENTINEL = date(1, 1, 1)

# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------

_TAG_BREAK_RE = re.compile(r"<\s*(?:br|/p|p|/div|div|/li|li|/h\d)\b[^<>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<!--.*?-->|</?[a-zA-Z][^<>]*>", re.DOTALL)
_SPACE_RE = re.compile(r"[^\S\n]+")
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
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` by py3langid, or ``"und"`` when it cannot tell.

    ``"und"`` when the text has fewer than :data:`MIN_LANGUAGE_LETTERS` letters (any
    script: 20 Chinese characters count as 20) or when the detector's probability is below
    :data:`MIN_LANGUAGE_CONFIDENCE`. Uses its own detector instance, so the process-wide
    py3langid state is left alone.
    """
    text = text or ""
    if sum(ch.isalpha() for ch in text) < MIN_LANGUAGE_LETTERS:
        return "und"
    lang, confidence = _language_identifier().classify(text)
    if confidence < MIN_LANGUAGE_CONFIDENCE:
        return "und"
    return lang


def _merged(lexicon: dict[str, dict[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for terms in lexicon.values():
        merged.update(terms)
    return merged


def _merged_tuple(lexicon: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for terms in lexicon.values():
        out.extend(terms)
    return tuple(out)


_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", clean_text(text).casefold()).strip(" .,;:!")


# ---------------------------------------------------------------------------------------
# Species, breed, sex, size
# ---------------------------------------------------------------------------------------

_SPECIES = _merged(SPECIES_TERMS)


def parse_species(text: str | None) -> str:
    """Map free text to ``"dog" | "cat" | "other" | "unknown"``.

    Whole words of :data:`SPECIES_TERMS` (English, German, Spanish, French) and German
    compounds ending in a species word (Mischlingshund -> dog). Missing, unrecognised or
    contradictory text (two species) stays ``"unknown"``: in a dog-rescue pipeline a
    missing species is still unknown, not "dog".
    """
    if text is None:
        return "unknown"
    key = _key(text)
    if not key or key in UNKNOWN_TERMS:
        return "unknown"
    if key in _SPECIES:
        return _SPECIES[key]
    found: set[str] = set()
    for term, species in _SPECIES.items():
        if " " in term and re.search(rf"\b{re.escape(term)}\b", key):
            found.add(species)
    for word in _WORD_RE.findall(key):
        for part in word.split("-"):
            if part in _SPECIES:
                found.add(_SPECIES[part])
                continue
            for suffix, species in SPECIES_SUFFIXES.items():
                if part.endswith(suffix):
                    found.add(species)
    return found.pop() if len(found) == 1 else "unknown"


_MIX_WORDS = sorted(_merged_tuple(MIX_TERMS), key=len, reverse=True)
_MIX_RE = re.compile(
    r"(?<![^\s\-])(?:" + "|".join(re.escape(t) for t in _MIX_WORDS) + r")(?![^\s\-])",
    re.IGNORECASE)
_MIX_SUFFIX_RE = re.compile(r"(?<=\w{3})(?:-?mix|-?mischling)$", re.IGNORECASE)
_PURE_RE = re.compile(
    r"\b(?:" + "|".join(re.escape(t) for t in _merged_tuple(PUREBRED_TERMS)) + r")\b",
    re.IGNORECASE)
_BREED_SPLIT_RE = re.compile(r"\s*(?:,|/|\\|&|\+|;|\s+x\s+|\s+and\s+|\s+und\s+)\s*",
                             re.IGNORECASE)


def _recase(name: str) -> str:
    if not (name.islower() or name.isupper()):
        return name  # the source gave case information (German names): keep it
    words = []
    for i, word in enumerate(name.split(" ")):
        if i > 0 and word.lower() in BREED_PARTICLES:
            words.append(word.lower())
        else:
            words.append("-".join(seg[:1].upper() + seg[1:].lower() for seg in word.split("-")))
    return " ".join(words)


@functools_cache
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

    * Mix markers (:data:`MIX_TERMS`: "Mix", "Mischling", "Mixed Breed", "cross", a
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
    if not cleaned or cleaned.casefold() in UNKNOWN_TERMS:
        return None, None
    purebred = bool(_PURE_RE.search(cleaned))
    cleaned = _PURE_RE.sub(" ", cleaned)
    mixed = False
    breeds: list[str] = []
    for part in _BREED_SPLIT_RE.split(cleaned):
        part, n_mix = _MIX_RE.subn(" ", part)
        part, n_suffix = _MIX_SUFFIX_RE.subn("", part.strip())
        if n_mix or n_suffix:
            mixed = True
        part = re.sub(r"\s+", " ", part).strip(" -.,;:")
        if not part or part.casefold() in UNKNOWN_TERMS:
            continue
        if part.casefold() in _STAGES:
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


_SEX = _merged(SEX_TERMS)


def parse_sex(text: str | None) -> str:
    """Map free text to ``"male" | "female" | "group" | "unknown"``.

    Whole words of :data:`SEX_TERMS` (male/m/Rüde/männlich, female/f/w/Hündin/weiblich,
    group/pair/mixed/Gruppe) and German compounds ending in Rüde/Hündin. Text naming
    both sexes ("1 male, 2 females") is a group. Anything else is ``"unknown"``.
    """
    if text is None:
        return "unknown"
    key = _key(text)
    if not key or key in UNKNOWN_TERMS:
        return "unknown"
    if key in _SEX:
        return _SEX[key]
    found: set[str] = set()
    for word in _WORD_RE.findall(key):
        if len(word) == 1:
            continue  # single letters only count as the whole value ("m", "f", "w")
        value = _SEX.get(word)
        if value is None:
            value = next((v for s, v in SEX_SUFFIXES.items() if word.endswith(s)), None)
        if value is not None:
            found.add(value)
    if {"male", "female"} <= found or "group" in found:
        return "group"
    return found.pop() if len(found) == 1 else "unknown"


_SIZE = _merged(SIZE_TERMS)


def parse_size(text: str | None) -> str:
    """Map free text to ``"small" | "medium" | "large" | "xlarge" | "unknown"``.

    Terms of :data:`SIZE_TERMS` (small/medium/large/extra large/xl, klein/mittel/groß/
    gross/sehr groß). Two different sizes ("small to medium") are ``"unknown"``. Size is
    never derived from weight or height: that would be a guess.
    """
    if text is None:
        return "unknown"
    key = _key(text)
    if not key or key in UNKNOWN_TERMS:
        return "unknown"
    if key in _SIZE:
        return _SIZE[key]
    found: set[str] = set()
    rest = key
    for term in sorted((t for t in _SIZE if " " in t or "-" in t), key=len, reverse=True):
        pattern = rf"(?<![\w-]){re.escape(term)}(?![\w-])"
        if re.search(pattern, rest):
            found.add(_SIZE[term])
            rest = re.sub(pattern, " ", rest)
    for word in re.findall(r"[^\W\d_]+", rest):
        if len(word) > 2 and word in _SIZE:
            found.add(_SIZE[word])
        elif word in {"xl", "xxl"}:
            found.add("xlarge")
    return found.pop() if len(found) == 1 else "unknown"


# ---------------------------------------------------------------------------------------
# Age
# ---------------------------------------------------------------------------------------

_UNITS = _merged(AGE_UNITS)
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_AGE_PART_RE = re.compile(
    r"(?P<num>\d+(?:[.,]\d+)?)(?:\s*(?P<frac>\d)/(?P<den>\d)|\s*(?P<half>½))?"
    rf"\s*(?P<unit>{_UNIT_ALT})\.?(?![^\W\d_])",
    re.IGNORECASE,
)
_AGE_RANGE_RE = re.compile(r"\d+(?:[.,]\d+)?\s*(?:-|–|to|bis)\s*\d+", re.IGNORECASE)
_DAYS_PER_MONTH = Fraction(36525, 1200)  # 365.25 / 12
_FILLERS = sorted(_merged_tuple(AGE_FILLER_WORDS), key=len, reverse=True)
_STAGES = frozenset(_merged_tuple(AGE_STAGE_TERMS))


def parse_age_text(text: str | None) -> tuple[int | None, bool]:
    """Age in whole months from free text, floor: ``(months, is_age_class)``.

    Accepted: one or more ``<number> <unit>`` parts, summed ("2 years 3 months",
    "2 Jahre und 6 Monate", "1.5 years" = 18, "2,5 Jahre" = 30, "3 1/2 mths" = 3,
    "10 weeks"/"10 Wochen" = 2, "3 yrs", "8 Jahre alt", "ca. 6 Monate"). Units in
    :data:`AGE_UNITS`; weeks and days convert with 365.25/12 days per month.

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
    if not key or key in UNKNOWN_TERMS:
        return None, False
    if _AGE_RANGE_RE.search(key):
        return None, True
    total = Fraction(0)
    matched = False
    for m in _AGE_PART_RE.finditer(key):
        matched = True
        value = Fraction(m.group("num").replace(",", "."))
        if m.group("frac"):
            if int(m.group("den")) == 0:
                raise ValueError(f"age text {text!r}: division by zero")
            value += Fraction(int(m.group("frac")), int(m.group("den")))
        if m.group("half"):
            value += Fraction(1, 2)
        unit = _UNITS[m.group("unit").lower()]
        if unit == "y":
            total += value * 12
        elif unit == "m":
            total += value
        elif unit == "w":
            total += value * 7 / _DAYS_PER_MONTH
        else:
            total += value / _DAYS_PER_MONTH
    rest = _AGE_PART_RE.sub(" ", key)
    for filler in _FILLERS:
        rest = re.sub(rf"(?<!\w){re.escape(filler)}(?!\w)", " ", rest)
    rest = re.sub(r"[\s.,;:&+~()\-]+", " ", rest).strip()
    if not matched:
        words = rest.split()
        if words and all(w in _STAGES for w in words):
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


_CLAUSE_SPLIT_RE = re.compile(r"[.!?;\n,()]+|\s+(?:but|however|aber|jedoch|doch)\s+",
                              re.IGNORECASE)


def _compile(lexicon: dict[str, dict[str, tuple[str, ...]]]) -> tuple[re.Pattern, re.Pattern]:
    yes = [p for lang in lexicon.values() for p in lang["yes"]]
    no = [p for lang in lexicon.values() for p in lang["no"]]
    return (re.compile("|".join(f"(?:{p})" for p in yes), re.IGNORECASE),
            re.compile("|".join(f"(?:{p})" for p in no), re.IGNORECASE))


_BLOCKER_RE = re.compile("|".join(_merged_tuple(TEXT_STATUS_BLOCKERS)), re.IGNORECASE)
_NEGATOR_RE = re.compile("|".join(CLAUSE_NEGATORS), re.IGNORECASE)
_STATUS_PATTERNS = {"neutered": _compile(NEUTERED_TEXT),
                    "vaccinated": _compile(VACCINATED_TEXT)}


def status_from_text(description: str, which: str) -> str:
    """``"yes" | "no" | "unknown"`` from explicit statements in ``description``.

    ``which`` is ``"neutered"`` or ``"vaccinated"`` (lexicons :data:`NEUTERED_TEXT`,
    :data:`VACCINATED_TEXT`). The text is cut into clauses (at sentence marks, commas,
    "but"/"aber"); a clause counts only when it has no blocker from
    :data:`TEXT_STATUS_BLOCKERS` (future: "will be spayed", "wird kastriert"; duty: "must
    be"; doubt: "ob sie kastriert ist, wissen wir nicht"; another animal: "the mother is
    spayed"). Negations ("nicht kastriert", "unkastriert", "not yet neutered",
    "weder ... noch") give "no". Both "yes" and "no" in one text: "unknown".

    Raises:
        ValueError: for an unknown ``which``.
    """
    if which not in _STATUS_PATTERNS:
        raise ValueError(f"status_from_text: which={which!r}, expected one of "
                         f"{sorted(_STATUS_PATTERNS)}")
    yes_re, no_re = _STATUS_PATTERNS[which]
    found: set[str] = set()
    for clause in _CLAUSE_SPLIT_RE.split(description or ""):
        if not clause.strip() or _BLOCKER_RE.search(clause):
            continue
        negated_clause = bool(_NEGATOR_RE.search(clause))
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
    if isinstance(value, str) and value.strip().casefold() in UNKNOWN_TERMS | {""}:
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
        if word in {"yes", "true", "1", "ja", "y"}:
            return "yes"
        if word in {"no", "false", "0", "nein", "n"}:
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


_NULL_WORDS = frozenset({"none", "nan", "null", "undefined"})


def _scrub(text: str) -> str:
    """``""`` for a text that is only a stringified null ("None", "nan"), else ``text``."""
    return "" if text.casefold() in _NULL_WORDS else text


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


@functools_cache
def _name_vocabulary() -> tuple[frozenset[str], frozenset[str], frozenset[str], re.Pattern[str]]:
    """(title words, not-names, placeholders, trigger pattern) from the lexicon files."""
    title = frozenset(lexicon.fold(w) for w in lexicon.lookup("title_words") or [])
    not_names = frozenset(lexicon.fold(w) for w in lexicon.lookup("not_names") or [])
    placeholders = frozenset(lexicon.fold(w) for w in lexicon.lookup("name_placeholders") or [])
    triggers = [t for t in lexicon.lookup("name_triggers") or []]
    alternation = "|".join(t[3:] if t.startswith("re:") else r"\s+".join(map(re.escape, t.split()))
                           for t in sorted(triggers, key=len, reverse=True))
    trigger_re = re.compile(rf"(?<!\w)(?i:{alternation})[\s:,!-]+(?P<name>[A-ZÄÖÜ][^\W\d_]+)")
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
    if record.breed is not None and breed is None and _key(record.breed) in _STAGES and age_months is None:
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
