"""Hallucination rules: does a profile say anything its listing does not?

Pure functions, no Dagster. Each rule takes the normalized listing and the profile a model
wrote for it and returns :class:`Violation` objects (field, rule id, evidence, severity).
:data:`RULES` maps the rule ids to their functions; :func:`check_profile` runs them all;
:func:`check_translation` checks one translation of a profile's text.

=========================  ========  =====================================================
rule id                    severity  what fires it
=========================  ========  =====================================================
quote_not_found            error     a ``source_references`` entry that is not found in
                                     the listing (description or a structured value)
compatibility_unsupported  error     ``good_with_*`` other than "unknown" whose reference
                                     does not mention that animal / children
structured_fact_mismatch   error     description/tagline contradicting sex, age, breed,
                                     neutered, vaccinated or name of the listing
number_not_in_listing      error     a number in description/tagline that neither appears
                                     in nor follows from the listing
invented_need              error     medical/special/grooming needs without a supporting
                                     reference
unsupported_mention        error     description/tagline mentions cats, children, other
                                     dogs, a garden or an apartment; the listing does not
internal_contradiction     warn      two profile fields that cannot both hold
translation_wrong_language error     (check_translation) declared or detected language is
                                     not the target
translation_name_lost      error     (check_translation) the dog's name is gone
translation_number_lost    error     (check_translation) a number of the profile text is
                                     gone
=========================  ========  =====================================================

Vocabulary is data: ``vocab/<language>.yaml`` (one file per language, all files merged
key by key, see ``vocab/en.yaml`` for the term syntax). A new language is a new file.
Texts and terms are compared after :func:`fold` (NFKC, straight quotes, case folded,
umlauts spelled ``ae``/``oe``/``ue``/``ss``), so "Hündin" matches "Huendin".

Every threshold below (age tolerance, numbers always allowed) is our choice and written
down next to its constant; none is measured against human judgement yet. The rules aim at
precision: on the 4,948 real dogs the offline model profiles they must stay silent
(``benchmarks/offline_model_violations.py``), and on the hand-written evaluation set
(``enrichment_assets_tests/data/hallucination_cases.yaml``) precision and recall are each
at least 0.95 per rule (``benchmarks/hallucination_rules.py``).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from enrichment_assets.domain.grounding import split_sentences
from enrichment_assets.domain.models import DogProfile, NormalizedListing
from enrichment_assets.domain.normalize import detect_language

__all__ = [
    "ERROR",
    "WARN",
    "VOCAB_DIR",
    "Violation",
    "RULES",
    "SEVERITY",
    "TRANSLATION_RULES",
    "CONFUSABLE_LANGUAGES",
    "GOOD_WITH_TOPICS",
    "MENTION_TOPICS",
    "NEED_FIELDS",
    "CONTRADICTIONS",
    "AGE_TOLERANCE_MIN_MONTHS",
    "AGE_TOLERANCE_SHARE",
    "ALWAYS_ALLOWED_NUMBERS",
    "load_vocabulary",
    "use_vocabulary",
    "fold",
    "quote_in_text",
    "quote_found_in_listing",
    "numbers_in",
    "age_statements",
    "rule_quote_not_found",
    "rule_compatibility_unsupported",
    "rule_structured_fact_mismatch",
    "rule_number_not_in_listing",
    "rule_invented_need",
    "rule_unsupported_mention",
    "rule_internal_contradiction",
    "find_contradictions",
    "check_profile",
    "check_translation",
]

ERROR = "error"
WARN = "warn"

VOCAB_DIR = Path(__file__).resolve().with_name("vocab")
"""Folder of the vocabulary files (``*.yaml``, merged in file-name order)."""

AGE_TOLERANCE_MIN_MONTHS = 3.0
AGE_TOLERANCE_SHARE = 0.20
"""An age stated in the text may be off the listing's ``age_months`` by at most
``max(AGE_TOLERANCE_MIN_MONTHS, AGE_TOLERANCE_SHARE * age_months)`` months (our choice:
shelters estimate ages, and an estimate gets coarser with age: 3 months for a puppy,
about a year for a 5-year-old). "2 years" stands for 24-35 months, so a 30-month dog
may be called 2 or 3 years old."""

ALWAYS_ALLOWED_NUMBERS: frozenset[float] = frozenset({0.0, 1.0})
"""Numbers a text may use without the listing giving them: "one" is mostly not a count
in English ("one of the sweetest", "no one"), and 0/1 carry no invented fact of size."""


@dataclass(frozen=True)
class Violation:
    """One finding of a rule.

    ``field``: the profile field that holds the problem (``"description"``,
    ``"tagline"``, ``"good_with_cats"``, a ``source_references`` key, ...); ``rule``: the
    rule id (a key of :data:`RULES` or :data:`TRANSLATION_RULES`); ``evidence``: what was
    found, in words a reviewer can check; ``severity``: ``"error"`` or ``"warn"``.
    """

    field: str
    rule: str
    evidence: str
    severity: str

    def as_dict(self) -> dict[str, str]:
        """``{"field", "rule", "evidence", "severity"}`` (for JSON storage and tables)."""
        return asdict(self)


# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        return base + [v for v in extra if v not in base]
    return extra


@functools.cache
def load_vocabulary(directory: Path = VOCAB_DIR) -> dict[str, Any]:
    """All ``*.yaml`` files of ``directory`` merged into one mapping (cached per folder).

    Files are read in name order; mappings merge key by key, lists are concatenated
    (duplicates dropped), a scalar of a later file replaces an earlier one. Keys used by
    the rules: ``animals.{cats,dogs,other_pets}.{mention,evidence}``,
    ``{children,garden,apartment}.{mention,evidence}``, ``sex.{male,female}.{pronouns,
    words}``, ``persons``, ``{neutered,vaccinated}.{yes,no}``, ``negators``,
    ``status_blockers``, ``number_words``, ``half_words``, ``tens_words``, ``age.*``,
    ``identity_verbs``, ``name_triggers``, ``not_names``, ``name_placeholders``,
    ``needs.<field>``, ``aggression``, ``traits.*``, ``breeds.<id>``.

    Raises:
        FileNotFoundError: when ``directory`` holds no ``*.yaml`` file.
        ValueError: when a file is not a YAML mapping, or a term list holds a non-string
            (an unquoted ``yes``/``no``/``null`` that YAML read as a bool or None).
    """
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"no vocabulary files (*.yaml) in {directory}")
    merged: dict[str, Any] = {}
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: top level must be a mapping")
        _check_terms(data, path.name)
        merged = _merge(merged, data)
    return merged


def _check_terms(node: Any, where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string (quote it in YAML)")
            _check_terms(value, f"{where}:{key}")
    elif isinstance(node, list):
        for item in node:
            if not isinstance(item, str):
                raise ValueError(f"{where}: term {item!r} is not a string (quote it in YAML)")


_ACTIVE_VOCAB_DIR: list[Path] = [VOCAB_DIR]


def use_vocabulary(directory: Path | None = None) -> None:
    """Make the rules use the vocabulary files of ``directory`` (``None``: the packaged
    :data:`VOCAB_DIR`) and drop every pattern compiled from the previous one.

    For a deployment that keeps extra languages outside the package, and for tests.

    Raises:
        FileNotFoundError: when ``directory`` holds no ``*.yaml`` file (checked now).
        ValueError: a malformed file, see :func:`load_vocabulary`.
    """
    target = Path(directory) if directory is not None else VOCAB_DIR
    load_vocabulary(target)
    _ACTIVE_VOCAB_DIR[0] = target
    for cached in (_terms, _pattern, _mention_pattern, _evidence_pattern, _number_word_table,
                   _age_patterns, _breed_index, _name_patterns, _unit_patterns):
        cached.cache_clear()


def _vocab(*path: str) -> Any:
    node: Any = load_vocabulary(_ACTIVE_VOCAB_DIR[0])
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


# ---------------------------------------------------------------------------------------
# Folding and term patterns
# ---------------------------------------------------------------------------------------

_QUOTE_CHARS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                              "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"',
                              "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u2010": "-",
                              "\u2011": "-", "\u00a0": " ", "`": "'", "\u00b4": "'"})
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss",
                          "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_SPACE_RE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+(?=[,.;:!?)])")
_NAME_WORD_RE = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """``text`` for comparison: NFKC, curly quotes and dashes straight, case folded,
    ``ä/ö/ü/ß`` as ``ae/oe/ue/ss``, whitespace runs as one space (none before ``,.;:!?)``),
    stripped. ``None`` or ``""`` gives ``""``."""
    text = unicodedata.normalize("NFKC", text or "").translate(_QUOTE_CHARS).casefold()
    text = text.translate(_UMLAUTS)
    text = _SPACE_RE.sub(" ", text)
    return _SPACE_BEFORE_PUNCT_RE.sub("", text).strip()


def _term_regex(term: str) -> str:
    """The regex of one vocabulary term (syntax: see ``vocab/en.yaml``), for folded text."""
    if term.startswith("re:"):
        return term[3:].translate(_UMLAUTS)
    folded = fold(term)
    if not folded:
        return r"(?!x)x"
    suffix = folded.startswith("*")
    prefix = folded.endswith("*") and len(folded) > 1
    core = folded.strip("*")
    pieces = []
    for token in re.split(r"(\s+|-)", core):
        if not token:
            continue
        if token.isspace():
            pieces.append(r"[\s-]+")
        elif token == "-":
            pieces.append(r"[\s-]?")
        else:
            pieces.append(re.escape(token))
    body = "".join(pieces)
    left = r"(?<!\w)\w*" if suffix else r"(?<!\w)"
    right = r"\w*" if prefix else r"(?!\w)"
    return f"{left}{body}{right}"


def _compile_terms(terms: Iterable[str]) -> re.Pattern[str]:
    # Longest terms first, so an alternation prefers "pit bull terrier" over "terrier".
    unique = sorted(set(terms), key=lambda t: (-len(t), t))
    if not unique:
        return re.compile(r"(?!x)x")
    return re.compile("|".join(f"(?:{_term_regex(t)})" for t in unique), re.IGNORECASE)


@functools.cache
def _terms(*path: str) -> tuple[str, ...]:
    node = _vocab(*path)
    if isinstance(node, list):
        return tuple(node)
    if isinstance(node, dict):  # a mapping of lists: all of them
        out: list[str] = []
        for value in node.values():
            if isinstance(value, list):
                out.extend(value)
        return tuple(out)
    return ()


@functools.cache
def _pattern(*path: str) -> re.Pattern[str]:
    return _compile_terms(_terms(*path))


# ---------------------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------------------

GOOD_WITH_TOPICS: dict[str, str] = {
    "good_with_dogs": "dogs",
    "good_with_cats": "cats",
    "good_with_children": "children",
}
"""Compatibility field -> topic its reference must mention (rule 2)."""

MENTION_TOPICS: dict[str, tuple[str, ...]] = {
    "cats": ("animals", "cats"),
    "dogs": ("animals", "dogs"),
    "children": ("children",),
    "garden": ("garden",),
    "apartment": ("apartment",),
}
"""Topic -> vocabulary path of its ``mention``/``evidence`` lists (rules 2 and 6)."""

_TOPIC_WORDS = {"cats": "cats", "dogs": "other dogs", "children": "children",
                "garden": "a garden", "apartment": "an apartment"}


@functools.cache
def _mention_pattern(topic: str) -> re.Pattern[str]:
    return _compile_terms(_terms(*MENTION_TOPICS[topic], "mention"))


@functools.cache
def _evidence_pattern(topic: str) -> re.Pattern[str]:
    path = MENTION_TOPICS[topic]
    terms = list(_terms(*path, "mention")) + list(_terms(*path, "evidence"))
    if path[0] == "animals":
        terms += list(_terms("animals", "other_pets", "evidence"))
    return _compile_terms(terms)


# ---------------------------------------------------------------------------------------
# Quotes
# ---------------------------------------------------------------------------------------

_ELLIPSIS_RE = re.compile(r"\.\.\.+|…")
_NULL_REFERENCES = frozenset({"", "none", "null", "nan", "n/a", "na", "-", "unknown",
                              "undefined", "not mentioned", "not stated", "n.a."})


def quote_in_text(quote: str, text: str) -> bool:
    """True when ``quote`` occurs in ``text`` after :func:`fold` of both.

    Leading and trailing quote marks and punctuation of the quote are ignored. A quote
    shortened with "..." or "…" is found when each piece occurs, in order. An empty quote
    is never found.
    """
    haystack = fold(text)
    pieces = [p.strip(" \"'.,;:!?-") for p in _ELLIPSIS_RE.split(fold(quote))]
    pieces = [p for p in pieces if p]
    if not pieces:
        return False
    pos = 0
    for piece in pieces:
        at = haystack.find(piece, pos)
        if at < 0:
            return False
        pos = at + len(piece)
    return True


def _number_text(value: float) -> list[str]:
    if float(value).is_integer():
        return [str(int(value))]
    return [f"{value:g}", f"{value:g}".replace(".", ",")]


def _structured_values(listing: NormalizedListing) -> list[str]:
    values: list[str] = []
    for key in ("name", "breed", "sex", "size", "location", "currency", "url"):
        value = getattr(listing, key)
        if isinstance(value, str) and value.strip():
            values.append(value)
    for key in ("age_months", "weight_kg", "height_cm", "fee"):
        value = getattr(listing, key)
        if value is not None:
            values.extend(_number_text(float(value)))
    for key in ("neutered", "vaccinated"):
        value = getattr(listing, key)
        if value != "unknown":
            values.append(f"{key}: {value}")
    values.extend(v for v in listing.facts.values() if v)
    return values


def quote_found_in_listing(quote: str, listing: NormalizedListing) -> bool:
    """True when ``quote`` is found (:func:`quote_in_text`) in ``listing.description`` or in
    one structured value (name, breed, sex, size, location, currency, url, the numbers,
    ``"neutered: yes"``-style status, a ``facts`` value). A quote never spans two values."""
    if quote_in_text(quote, listing.description):
        return True
    return any(quote_in_text(quote, value) for value in _structured_values(listing))


def _is_null_reference(quote: Any) -> bool:
    return not isinstance(quote, str) or fold(quote).strip(" .\"'") in _NULL_REFERENCES


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------

_DIGITS_RE = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*")


@functools.cache
def _number_word_table() -> tuple[dict[str, float], re.Pattern[str], re.Pattern[str], str]:
    """(folded word -> value, word pattern, half pattern, bare alternation of the words)."""
    table: dict[str, float] = {}
    for word, value in (_vocab("number_words") or {}).items():
        table[fold(word)] = float(value)
    units = {w: v for w, v in table.items() if 1 <= v <= 9 and float(v).is_integer() and " " not in w}
    tens = [fold(t) for t in _terms("tens_words") if fold(t) in table]
    alternatives = []
    if tens and units:
        alternatives.append(
            rf"(?:{'|'.join(map(re.escape, tens))})[\s-](?:{'|'.join(map(re.escape, sorted(units, key=len, reverse=True)))})")
    words = sorted(table, key=len, reverse=True)
    alternatives.extend(re.escape(w) for w in words)
    bare = "|".join(alternatives) or r"(?!x)x"
    pattern = re.compile(rf"(?<!\w)(?:{bare})(?!\w)")
    half = _compile_terms(_terms("half_words"))
    return table, pattern, half, f"(?:{bare})"


def _word_value(word: str) -> float:
    table = _number_word_table()[0]
    word = fold(word)
    if word in table:
        return table[word]
    parts = re.split(r"[\s-]", word)
    return sum(table.get(p, 0.0) for p in parts)


def _digit_values(token: str) -> list[float]:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token):
        return [float(token.replace(",", ""))]  # 1,000
    if re.fullmatch(r"\d+[.,]\d+", token):
        return [float(token.replace(",", "."))]  # 12.5 / 12,5
    return [float(p) for p in re.split(r"[.,]", token) if p]  # 25.02.2017: three numbers


def numbers_in(text: str) -> list[tuple[int, int, float]]:
    """Numbers in ``text`` as ``(start, end, value)`` over :func:`fold` of the text.

    Digits ("12", "12.5", "12,5", "1,000"; a date "25.02.2017" gives 25, 2 and 2017) and
    the number words of the vocabulary (``number_words``: "two", "zwei", "twenty-five" =
    25 via ``tens_words``), each plus one half when a ``half_words`` entry follows ("two
    and a half" = 2.5).
    """
    folded = fold(text)
    table, word_re, half_re, _ = _number_word_table()
    out: list[tuple[int, int, float]] = []
    for m in _DIGITS_RE.finditer(folded):
        for value in _digit_values(m.group(0)):
            out.append((m.start(), m.end(), value))
    for m in word_re.finditer(folded):
        value = _word_value(m.group(0))
        end = m.end()
        half = half_re.match(folded, end + 1) if folded[end:end + 1] == " " else None
        if half:
            value += 0.5
            end = half.end()
        out.append((m.start(), end, value))
    return sorted(out)


# ---------------------------------------------------------------------------------------
# Ages
# ---------------------------------------------------------------------------------------

_WEEKS_PER_MONTH = 52.1775 / 12


@functools.cache
def _age_patterns() -> list[re.Pattern[str]]:
    _, word_re, _, bare = _number_word_table()
    num = rf"(?:\d+(?:[.,]\d+)?|{word_re.pattern})"
    glued_num = rf"(?:\d+(?:[.,]\d+)?|{bare})"
    one = _compile_terms(_terms("age", "one_words")).pattern
    half = rf"(?:\s*(?:{_compile_terms(_terms('half_words')).pattern}))?"
    units = {key: _compile_terms(_terms("age", key)).pattern for key in ("years", "months", "weeks")}
    unit = "|".join(f"(?P<{k[0]}>{p})" for k, p in units.items())
    old = _compile_terms(_terms("age", "old")).pattern
    prefixes = _compile_terms(_terms("age", "prefixes")).pattern
    qualifiers = _compile_terms(_terms("age", "qualifiers")).pattern
    glued = _vocab("age", "glued") or {}
    patterns = [
        # "2-year-old", "2 years old", "a year old", "3 Jahre alt"
        rf"(?P<num>{num}|{one}){half}[\s-]*(?:{unit})[\s-]*(?:{old})",
        # "is 2 years", "aged about 3 months", "im Alter von 3 Jahren"
        rf"(?:{prefixes})\s+(?:(?:{qualifiers})\s+)?(?P<num>{num}|{one}){half}[\s-]*(?:{unit})(?!\w)",
    ]
    glued_parts = [f"(?P<{k[0]}>{_compile_terms(glued.get(k, [])).pattern})"
                   for k in ("years", "months", "weeks") if glued.get(k)]
    if glued_parts:
        # "dreijährige", "3-jährig", "6-monatiger"
        glued_units = "|".join(p.replace(r"(?<!\w)", "") for p in glued_parts)
        patterns.append(rf"(?<!\w)(?P<num>{glued_num})[\s-]?(?:{glued_units})")
    return [re.compile(p, re.IGNORECASE) for p in patterns]


def age_statements(text: str) -> list[tuple[int, int, float, float, str]]:
    """The dog's ages stated in ``text``: ``(start, end, low, high, words)`` over
    :func:`fold` of the text, ``low``/``high`` in months.

    A number with a unit of ``age.years``/``months``/``weeks`` is an age when followed by
    an ``age.old`` word ("2-year-old", "3 Jahre alt"), preceded by an ``age.prefixes``
    word ("is 2 years", "aged 3 months"), or glued to an ``age.glued`` word
    ("dreijährig"). Not an age: one with a ``children`` word in the 40 characters before
    it ("kids over 5 years old"). Whole years stand for a year of ages ("2 years" = 24 to
    35 months), whole months for a month, weeks for a week; a fraction ("1.5 years") for
    its exact value.
    """
    folded = fold(text)
    children = _mention_pattern("children")
    seen: list[tuple[int, int]] = []
    out: list[tuple[int, int, float, float, str]] = []
    for pattern in _age_patterns():
        for m in pattern.finditer(folded):
            start, end = m.span("num")
            if any(s <= start < e for s, e in seen):
                continue
            if children.search(folded[max(0, start - 40):start]):
                continue
            token = m.group("num")
            if re.fullmatch(r"\d+(?:[.,]\d+)?", token):
                value = float(token.replace(",", "."))
            elif _number_word_table()[1].fullmatch(token):
                value = _word_value(token)
            else:
                value = 1.0  # "a", "ein"
            if folded[end:m.end()].lstrip().startswith(tuple(fold(h) for h in _terms("half_words"))):
                value += 0.5
            groups = m.groupdict()
            if groups.get("y"):
                low = value * 12
                high = low + 12 if value.is_integer() else low
            elif groups.get("m"):
                low = value
                high = value + 1 if value.is_integer() else value
            else:
                low = value / _WEEKS_PER_MONTH
                high = (value + 1) / _WEEKS_PER_MONTH if value.is_integer() else low
            seen.append((start, end))
            out.append((m.start(), m.end(), low, high, m.group(0)))
    return sorted(out)


def _age_distance(age: float, low: float, high: float) -> float:
    if low <= age <= high:
        return 0.0
    return low - age if age < low else age - high


# ---------------------------------------------------------------------------------------
# Rule 1: quote_not_found
# ---------------------------------------------------------------------------------------


def rule_quote_not_found(listing: NormalizedListing, profile: DogProfile) -> list[Violation]:
    """Rule ``quote_not_found`` (error): every ``source_references[field]`` must be a quote.

    A reference is found when :func:`quote_found_in_listing` finds it in the description
    or a structured value (whitespace, case, quote style and umlaut spelling ignored). A
    reference that is empty or only a null word ("None", "N/A", "not mentioned") is no
    quote and fires too. One violation per reference, ``field`` = its key.
    """
    out = []
    for field, quote in sorted(profile.source_references.items()):
        if _is_null_reference(quote):
            out.append(Violation(field, "quote_not_found",
                                 f"reference {quote!r} is not a quote", ERROR))
        elif not quote_found_in_listing(quote, listing):
            out.append(Violation(field, "quote_not_found",
                                 f"{_short(quote)!r} not found in the listing", ERROR))
    return out


# ---------------------------------------------------------------------------------------
# Rule 2: compatibility_unsupported
# ---------------------------------------------------------------------------------------


def rule_compatibility_unsupported(listing: NormalizedListing, profile: DogProfile) -> list[Violation]:
    """Rule ``compatibility_unsupported`` (error): a ``good_with_dogs/cats/children`` value
    other than "unknown" needs a ``source_references`` entry for that field whose text
    mentions that animal or children (vocabulary ``animals.<topic>`` and ``children``,
    ``mention`` + ``evidence`` lists; generic ``animals.other_pets`` words such as "no
    other pets" count for cats and dogs). Whether the quote is found is rule 1's job."""
    out = []
    for field, topic in GOOD_WITH_TOPICS.items():
        value = getattr(profile, field)
        if value == "unknown":
            continue
        quote = profile.source_references.get(field)
        if _is_null_reference(quote):
            out.append(Violation(field, "compatibility_unsupported",
                                 f"{field}={value!r} without a source reference", ERROR))
        elif not _evidence_pattern(topic).search(fold(quote)):
            out.append(Violation(field, "compatibility_unsupported",
                                 f"{field}={value!r} but its reference {_short(quote)!r} does "
                                 f"not mention {_TOPIC_WORDS[topic]}", ERROR))
    return out


# ---------------------------------------------------------------------------------------
# Rule 3: structured_fact_mismatch
# ---------------------------------------------------------------------------------------

_CLAUSE_RE = re.compile(r"[.!?;,:\n]+|\s(?:but|however|although|aber|jedoch|doch)\s")


def _profile_texts(profile: DogProfile) -> dict[str, str]:
    return {"description": profile.description, "tagline": profile.tagline}


def _sex_mismatch(listing: NormalizedListing, text: str) -> str | None:
    opposite = {"male": "female", "female": "male"}.get(listing.sex)
    if opposite is None:
        return None
    words = _pattern("sex", opposite, "words")
    pronouns = _pattern("sex", opposite, "pronouns")
    persons = _pattern("persons")
    # The dog's own name may hold such a word ("Bell Boy" is a female dog's name).
    name_words = [re.escape(w) for w in _NAME_WORD_RE.findall(fold(listing.name or ""))]
    own_name = re.compile(rf"(?<!\w)(?:{'|'.join(name_words)})(?!\w)") if name_words else None
    other_before = _pattern("sex", "other_before")
    for sentence in split_sentences(text):
        folded = fold(sentence)
        if own_name is not None:
            folded = own_name.sub(" ", folded)
        hit = None
        for m in words.finditer(folded):
            before = " ".join(re.findall(r"[\w'-]+", folded[:m.start()])[-3:])
            if not other_before.search(before):
                hit = m
                break
        if hit is None and not persons.search(folded):
            hit = pronouns.search(folded)
        if hit:
            return f"{hit.group(0)!r} in {_short(sentence)!r} but the listing's sex is {listing.sex}"
    return None


def _age_mismatch(listing: NormalizedListing, text: str) -> str | None:
    age = listing.age_months
    if age is None:
        return None
    tolerance = max(AGE_TOLERANCE_MIN_MONTHS, AGE_TOLERANCE_SHARE * age)
    for _, _, low, high, words in age_statements(text):
        if _age_distance(age, low, high) > tolerance:
            return (f"{words!r} but the listing's age is {age} months "
                    f"(tolerance {tolerance:g} months)")
    return None


@functools.cache
def _breed_index() -> tuple[tuple[tuple[str, str | None, re.Pattern[str]], ...], dict[str, tuple[str, ...]]]:
    """((breed id, keyword or None, term regex) per term, id -> folded names).

    The keyword is the longest word of the term: a text without it cannot match, so the
    term's regex is not run (most texts name no breed at all).
    """
    breeds = _vocab("breeds") or {}
    entries = []
    names: dict[str, tuple[str, ...]] = {}
    for breed_id, values in breeds.items():
        names[breed_id] = tuple(fold(v).strip("*") for v in values if not v.startswith("re:"))
        for term in values:
            keyword = None
            if not term.startswith("re:"):
                words = [w for w in re.split(r"[\s*-]+", fold(term)) if w]
                keyword = max(words, key=len) if words else None
            entries.append((breed_id, keyword, re.compile(_term_regex(term), re.IGNORECASE)))
    return tuple(entries), names


def _breeds_in(folded: str) -> dict[str, str]:
    """Breed id -> words naming it in ``folded``; overlapping names: the longest wins
    ("Jack Russell Terrier" names jack_russell, not terrier)."""
    spans: list[tuple[int, int, str]] = []
    for breed_id, keyword, regex in _breed_index()[0]:
        if keyword is not None and keyword not in folded:
            continue
        spans.extend((m.start(), m.end(), breed_id) for m in regex.finditer(folded) if m.end() > m.start())
    kept: list[tuple[int, int, str]] = []
    for start, end, breed_id in sorted(spans, key=lambda x: (-(x[1] - x[0]), x[0])):
        if any(s < end and start < e for s, e, _ in kept):
            continue
        kept.append((start, end, breed_id))
    found: dict[str, str] = {}
    for start, end, breed_id in sorted(kept):
        found.setdefault(breed_id, folded[start:end])
    return found


def _breed_mismatch(listing: NormalizedListing, text: str) -> str | None:
    named = _breeds_in(fold(text))
    if not named:
        return None
    listing_text = " | ".join(fold(t) for t in (listing.breed or "", listing.name, listing.description,
                                                  listing.facts.get("breed", "")))
    known = _breeds_in(listing_text)
    names = _breed_index()[1]
    known_names = [n for breed_id in known for n in names.get(breed_id, ())]
    for breed_id, words in named.items():
        if breed_id in known:
            continue
        # A general name is fine when a named breed contains it ("terrier" for a
        # "Jack Russell Terrier", "Schäferhund" for a "Deutscher Schäferhund").
        general = names.get(breed_id, ())
        if any(re.search(rf"(?<!\w){re.escape(g)}", n) for g in general if g for n in known_names):
            continue
        shown = listing.breed or "no breed"
        return f"names the breed {words!r}; the listing names {shown!r}"
    return None


def _status_in(text: str, which: str) -> tuple[str, str] | None:
    """("yes"|"no", words) when ``text`` states the neutered/vaccinated status; else None.

    Clauses (cut at punctuation and "but"/"aber") with a ``status_blockers`` word are
    skipped; a ``<which>.no`` term or a ``negators`` word before a ``<which>.yes`` term
    gives "no". Both in one text: the first one found.
    """
    yes_re, no_re = _pattern(which, "yes"), _pattern(which, "no")
    negators, blockers = _pattern("negators"), _pattern("status_blockers")
    for clause in _CLAUSE_RE.split(fold(text)):
        if not clause.strip() or blockers.search(clause):
            continue
        no_hit = no_re.search(clause)
        if no_hit:
            return "no", no_hit.group(0)
        yes_hit = yes_re.search(clause)
        if yes_hit:
            if negators.search(clause[:yes_hit.start()]):
                return "no", clause.strip()
            return "yes", yes_hit.group(0)
    return None


def _status_mismatch(listing: NormalizedListing, text: str, which: str) -> str | None:
    found = _status_in(text, which)
    if found is None:
        return None
    said, words = found
    actual = getattr(listing, which)
    if said == actual:
        return None
    return f"says {which}={said} ({words!r}) but the listing says {actual}"


_WORD_AFTER = r"[^\W\d_][^\s,.;:!?()\"“”]*"


def _original_alternation(terms: Iterable[str]) -> str:
    """An alternation of ``terms`` for text that is not folded (umlauts either way)."""
    out = []
    for term in sorted(set(terms), key=len, reverse=True):
        if term.startswith("re:"):
            out.append(term[3:])
            continue
        out.append("".join(
            r"\s+" if ch.isspace() else {"ä": "(?:ä|ae)", "ö": "(?:ö|oe)", "ü": "(?:ü|ue)",
                                         "ß": "(?:ß|ss)"}.get(ch.lower(), re.escape(ch))
            for ch in term))
    return "|".join(out) or r"(?!x)x"


@functools.cache
def _name_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(trigger + word, sentence-initial word + identity verb, age at the start of folded
    text)."""
    triggers = _original_alternation(_terms("name_triggers"))
    trigger_re = re.compile(rf"(?<!\w)(?i:{triggers})[\s:,-]+(?P<name>{_WORD_AFTER})")
    verbs = _original_alternation(_terms("identity_verbs"))
    identity_re = re.compile(
        rf"^[^\w]*(?P<name>{_WORD_AFTER})(?:\s+\S+){{0,3}}?\s+(?i:{verbs})\s+(?=\S)")
    word_re = _number_word_table()[1]
    units = _compile_terms([*_terms("age", "years"), *_terms("age", "months"),
                            *_terms("age", "weeks")]).pattern
    age_re = re.compile(rf"(?:\d+(?:[.,]\d+)?|{word_re.pattern})[\s-]*(?:{units})", re.IGNORECASE)
    return trigger_re, identity_re, age_re


def _name_candidates(text: str) -> list[str]:
    """Capitalized words the text uses as the dog's name (see rule 3)."""
    trigger_re, identity_re, age_re = _name_patterns()
    found = [m.group("name") for m in trigger_re.finditer(text)]
    for sentence in split_sentences(text):
        m = identity_re.match(sentence)
        if m and age_re.match(fold(sentence[m.end():])):
            found.append(m.group("name"))
    return [c for c in found if c[:1].isupper()]


def _name_mismatch(listing: NormalizedListing, text: str) -> str | None:
    name_words = {fold(w) for w in _NAME_WORD_RE.findall(listing.name or "")}
    full = fold(listing.name or "")
    not_names = {fold(w) for w in _terms("not_names")}
    for candidate in _name_candidates(text):
        parts = _NAME_WORD_RE.findall(fold(re.sub(r"['’]s$", "", candidate)))
        if not parts or parts[0] in not_names:
            continue
        if parts[0] in name_words or (full and parts[0] in full):
            continue
        shown = listing.name if listing.name.strip() else "no name"
        return f"calls the dog {candidate!r}; the listing's name is {shown!r}"
    return None


def rule_structured_fact_mismatch(listing: NormalizedListing, profile: DogProfile) -> list[Violation]:
    """Rule ``structured_fact_mismatch`` (error): description and tagline may not contradict
    the listing's structured facts. At most one violation per text field and fact:

    * sex: a word of the other sex (``sex.<sex>.words``: "female", "Hündin") that has no
      ``sex.other_before`` word among the three words before it ("lives with a female
      dog"), or a pronoun of the other sex ("she", "her") in a sentence that names no
      other person or animal (``persons``: "her foster mom", "another dog"); only for
      listings with sex male or female. The dog's own name is not searched ("Bell Boy").
    * age: an age stated in the text (:func:`age_statements`) further from
      ``age_months`` than :data:`AGE_TOLERANCE_MIN_MONTHS` /
      :data:`AGE_TOLERANCE_SHARE` allow; skipped when the listing has no age.
    * breed: a breed (``breeds``) that neither the listing's breed, name nor
      description names, in any language, nor is contained in a breed they name.
    * neutered / vaccinated: the text states "yes" while the listing says "no" or
      "unknown", or states "no" while the listing says "yes" or "unknown".
    * name: a capitalized word after a ``name_triggers`` phrase ("Meet X", "named X",
      "das ist X") or a sentence "X is a 2-year-old ..." that is not a word of the
      listing's name (``not_names`` words are skipped). An empty name makes every such
      word a violation.
    """
    out = []
    for field, text in _profile_texts(profile).items():
        checks: list[tuple[str, str | None]] = [
            ("sex", _sex_mismatch(listing, text)),
            ("age", _age_mismatch(listing, text)),
            ("breed", _breed_mismatch(listing, text)),
            ("neutered", _status_mismatch(listing, text, "neutered")),
            ("vaccinated", _status_mismatch(listing, text, "vaccinated")),
            ("name", _name_mismatch(listing, text)),
        ]
        for fact, problem in checks:
            if problem:
                out.append(Violation(field, "structured_fact_mismatch", f"{fact}: {problem}", ERROR))
    return out


# ---------------------------------------------------------------------------------------
# Rule 4: number_not_in_listing
# ---------------------------------------------------------------------------------------


def _close(value: float, allowed: Iterable[float]) -> bool:
    return any(abs(value - a) < 1e-6 for a in allowed)


@functools.cache
def _unit_patterns() -> dict[str, re.Pattern[str]]:
    """Role -> pattern of the unit words that may follow a number of that role."""
    glued = _vocab("age", "glued") or {}
    age_terms = [*_terms("age", "years"), *_terms("age", "months"), *_terms("age", "weeks")]
    age_terms += [t for values in glued.values() for t in values]
    patterns = {"age": _compile_terms(age_terms)}
    for role in ("weight", "height"):
        patterns[role] = _compile_terms(_terms("units", role))
    return {role: re.compile(rf"[\s-]*(?:{p.pattern})", re.IGNORECASE) for role, p in patterns.items()}


def _allowed_numbers(listing: NormalizedListing) -> tuple[set[float], dict[str, set[float]]]:
    """(numbers allowed anywhere, role -> numbers allowed only before a unit of the role).

    Anywhere: :data:`ALWAYS_ALLOWED_NUMBERS`, the numbers of the listing's texts, and the
    exact structured values (age in months, weight, height, fee). With a unit only: what
    is derived from them (years and weeks of the age, rounded kg, pounds, inches), since a
    derived value can meet a count by chance (a 46-month dog is "3 years", not "3 cats").
    """
    anywhere: set[float] = set(ALWAYS_ALLOWED_NUMBERS)
    derived: dict[str, set[float]] = {"age": set(), "weight": set(), "height": set()}
    for text in (listing.description, listing.name, listing.breed or "", listing.location or "",
                 *listing.facts.values()):
        anywhere.update(value for _, _, value in numbers_in(text))
    if listing.age_months is not None:
        months = float(listing.age_months)
        years = months / 12
        weeks = months * _WEEKS_PER_MONTH
        anywhere.add(months)
        derived["age"].update({months, round(years, 1), float(math.floor(years)), float(math.ceil(years)),
                               float(math.floor(weeks)), float(math.ceil(weeks))})
        if (2 * years).is_integer():
            derived["age"].add(years)
    for role, value, per_unit in (("weight", listing.weight_kg, 2.20462), ("height", listing.height_cm, 1 / 2.54)):
        if value is not None:
            other = value * per_unit  # pounds, inches
            anywhere.add(value)
            derived[role].update({value, round(value, 1), float(math.floor(value)), float(math.ceil(value)),
                                  round(other, 1), float(math.floor(other)), float(math.ceil(other))})
    if listing.fee is not None:
        anywhere.update({listing.fee, float(math.floor(listing.fee)), float(math.ceil(listing.fee))})
    return anywhere, derived


def rule_number_not_in_listing(listing: NormalizedListing, profile: DogProfile) -> list[Violation]:
    """Rule ``number_not_in_listing`` (error): every number in description and tagline
    (digits and number words, :func:`numbers_in`) must appear in or follow from the
    listing. Allowed anywhere: a number of the listing's description, name, breed,
    location or facts (quantity, ...), the exact age in months, weight, height and fee,
    and :data:`ALWAYS_ALLOWED_NUMBERS`. Allowed only right before a unit of its kind
    (``age.*`` words, ``units.weight``, ``units.height``): the derived values, i.e. the
    age in years or weeks (rounded down or up, or one decimal), the weight rounded or in
    pounds, the height rounded or in inches. Numbers inside an age statement are left to
    rule 3 when the listing has an age (an estimate within the tolerance is not an
    invented number). One violation per text field listing all offending numbers.
    """
    anywhere, derived = _allowed_numbers(listing)
    units = _unit_patterns()
    out = []
    for field, text in _profile_texts(profile).items():
        skip: list[tuple[int, int]] = []
        if listing.age_months is not None:
            skip = [(s, e) for s, e, _, _, _ in age_statements(text)]
        folded = fold(text)
        bad = []
        for start, end, value in numbers_in(text):
            if any(s <= start < e for s, e in skip) or _close(value, anywhere):
                continue
            if any(units[role].match(folded, end) and _close(value, allowed)
                   for role, allowed in derived.items()):
                continue
            bad.append(folded[start:end])
        if bad:
            out.append(Violation(field, "number_not_in_listing",
                                 f"{', '.join(repr(b) for b in dict.fromkeys(bad))} not in the listing",
                                 ERROR))
    return out


# ---------------------------------------------------------------------------------------
# Rule 5: invented_need
# ---------------------------------------------------------------------------------------

NEED_FIELDS: tuple[str, ...] = ("medical_needs", "special_needs", "grooming_needs")
"""Fields that stay null without a supporting reference (rule 5)."""


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return fold(value).strip(" .") not in _NULL_REFERENCES
    return True


def rule_invented_need(listing: NormalizedListing, profile: DogProfile) -> list[Violation]:
    """Rule ``invented_need`` (error): ``medical_needs``, ``special_needs`` and
    ``grooming_needs`` stay null unless a supporting reference exists: a
    ``source_references`` entry for the field that is found in the listing
    (:func:`quote_found_in_listing`) and mentions the topic (vocabulary
    ``needs.<field>``: "vet", "medication", "Maulkorb", "brushing", ...). A value that is
    only a null word ("None") counts as null (its leak is the rubric's business)."""
    out = []
    for field in NEED_FIELDS:
        value = getattr(profile, field)
        if not _filled(value):
            continue
        quote = profile.source_references.get(field)
        shown = _short(str(value), 60)
        if _is_null_reference(quote):
            problem = "without a source reference"
        elif not quote_found_in_listing(quote, listing):
            problem = f"with a reference not found in the listing ({_short(quote, 60)!r})"
        elif not _pattern("needs", field).search(fold(quote)):
            problem = f"with a reference that does not mention it ({_short(quote, 60)!r})"
        else:
            continue
        out.append(Violation(field, "invented_need", f"{field}={shown!r} {problem}", ERROR))
    return out


# ---------------------------------------------------------------------------------------
# Rule 6: unsupported_mention
# ---------------------------------------------------------------------------------------


def _own_words(listing: NormalizedListing) -> re.Pattern[str] | None:
    """The listing's breed (as written) and the words of its name, as one pattern over
    folded text: a profile repeating them mentions nothing ("New Kids On The Block" is a
    name, "Flat-coated Retriever" a breed)."""
    parts = [re.escape(w) for w in _NAME_WORD_RE.findall(fold(listing.name or ""))]
    if listing.breed:
        parts.insert(0, re.escape(fold(listing.breed)))
    if not parts:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(sorted(parts, key=len, reverse=True))})(?!\w)")


def rule_unsupported_mention(listing: NormalizedListing, profile: DogProfile) -> list[Violation]:
    """Rule ``unsupported_mention`` (error): description and tagline may mention cats,
    children, other dogs, a garden or an apartment (the ``mention`` lists of
    :data:`MENTION_TOPICS`; the dog's own name and the listing's breed are not searched:
    "New Kids On The Block", "Flat-coated Retriever") only when the listing does: its description or a facts value
    matches the topic's ``mention`` or lenient ``evidence`` list (for animals also
    ``animals.other_pets``: "no other pets" supports a sentence about cats). One
    violation per text field and topic."""
    listing_text = fold(" \n ".join([listing.description, *listing.facts.values()]))
    own = _own_words(listing)
    out = []
    for field, text in _profile_texts(profile).items():
        folded = own.sub(" ", fold(text)) if own is not None else fold(text)
        for topic in MENTION_TOPICS:
            hit = _mention_pattern(topic).search(folded)
            if hit and not _evidence_pattern(topic).search(listing_text):
                out.append(Violation(field, "unsupported_mention",
                                     f"mentions {_TOPIC_WORDS[topic]} ({hit.group(0)!r}); "
                                     "the listing does not", ERROR))
    return out


# ---------------------------------------------------------------------------------------
# Rule 7: internal_contradiction
# ---------------------------------------------------------------------------------------

CONTRADICTIONS: tuple[tuple[str, frozenset[str], str, frozenset[str] | tuple[str, ...], str], ...] = (
    ("confidence", frozenset({"shy"}), "sociability", frozenset({"very_social"}),
     "a shy dog that is very social"),
    ("energy_level", frozenset({"high", "very_high"}), "exercise_needs", frozenset({"minimal"}),
     "a high-energy dog with minimal exercise needs"),
    ("energy_level", frozenset({"low"}), "exercise_needs", frozenset({"high"}),
     "a low-energy dog with high exercise needs"),
    ("trainability", frozenset({"challenging"}), "experience_level", frozenset({"first_time_ok"}),
     "a dog that is hard to train recommended to first-time owners"),
    ("experience_level", frozenset({"first_time_ok"}), "special_needs", ("aggression",),
     "aggression or reactivity recommended to first-time owners"),
    ("confidence", frozenset({"confident"}), "personality_traits", ("traits", "shy"),
     "a confident dog described as shy"),
    ("confidence", frozenset({"shy"}), "personality_traits", ("traits", "confident"),
     "a shy dog described as confident"),
    ("energy_level", frozenset({"low"}), "personality_traits", ("traits", "energetic"),
     "a low-energy dog described as energetic"),
    ("energy_level", frozenset({"very_high"}), "personality_traits", ("traits", "calm"),
     "a very high-energy dog described as calm"),
)
"""(field, values, other field, other values, what is wrong). The other values are either
enum values or a vocabulary path (a tuple of keys) whose terms, found in the other field's
text (a list is joined), make the pair contradict (rule 7)."""


def find_contradictions(values: Mapping[str, Any]) -> list[tuple[str, str, list[str], str]]:
    """The :data:`CONTRADICTIONS` that hold in ``values`` (profile field -> value).

    Returns ``(field, other field, offending, what)`` per contradiction: ``offending`` is
    ``[]`` for an enum pair, else the items of the other field (list items, or the text)
    in which the vocabulary found its words. Missing fields count as None. Used by rule
    7 and by the offline model, which drops such pairs before writing a profile.
    """
    out = []
    for field_a, values_a, field_b, values_b, what in CONTRADICTIONS:
        a = values.get(field_a)
        if a not in values_a:
            continue
        b = values.get(field_b)
        if isinstance(values_b, frozenset):
            if b in values_b:
                out.append((field_a, field_b, [], what))
            continue
        items = [str(v) for v in b] if isinstance(b, (list, tuple)) else ([b] if isinstance(b, str) else [])
        pattern = _pattern(*values_b)
        offending = [item for item in items if pattern.search(fold(item))]
        if offending:
            out.append((field_a, field_b, offending, what))
    return out


def rule_internal_contradiction(listing: NormalizedListing, profile: DogProfile) -> list[Violation]:
    """Rule ``internal_contradiction`` (warn): pairs of profile fields that cannot both
    hold (:data:`CONTRADICTIONS`, found by :func:`find_contradictions`): shy with
    very_social, high/very_high energy with minimal exercise, low energy with high
    exercise, challenging training or aggression (``aggression`` vocabulary in
    special_needs) with first_time_ok, and personality traits (``traits.*`` vocabulary)
    against confidence or energy. ``field`` = the first field of the pair. The listing is
    not used (the signature is the rules' one)."""
    values = profile.model_dump()
    out = []
    for field_a, field_b, offending, what in find_contradictions(values):
        shown = f"{field_b}={values[field_b]}" if not offending else f"{field_b} {offending!r}"
        out.append(Violation(field_a, "internal_contradiction",
                             f"{field_a}={values[field_a]} with {shown} ({what})", WARN))
    return out


# ---------------------------------------------------------------------------------------
# All rules
# ---------------------------------------------------------------------------------------

Rule = Callable[[NormalizedListing, DogProfile], list[Violation]]

RULES: dict[str, Rule] = {
    "quote_not_found": rule_quote_not_found,
    "compatibility_unsupported": rule_compatibility_unsupported,
    "structured_fact_mismatch": rule_structured_fact_mismatch,
    "number_not_in_listing": rule_number_not_in_listing,
    "invented_need": rule_invented_need,
    "unsupported_mention": rule_unsupported_mention,
    "internal_contradiction": rule_internal_contradiction,
}
"""Rule id -> rule function, in the order :func:`check_profile` runs them."""

SEVERITY: dict[str, str] = {
    "quote_not_found": ERROR,
    "compatibility_unsupported": ERROR,
    "structured_fact_mismatch": ERROR,
    "number_not_in_listing": ERROR,
    "invented_need": ERROR,
    "unsupported_mention": ERROR,
    "internal_contradiction": WARN,
    "translation_wrong_language": ERROR,
    "translation_name_lost": ERROR,
    "translation_number_lost": ERROR,
}
"""Rule id -> severity of its violations."""

TRANSLATION_RULES: tuple[str, ...] = ("translation_wrong_language", "translation_name_lost",
                                      "translation_number_lost")
"""Rule ids of :func:`check_translation`."""


def check_profile(listing: NormalizedListing, profile: DogProfile,
                  rules: Sequence[str] | None = None) -> list[Violation]:
    """All violations of ``profile`` against ``listing``: every rule of :data:`RULES`
    (or only the ids in ``rules``), in that order.

    Raises:
        KeyError: for an unknown rule id in ``rules``.
    """
    selected = list(RULES) if rules is None else list(rules)
    out: list[Violation] = []
    for rule_id in selected:
        out.extend(RULES[rule_id](listing, profile))
    return out


# ---------------------------------------------------------------------------------------
# Translations
# ---------------------------------------------------------------------------------------


CONFUSABLE_LANGUAGES: dict[str, frozenset[str]] = {
    "es": frozenset({"gl", "ca"}),
    "pt": frozenset({"gl"}),
    "gl": frozenset({"es", "pt"}),
    "ms": frozenset({"id"}),
    "id": frozenset({"ms"}),
    "no": frozenset({"nb", "nn", "da"}),
    "nb": frozenset({"no", "nn", "da"}),
    "da": frozenset({"no", "nb"}),
    "hr": frozenset({"bs", "sr"}),
    "sr": frozenset({"bs", "hr"}),
    "bs": frozenset({"hr", "sr"}),
}
"""Target language -> detector answers that also count as that language: close siblings
the detector confuses on short texts (measured: one offline Spanish translation of 562
was detected as Galician). Our choice; a real mix-up between these is left undetected."""


def _base_language(code: str) -> str:
    return (code or "").strip().lower().replace("_", "-").split("-", 1)[0]


def _real_name(name: str) -> str | None:
    clean = (name or "").strip()
    if sum(ch.isalpha() for ch in clean) < 2:
        return None
    if fold(clean) in {fold(p) for p in _terms("name_placeholders")}:
        return None
    return clean


def check_translation(listing: NormalizedListing, profile: DogProfile, translated_language: str,
                      tagline: str, description: str, target_language: str) -> list[Violation]:
    """Violations of one translation (``tagline`` + ``description``) of ``profile``'s text.

    * ``translation_wrong_language``: the declared ``translated_language`` or the language
      :func:`~enrichment_assets.domain.normalize.detect_language` finds in tagline +
      description differs from ``target_language`` (base codes compared: "de-AT" = "de").
      Detection is skipped when it answers "und" (text too short or unclear); a close
      sibling of the target (:data:`CONFUSABLE_LANGUAGES`: Galician for Spanish) passes.
    * ``translation_name_lost``: the listing has a real name (2+ letters, not a
      ``name_placeholders`` word), the profile's tagline or description contains it, and
      the translation does not (compared after :func:`fold`).
    * ``translation_number_lost``: a number of the profile's tagline + description
      (:func:`numbers_in`, values of :data:`ALWAYS_ALLOWED_NUMBERS` excepted: "one" has no
      stable translation) is missing from the translation. Number words of every
      vocabulary language count ("two" -> "zwei" keeps 2).

    ``field`` is ``"translation"``; all three are errors.
    """
    out: list[Violation] = []
    target = _base_language(target_language)
    text = f"{tagline}\n{description}"
    declared = _base_language(translated_language)
    if declared and declared != target:
        out.append(Violation("translation", "translation_wrong_language",
                             f"declared language {translated_language!r}, target {target_language!r}",
                             ERROR))
    else:
        detected = detect_language(text)
        if detected not in ("und", target) and detected not in CONFUSABLE_LANGUAGES.get(target, ()):
            out.append(Violation("translation", "translation_wrong_language",
                                 f"text detected as {detected!r}, target {target_language!r}", ERROR))
    source = f"{profile.tagline}\n{profile.description}"
    name = _real_name(listing.name)
    if name and fold(name) in fold(source) and fold(name) not in fold(text):
        out.append(Violation("translation", "translation_name_lost",
                             f"name {name!r} is in the profile text but not in the translation", ERROR))
    kept = [value for _, _, value in numbers_in(text)]
    lost = []
    for _, _, value in numbers_in(source):
        if value in ALWAYS_ALLOWED_NUMBERS or _close(value, kept):
            continue
        lost.append(f"{value:g}")
    if lost:
        out.append(Violation("translation", "translation_number_lost",
                             f"number(s) {', '.join(dict.fromkeys(lost))} missing in the translation",
                             ERROR))
    return out
