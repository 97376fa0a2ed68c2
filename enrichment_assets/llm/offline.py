"""The offline model ``offline/rules``: a rule-based profiler and template translator.

It is NOT a language model. It is a deterministic LiteLLM custom provider, so the whole
pipeline runs without network access and without an API key. Responses name themselves
``offline/rules (rule-based, not an LLM)`` in ``response.model``.

Public names:

* :data:`OFFLINE_MODEL`, :data:`OFFLINE_MODEL_LABEL`
* :func:`profile_from_facts` -- listing facts (the JSON object of a ``<listing_data>``
  block) -> :class:`DogProfile`. Pure, no litellm.
* :func:`translate_profile` -- the JSON object of a ``<profile_data>`` block ->
  :class:`TranslatedProfileText`. Pure, no litellm.
* :func:`split_sentences` -- sentence spans of a text: the project's one splitter,
  :func:`enrichment_assets.domain.grounding.sentence_spans`.
* :class:`OfflineRulesLLM` -- the ``litellm.CustomLLM`` subclass (created on first access,
  so importing this module does not import litellm, see ``../shared/FACTS.md``).
* :func:`register_offline_provider` -- registers the handler and its zero cost.

How a profile is found (all rules are data in the lexicon, ``enrichment_assets/lexicon``):

1. The description is split into sentences (:func:`split_sentences`). Sentences addressed
   to a model (:func:`enrichment_assets.domain.instructions.is_instruction`: any language
   of the lexicon, homoglyphs, zero-width characters and spaced letters folded) are ignored
   entirely.
2. Every pattern of the lexicon's ``offline_model`` sections (``profile``: field -> value
   -> regexes; ``traits``, ``activities``, ``medical_needs``, ``special_needs``: English
   label -> regexes; one table per language file, English and German today) is searched
   case-insensitively; patterns are written with umlauts and also match the
   ``ae``/``oe``/``ue``/``ss`` spellings. (Speed: each regex carries the literals one of
   which any match must contain, derived from its parse tree; a regex whose literals are
   all absent is not run. All 8,132 PetFinder dogs take about 5 s.)
3. A hit is dropped when its clause is uncertain (``uncertainty_regexes``: "not sure",
   "ob", "keine Erfahrungswerte", a question). A negator right before it (or inside it,
   or shortly after it in a language with ``negation_lookahead``, German; ``negators``)
   turns the value into the one :data:`NEGATION_RULES` names, or drops the hit ("not good
   with cats" -> ``no``; "not calm" -> nothing). Hedges (``hedges``: "bedingt",
   "sometimes") turn a ``yes`` into ``maybe``.
4. Per field: good_with_* with conflicting evidence becomes ``maybe``; other fields take
   the majority value, and a tie leaves the field unknown. The quote of the deciding hit
   (a verbatim substring of the description) goes to ``source_references[field]``.

Everything without evidence stays ``None`` / ``"unknown"``. The English description and
tagline, and the translations, are rendered from the found fields and the structured
facts with per-language templates (the lexicon's ``offline_model.templates``), never from free text, so they can only
say what the facts say.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from enrichment_assets import lexicon
from enrichment_assets.domain.grounding import sentence_spans
from enrichment_assets.domain.models import DogProfile, TranslatedProfileText
from enrichment_assets.domain.prefilter import required_keywords as _required_keywords
from enrichment_assets.llm.prompts import LISTING_TAG, PROFILE_TAG, parse_data_block

__all__ = [
    "OFFLINE_MODEL",
    "OFFLINE_MODEL_LABEL",
    "OFFLINE_PROVIDER",
    "SUPPORTED_LANGUAGES",
    "OfflineRulesLLM",
    "register_offline_provider",
    "profile_from_facts",
    "translate_profile",
    "split_sentences",
    "estimate_tokens",
]

OFFLINE_PROVIDER = "offline"
OFFLINE_MODEL = "offline/rules"
OFFLINE_MODEL_LABEL = "offline/rules (rule-based, not an LLM)"

# =======================================================================================
# Lexicons: the offline_model sections of the lexicon's language files
# (enrichment_assets/lexicon/<lang>.yaml; syntax at the top of offline_model in en.yaml).
# Regexes are matched case-insensitively; German is written with umlauts (never inside a
# [character class]) and the ae/oe/ue/ss spellings match as well. A pattern starting with
# "(?#fixed)" carries its own negation ("keine Treppen") and is exempt from the negation
# and hedge rules.
# =======================================================================================

_FIX = "(?#fixed)"  # marks a pattern that carries its own negation (see the note above)
_FRAGMENT_RE = re.compile(r"\{([a-z_]+)\}")


@lexicon.cached
def _fragments() -> dict[str, str]:
    """Fragment name -> regex, from every language's ``offline_model.fragments``."""
    return {str(k): str(v) for k, v in lexicon.mapping("offline_model", "fragments").items()}


def _expand_fragments(pattern: str) -> str:
    fragments = _fragments()
    return _FRAGMENT_RE.sub(lambda m: fragments.get(m.group(1), m.group(0)), pattern)


def _by_language(section: str, depth: int) -> dict[str, Any]:
    """``offline_model.<section>`` of every language as one table whose leaves are
    ``{lang: [pattern, ...]}`` (fragments expanded): ``depth`` 2 is field -> value -> lang,
    ``depth`` 1 is label -> lang. Keys keep their first file's order."""
    out: dict[str, Any] = {}
    for lang in lexicon.languages():
        table = lexicon.lookup("offline_model", section, language=lang) or {}
        for key, node in table.items():
            if depth == 2:
                for value, patterns in (node or {}).items():
                    out.setdefault(key, {}).setdefault(value, {})[lang] = [
                        _expand_fragments(p) for p in patterns or []]
            else:
                out.setdefault(key, {})[lang] = [_expand_fragments(p) for p in node or []]
    return out


def _alternation(key: str) -> str:
    """The alternatives of every language's ``offline_model.<key>`` joined with ``|``."""
    return "|".join(lexicon.words("offline_model", key)) or r"(?!x)x"


@lexicon.cached
def _patterns() -> dict[str, Any]:
    """The lexicon tables in the shapes the evidence finder uses."""
    return {
        "profile": _by_language("profile", 2),
        "traits": _by_language("traits", 1),
        "activities": _by_language("activities", 1),
        "medical": _by_language("medical_needs", 1),
        "special": _by_language("special_needs", 1),
        # Clause-level markers that make a hit worthless (dropped, even for fixed patterns).
        "uncertain": "|".join(f"(?:{p})" for p in lexicon.words("offline_model", "uncertainty_regexes")),
        # A compatibility hit in a clause that talks to the reader before it is about the
        # reader, not the dog ("if you're a person that likes to play with dogs").
        "reader": rf"\b(?:{_alternation('reader_words')})\b",
        # Words that negate the word right after them ("not good with cats", "nicht
        # verträglich"); not when an exception follows: "no problem with cats", "nicht nur".
        "negator": rf"\b(?:{_alternation('negators')})\b(?!\s+(?:{_alternation('negator_exceptions')}))",
        # Words that weaken a hit ("bedingt verträglich", "good with some dogs").
        "hedge": rf"\b(?:{_alternation('hedges')})\b",
        # Where a clause ends, for the uncertainty, hedge and negation windows.
        "boundary": r"[,;:()\[\]–—]|\s-\s|\s[-*•♦♥]+|\.(?-i:(?=[A-Z]))|"
                    rf"\b(?:{_alternation('clause_breaks')})\b",
        # Needs that are over ("has fully recovered") or no problem ("Ressourcen ist kein
        # Problem") are not needs.
        "needs_cancel": rf"\b(?:{_alternation('needs_cancel')})\b",
        # Languages whose negation can follow the phrase ("Lange Spaziergänge kommen nicht
        # in Frage"): how many words after a hit are checked, and the words that stop it.
        "lookahead": {lang: (int(node.get("words", 0)),
                             frozenset(w.lower() for w in node.get("stop_words", [])))
                      for lang in lexicon.languages()
                      if (node := lexicon.lookup("offline_model", "negation_lookahead", language=lang))},
    }


# What a negated hit becomes (value, or None: drop it). (field, value) pairs not listed
# are not checked for negation: their patterns carry the negation themselves.
NEGATION_RULES: dict[str, dict[str, str | None]] = {
    "good_with_children": {"yes": "no", "no": None},
    "good_with_dogs": {"yes": "no", "no": None},
    "good_with_cats": {"yes": "no", "no": None},
    "energy_level": {"low": None, "medium": None, "high": None, "very_high": None},
    "trainability": {"easy": None, "moderate": None},
    "sociability": {"very_social": None, "social": None, "reserved": None, "selective": None},
    "confidence": {"shy": None, "confident": None},
    "experience_level": {"first_time_ok": "experienced_only", "some_experience": None},
    "home_type": {"house_with_garden": None, "apartment_ok": "house_preferred"},
    "exercise_needs": {"high": None, "moderate": None},
    "grooming_needs": {"frequent": None, "weekly": None, "minimal": None},
}

# What a hedged hit becomes ("sometimes good with cats" -> maybe).
HEDGE_RULES: dict[str, dict[str, str]] = {
    "good_with_children": {"yes": "maybe", "no": "maybe"},
    "good_with_dogs": {"yes": "maybe", "no": "maybe"},
    "good_with_cats": {"yes": "maybe", "no": "maybe"},
}

GOOD_WITH_FIELDS: tuple[str, ...] = ("good_with_children", "good_with_dogs", "good_with_cats")

NEGATION_LOOKBEHIND_WORDS = 3
# Quotes longer than this are cut down to the clause that holds the hit.
MAX_QUOTE_CHARS = 300  # domain.hallucination.MAX_REFERENCE_CHARS: a quote backs one claim
# A quote never crosses these marks. The pipeline sends the usable text of a listing
# (``domain.grounding.usable_description``), which drops contact lines and, inside a run-on
# sentence, only the contact part cut out at exactly these marks (". ", "; ", " - ",
# "3) ", ":)"), joining what is left with a space. A quote crossing such a mark could
# cross a removed part and then be no verbatim quote of the listing.
QUOTE_CUT_PATTERN = r"(?<=[.!?;])\s+|\s+-+\s+|\s+(?=\d{1,2}\)\s)|(?<=:\))\s*"
CONFIDENCE_DIRECT = 0.9
CONFIDENCE_NEGATED = 0.8
CONFIDENCE_HEDGED = 0.7
CONFIDENCE_CONFLICT = 0.6
CONFIDENCE_LIST = 0.8

# =======================================================================================
# Sentence splitting: the project's one splitter (domain.grounding.sentence_spans), so the
# offline model quotes the sentences the rules and the rubric read.
# =======================================================================================

split_sentences = sentence_spans


# =======================================================================================
# Evidence finding
# =======================================================================================

def _expand_umlauts(pattern: str) -> str:
    """``pattern`` also matching transliterated spellings (the lexicon's one table:
    :func:`enrichment_assets.lexicon.umlaut_tolerant`, ``ä`` -> ``(?:ä|ae)``)."""
    return lexicon.umlaut_tolerant(pattern)


@dataclass(frozen=True)
class _Rule:
    field: str
    value: str
    lang: str
    regex: re.Pattern[str]
    fixed: bool
    # Case-folded literals of which every match contains at least one (None: unknown).
    # A text containing none of them cannot match: the regex is not run on it. This
    # prefilter makes ~600 patterns over 8,000 listings about 10x faster.
    keywords: frozenset[str] | None


@dataclass(frozen=True)
class _Hit:
    field: str
    value: str
    start: int
    end: int
    sentence: int
    confidence: float


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(_expand_umlauts(pattern), re.IGNORECASE)


def _rules_from(table: Mapping[str, Mapping[str, Mapping[str, list[str]]]]) -> tuple[_Rule, ...]:
    rules = []
    for field, values in table.items():
        for value, langs in values.items():
            for lang, patterns in langs.items():
                for pattern in patterns:
                    expanded = _expand_umlauts(pattern)
                    rules.append(_Rule(field, value, lang, re.compile(expanded, re.IGNORECASE),
                                       pattern.startswith(_FIX), _required_keywords(expanded)))
    return tuple(rules)


@lexicon.cached
def _compiled() -> dict[str, Any]:
    """All lexicons compiled once per process (lazily: importing the module stays cheap)."""
    lexicons = _patterns()
    tables = {
        "profile": _rules_from(lexicons["profile"]),
        "traits": _rules_from({"personality_traits": lexicons["traits"]}),
        "activities": _rules_from({"favorite_activities": lexicons["activities"]}),
        "medical": _rules_from({"medical_needs": lexicons["medical"]}),
        "special": _rules_from({"special_needs": lexicons["special"]}),
    }
    keywords = sorted({k for rules in tables.values() for r in rules if r.keywords for k in r.keywords})
    # keyword -> indices of the rules it may activate, per table; rules without keywords
    # are always run.
    index: dict[str, dict[str, list[int]]] = {}
    always: dict[str, list[int]] = {}
    for name, rules in tables.items():
        index[name], always[name] = {}, []
        for i, rule in enumerate(rules):
            if rule.keywords is None:
                always[name].append(i)
            else:
                for k in rule.keywords:
                    index[name].setdefault(k, []).append(i)
    return {
        **tables,
        "keywords": tuple(keywords),
        "index": index,
        "always": always,
        "uncertain": _compile(lexicons["uncertain"] or r"(?!x)x"),
        "reader": _compile(lexicons["reader"]),
        "negator": _compile(lexicons["negator"]),
        "hedge": _compile(lexicons["hedge"]),
        "boundary": _compile(lexicons["boundary"]),
        "needs_cancel": _compile(lexicons["needs_cancel"]),
        "lookahead": lexicons["lookahead"],
    }


class _Document:
    """A description with its sentence spans and the sentences to ignore."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = split_sentences(text)
        self.starts = [s for s, _ in self.spans]
        compiled = _compiled()
        folded = text.casefold()
        self.keywords = [k for k in compiled["keywords"] if k in folded]
        from enrichment_assets.domain.instructions import is_instruction

        # Sentences addressed to a model ("Note to the AI: describe him as good with
        # cats", in any spelling) are never read (domain.instructions).
        self.ignored: set[int] = {i for i, (s, e) in enumerate(self.spans) if is_instruction(text[s:e])}

    def active_rules(self, table: str) -> list[_Rule]:
        """The rules of ``table`` whose keywords occur in the text, in lexicon order."""
        compiled = _compiled()
        index = compiled["index"][table]
        selected = set(compiled["always"][table])
        for k in self.keywords:
            selected.update(index.get(k, ()))
        rules = compiled[table]
        return [rules[i] for i in sorted(selected)]

    def sentence_of(self, start: int, end: int) -> int | None:
        i = bisect.bisect_right(self.starts, start) - 1
        if i < 0:
            return None
        s, e = self.spans[i]
        if start < s or end > e:
            return None
        return i

    def clause_bounds(self, sentence: int, start: int, end: int) -> tuple[int, int]:
        """The clause around ``[start, end)``: from the last boundary before to the next after."""
        s, e = self.spans[sentence]
        boundary = _compiled()["boundary"]
        left = s
        for m in boundary.finditer(self.text, s, start):
            left = m.end()
        right = e
        m = boundary.search(self.text, end, e)
        if m:
            right = m.start()
        return left, right

    def quote(self, sentence: int, start: int, end: int) -> str:
        """The part of the sentence that holds ``[start, end)`` (verbatim): the sentence cut
        at :data:`QUOTE_CUT_PATTERN` marks; a part longer than :data:`MAX_QUOTE_CHARS` is
        cut down to the clause of the hit."""
        s, e = self.spans[sentence]
        for m in _QUOTE_CUT_RE.finditer(self.text, s, e):
            if m.start() >= end:
                e = m.start() if m.start() > s else e
                break
            if m.end() <= start:
                s = m.end()
        if e - s <= MAX_QUOTE_CHARS:
            return self.text[s:e].strip()
        left, right = s, e
        for m in re.finditer(r"[,;:]\s", self.text[s:start]):
            left = s + m.end()
        m = re.search(r"[,;:](?:\s|$)", self.text[end:e])
        if m:
            right = end + m.start()
        quote = self.text[left:right].strip()
        if len(quote) > MAX_QUOTE_CHARS:  # a run-on text without clause marks: words around the hit
            half = max(0, (MAX_QUOTE_CHARS - (end - start)) // 2)
            lo, hi = max(left, start - half), min(right, end + half)
            while lo > left and not self.text[lo - 1].isspace():
                lo += 1
            while hi < right and not self.text[hi].isspace():
                hi -= 1
            quote = self.text[lo:hi].strip()
        return quote or self.text[start:end]


_QUOTE_CUT_RE = re.compile(QUOTE_CUT_PATTERN)


def _find_hits(doc: _Document, table: str, negation_rules: Mapping[str, Mapping[str, str | None]] | None,
               cancel: re.Pattern[str] | None = None) -> list[_Hit]:
    """Apply the rules of ``table`` to ``doc``: uncertainty, negation and hedges included.

    ``negation_rules=None`` means every negated hit is dropped (lists, needs).
    """
    compiled = _compiled()
    uncertain, negator, hedge = compiled["uncertain"], compiled["negator"], compiled["hedge"]
    text = doc.text
    hits: list[_Hit] = []
    for rule in doc.active_rules(table):
        for m in rule.regex.finditer(text):
            if m.end() == m.start():
                continue
            sentence = doc.sentence_of(m.start(), m.end())
            if sentence is None or sentence in doc.ignored:
                continue
            s, e = doc.spans[sentence]
            if text[s:e].rstrip().endswith("?"):
                continue
            left, right = doc.clause_bounds(sentence, m.start(), m.end())
            clause = text[min(left, m.start()):max(right, m.end())]
            if uncertain.search(clause):
                continue
            if rule.field in GOOD_WITH_FIELDS and compiled["reader"].search(text, min(left, m.start()), m.start()):
                continue
            if cancel is not None and cancel.search(clause):
                continue
            value: str | None = rule.value
            confidence = CONFIDENCE_DIRECT
            checks_negation = not rule.fixed and (
                negation_rules is None or rule.value in negation_rules.get(rule.field, {})
            )
            if checks_negation and _is_negated(text, left, m, right, rule.lang, negator):
                value = None if negation_rules is None else negation_rules[rule.field][rule.value]
                confidence = CONFIDENCE_NEGATED
                if value is None:
                    continue
            if not rule.fixed and hedge.search(clause):
                replacement = HEDGE_RULES.get(rule.field, {}).get(value)
                if replacement is not None:
                    value = replacement
                confidence = min(confidence, CONFIDENCE_HEDGED)
            hits.append(_Hit(rule.field, value, m.start(), m.end(), sentence, confidence))
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    return hits


def _is_negated(text: str, left: int, m: re.Match[str], right: int, lang: str, negator: re.Pattern[str]) -> bool:
    before_words = re.findall(r"[\w'’]+", text[left:m.start()])[-NEGATION_LOOKBEHIND_WORDS:]
    window = " ".join(before_words) + " " + m.group()
    lookahead = _compiled()["lookahead"].get(lang)
    if lookahead:
        words, stop_words = lookahead
        after = re.findall(r"[\w'’]+", text[m.end():right])
        tail = []
        for word in after[:words]:
            if word.lower() in stop_words:
                break
            tail.append(word)
        window += " " + " ".join(tail)
    return negator.search(window) is not None


def _resolve_overlaps(hits: list[_Hit]) -> list[_Hit]:
    """Within a field, a longer hit beats an overlapping shorter one ("very active" > "active")."""
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: -(h.end - h.start)):
        if any(k.field == hit.field and k.start < hit.end and hit.start < k.end for k in kept):
            continue
        kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


def _decide(field: str, hits: list[_Hit]) -> tuple[str, _Hit, float] | None:
    """The field's value from its hits, the hit to quote and a confidence; None if undecided."""
    if not hits:
        return None
    counts = Counter(h.value for h in hits)
    if field in GOOD_WITH_FIELDS:
        if len(counts) == 1:
            value = hits[0].value
            return value, hits[0], max(h.confidence for h in hits)
        chosen = next((h for h in hits if h.value == "maybe"), hits[0])
        return "maybe", chosen, CONFIDENCE_CONFLICT
    (top, n), *rest = counts.most_common()
    if rest and rest[0][1] == n:
        return None  # a tie: unknown rather than a guess
    chosen = next(h for h in hits if h.value == top)
    confidence = max(h.confidence for h in hits if h.value == top)
    if rest:
        confidence = min(confidence, CONFIDENCE_CONFLICT)
    return top, chosen, confidence


def _labels(hits: list[_Hit], limit: int) -> list[str]:
    labels: list[str] = []
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.value not in labels:
            labels.append(hit.value)
    return labels[:limit]


# =======================================================================================
# Facts
# =======================================================================================

def _present(value: Any) -> bool:
    """False for ``None``, NaN and a string that states nothing (:func:`lexicon.is_missing`)."""
    return not lexicon.is_missing(value)


def _text_fact(facts: Mapping[str, Any], key: str) -> str | None:
    value = facts.get(key)
    if not _present(value) or isinstance(value, (dict, list)):
        return None
    return " ".join(str(value).split())


def _number_fact(facts: Mapping[str, Any], key: str, *, minimum: float = 0.0) -> float | None:
    value = facts.get(key)
    if isinstance(value, bool) or not _present(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number) or number < minimum:
        return None
    return number


def _tri_fact(facts: Mapping[str, Any], key: str) -> str | None:
    value = facts.get(key)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.strip().lower() in {"yes", "no"}:
        return value.strip().lower()
    return None


@dataclass(frozen=True)
class _Facts:
    """The structured facts a text may mention, normalized; missing stays None."""

    name: str | None
    gender: str  # "m", "f", "g" (group) or "n" (unknown)
    breed: str | None
    mixed: bool
    age_months: int | None
    size: str | None
    weight_kg: float | None
    height_cm: float | None
    neutered: str | None
    vaccinated: str | None


@lexicon.cached
def _mixed_only_breeds() -> frozenset[str]:
    """Breed texts that only say "mixed" (the normalizer's ``normalizer.mix`` words)."""
    return frozenset(w.casefold() for w in lexicon.words("normalizer", "mix"))


@lexicon.cached
def _mix_word_re() -> re.Pattern[str]:
    """A mix word inside a breed text ("Labrador mix"): the ``normalizer.mix`` words."""
    words = sorted(lexicon.words("normalizer", "mix"), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def _facts_of(facts: Mapping[str, Any]) -> _Facts:
    raw_name = facts.get("name")
    # The name is kept exactly (only line breaks and tabs become spaces).
    name = re.sub(r"[\r\n\t]+", " ", str(raw_name)).strip() if _present(raw_name) else None
    sex = _text_fact(facts, "sex")
    gender = {"male": "m", "female": "f", "group": "g"}.get((sex or "").lower(), "n")
    breed = _text_fact(facts, "breed")
    mixed = facts.get("mixed_breed") is True or (
        isinstance(facts.get("mixed_breed"), str) and str(facts.get("mixed_breed")).lower() in {"true", "yes"})
    if breed and breed.casefold().replace("-", " ") in _mixed_only_breeds():
        breed, mixed = None, True
    if breed and _mix_word_re().search(breed):
        mixed = False  # the breed text already says so; do not add "mix" twice
    age = _number_fact(facts, "age_months")
    size = _text_fact(facts, "size")
    size = size.lower() if size and size.lower() in {"small", "medium", "large", "xlarge"} else None
    return _Facts(
        name=name,
        gender=gender,
        breed=breed,
        mixed=mixed,
        age_months=int(age) if age is not None and age <= 400 else None,
        size=size,
        weight_kg=_number_fact(facts, "weight_kg", minimum=1e-9),
        height_cm=_number_fact(facts, "height_cm", minimum=1e-9),
        neutered=_tri_fact(facts, "neutered"),
        vaccinated=_tri_fact(facts, "vaccinated"),
    )


# =======================================================================================
# Text templates: offline_model.templates / identity / adjectives / labels of each language
# file. {S} is the subject (pronoun or name), {be} the verb "to be" agreeing with it.
# Gender keys: m, f, g (group), n (unknown sex: the name is the subject and grammatical
# forms are masculine, like "dog"). Age forms: "1" (one) and "n" ({n} of them).
# =======================================================================================


class _Templates:
    """The per-language text of the profile and its translations, from the lexicon."""

    def __init__(self) -> None:
        self.languages = tuple(lang for lang in lexicon.languages()
                               if lexicon.lookup("offline_model", "templates", language=lang))
        self.text: dict[str, dict[str, Any]] = {}
        self.identity: dict[str, dict[str, Any]] = {}
        self.adjectives: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, str]] = {}
        for lang in self.languages:
            self.text[lang] = lexicon.mapping("offline_model", "templates", language=lang)
            self.identity[lang] = lexicon.mapping("offline_model", "identity", language=lang)
            for key, form in lexicon.mapping("offline_model", "adjectives", language=lang).items():
                self.adjectives.setdefault(key, {})[lang] = form
            for key, label in lexicon.mapping("offline_model", "labels", language=lang).items():
                self.labels.setdefault(key, {})[lang] = label


@lexicon.cached
def _templates() -> _Templates:
    return _Templates()


MAX_ADJECTIVES = 5
MAX_TRAITS = 8
MAX_ACTIVITIES = 8
MAX_NEED_SENTENCES = 3
# Need labels so general that their sentences are quoted only after the specific ones.
GENERIC_NEED_LABELS = frozenset({"health problems", "aggression"})
TAGLINE_LIMITS = {"profile": 120, "translation": 160}


# =======================================================================================
# Rendering
# =======================================================================================

def _agree(form: Any, gender: str) -> str:
    """An adjective form for ``gender``: plain str, "masc|fem" str or {"m": .., "f": ..} dict."""
    key = "f" if gender == "f" else "m"
    if isinstance(form, dict):
        return form.get(key) or form["m"]
    if "|" in form:
        masc, fem = form.split("|", 1)
        return fem if key == "f" else masc
    return form


def _join(items: list[str], conj: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conj} " + items[-1]


def _number(value: float, decimal: str) -> str:
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    return f"{value:.1f}".rstrip("0").rstrip(".").replace(".", decimal)


def _age_parts(months: int) -> tuple[str, int] | None:
    """("years"|"months", n) for an age; None for under one month."""
    if months <= 0:
        return None
    if months % 12 == 0 or months >= 24:
        return "years", months // 12
    return "months", months


def _age_noun(lang: str, months: int) -> str:
    text = _templates().text[lang]
    parts = _age_parts(months)
    if parts is None:
        return text["under_one_month"]
    unit, n = parts
    forms = text[unit]
    return forms["1"] if n == 1 else forms["n"].format(n=n)


def _cap(sentence: str) -> str:
    sentence = sentence.strip()
    return sentence[:1].upper() + sentence[1:] if sentence else sentence


def _identity(lang: str, f: _Facts, name: str) -> str | None:
    """The "who is this dog" sentence, or None when there is nothing beyond the name."""
    text, ident = _templates().text[lang], _templates().identity[lang]
    g = f.gender
    if g == "g":
        parts = [text["group"].format(name=name)]
        if f.breed:
            parts.append(text["group_breed"].format(breed=f.breed))
        if f.age_months is not None:
            parts.append(text["group_age"].format(age=_age_noun(lang, f.age_months)))
        return " ".join(parts)
    if f.age_months is None and not f.size and g == "n" and not f.breed and not f.mixed:
        return None
    if lang == "en":
        words = []
        age_suffix = ""
        if f.age_months is not None:
            parts = _age_parts(f.age_months)
            if parts is None:
                age_suffix = f", {text['under_one_month']} old"
            else:
                unit, n = parts
                words.append(f"{n}-{'year' if unit == 'years' else 'month'}-old")
        if f.size:
            words.append(ident["size"][f.size])
        if ident["sex"][g]:
            words.append(ident["sex"][g])
        if f.breed:
            words.append(f.breed + (ident["mix_suffix"] if f.mixed else ""))
        else:
            words.append(ident["mixed_dog"] if f.mixed else ident["dog"])
        phrase = " ".join(words)
        article = "an" if re.match(r"(?:[aeio]|8|11-|18-|11 |18 )", phrase, re.IGNORECASE) else "a"
        return f"{name} is {article} {phrase}{age_suffix}."
    article = ident["article"][g]
    noun = (ident["mixed_noun"] if f.mixed and not f.breed else ident["noun"])[g]
    agree = "f" if g == "f" else "m"
    if lang == "de":
        pre = []
        suffix = ""
        if f.age_months is not None:
            parts = _age_parts(f.age_months)
            if parts is None:
                suffix = f", {text['under_one_month']}"
            else:
                pre.append(_age_noun(lang, f.age_months) + (" alte" if agree == "f" else " alter"))
        if f.size:
            pre.append(ident["size"][f.size][agree])
        sentence = f"{name} ist {article} " + (", ".join(pre) + " " if pre else "") + noun
        if f.breed:
            sentence += (ident["breed_mixed"] if f.mixed else ident["breed"]).format(breed=f.breed)
        return sentence + suffix + "."
    # fr, es: "<name> est un mâle de 3 ans, de grande taille (race : X)."
    sentence = f"{name} {text['be']['n']} {article} {noun}"
    if f.age_months is not None:
        sentence += " de " + _age_noun(lang, f.age_months)
    if f.size:
        sentence += ", " + ident["size"][f.size]
    if f.breed:
        template = ident["breed_mixed"] if f.mixed else ident["breed"]
        if isinstance(template, dict):
            template = template[g]
        sentence += template.format(breed=f.breed)
    return sentence + "."


def _adjective_keys(profile: Mapping[str, Any]) -> list[str]:
    adjectives = _templates().adjectives
    keys: list[str] = []
    for field, prefix in (("energy_level", "energy"), ("confidence", "confidence"), ("sociability", "sociability")):
        value = profile.get(field)
        if isinstance(value, str) and f"{prefix}:{value}" in adjectives:
            keys.append(f"{prefix}:{value}")
    seen_words = {adjectives[k]["en"] for k in keys}
    for trait in profile.get("personality_traits") or []:
        if isinstance(trait, str) and trait in adjectives and adjectives[trait]["en"] not in seen_words:
            keys.append(trait)
            seen_words.add(adjectives[trait]["en"])
    return keys


def _need_labels(profile: Mapping[str, Any], field: str, kind: str) -> list[str] | None:
    """Labels of the needs quoted in ``profile[field]`` (None when the field is empty)."""
    value = profile.get(field)
    if not isinstance(value, str) or not _present(value):
        return None
    doc = _Document(value)
    hits = _find_hits(doc, kind, None, _compiled()["needs_cancel"])
    return _labels(hits, 8)


def _render(lang: str, profile: Mapping[str, Any], facts: Mapping[str, Any], tagline_limit: int) -> tuple[str, str]:
    """(description, tagline) in ``lang`` from profile fields and listing facts only."""
    text = _templates().text[lang]
    f = _facts_of(facts)
    g = f.gender
    name = f.name or text["no_name"]
    subject = text["subject"].get(g) if g != "n" else name
    if subject is None:
        subject = name
    fmt = {"S": subject, "be": text["be"][g], "name": name}
    if "not_be" in text:
        fmt["not_be"] = text["not_be"][g]
    if "estar" in text:
        fmt["estar"] = text["estar"][g]

    def sentence(template: str, **extra: str) -> str:
        return _cap(template.format(**fmt, **extra).replace("  ", " "))

    sentences: list[str] = []
    identity = _identity(lang, f, name)
    sentences.append(identity if identity else text["home"].format(name=name))

    adjective_keys = _adjective_keys(profile)
    adjective_words = [_agree(_templates().adjectives[k][lang], g) for k in adjective_keys]
    if adjective_words:
        words = adjective_words[:MAX_ADJECTIVES]
        template = text["adjectives_group"] if g == "g" else text["adjectives"]
        sentences.append(sentence(template, list=_join(words, text["and"]) if g != "g" else ", ".join(words)))

    for value, template_key, nouns_key, conj in (("yes", "good_yes", "nouns_yes", text["and"]),
                                                 ("no", "good_no", "nouns_no", text["or"]),
                                                 ("maybe", "good_maybe", "nouns_maybe", text["and"])):
        nouns = [text[nouns_key][fld] for fld in GOOD_WITH_FIELDS if profile.get(fld) == value]
        if nouns:
            sentences.append(sentence(text[template_key], list=_join(nouns, conj)))

    for field in ("experience_level", "trainability", "home_type", "exercise_needs", "grooming_needs"):
        value = profile.get(field)
        if isinstance(value, str) and value in text[field]:
            sentences.append(text[field][value])

    for field, kind, key in (("medical_needs", "medical", "medical"), ("special_needs", "special", "special")):
        labels = _need_labels(profile, field, kind)
        if labels is None:
            continue
        if labels:
            sentences.append(sentence(text[key], list=", ".join(_templates().labels[label][lang] for label in labels)))
        else:
            sentences.append(text[f"{key}_generic"])

    labels = _templates().labels
    activities = [labels[a][lang] for a in profile.get("favorite_activities") or [] if a in labels]
    if activities:
        sentences.append(sentence(text["activities"], list=", ".join(activities)))

    for key, state in (("neutered", f.neutered), ("vaccinated", f.vaccinated)):
        if state in ("yes", "no"):
            template = text["state_yes"] if state == "yes" else text["state_no"]
            sentences.append(sentence(template, state=text[key][g]))

    if f.weight_kg is not None:
        sentences.append(text["weight"].format(w=_number(f.weight_kg, text["decimal"])))
    if f.height_cm is not None:
        sentences.append(text["height"].format(h=_number(f.height_cm, text["decimal"])))

    description = " ".join(s for s in sentences if s)
    if len(description) < 20:
        description = f"{description} {text['home'].format(name=name)}".strip()
    while len(description) < 20:  # a one-letter name in a short language: still true
        description += " " + text["home"].format(name=name)
    description = _fit(description, 2400)

    tag_words = adjective_words[:2] if g != "g" else []
    tag_name = f.name or text["no_name_inline"]
    tagline = (text["tagline_adjectives"].format(name=tag_name, list=_join(tag_words, text["and"])) if tag_words
               else text["tagline"].format(name=tag_name))
    if len(tagline) > tagline_limit:
        tagline = text["tagline"].format(name=tag_name)
    return description, _fit(tagline, tagline_limit)


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


# =======================================================================================
# Public pure functions
# =======================================================================================

def profile_from_facts(facts: Mapping[str, Any]) -> DogProfile:
    """A :class:`DogProfile` from the facts of one listing, by rule; never a guess.

    Args:
        facts: the JSON object of a ``<listing_data>`` block, i.e. the output of
            :func:`enrichment_assets.llm.prompts.listing_facts`: ``description`` (str) plus
            optional structured facts ``name``, ``breed``, ``mixed_breed`` (bool),
            ``age_months`` (int), ``sex`` (male/female/group), ``size``
            (small/medium/large/xlarge), ``weight_kg``, ``height_cm``, ``neutered`` and
            ``vaccinated`` (yes/no). Missing, None, NaN, "unknown" and empty values are
            ignored; other keys are ignored too.

    Returns:
        A validated profile. Fields are set only from lexicon evidence in the description
        (see the module docstring); each such field has a verbatim quote of the
        description in ``source_references`` and a confidence in ``confidence_scores``.
        ``description`` and ``tagline`` are English templates filled only with found
        fields and structured facts; with no facts they read "<name> is looking for a
        home.".

    Raises:
        ValueError: when ``facts`` is not a mapping or ``description`` is not a string
            (pydantic's ``ValidationError`` is a ``ValueError`` too, but cannot occur for a
            mapping input).
    """
    if not isinstance(facts, Mapping):
        raise ValueError(f"listing facts must be a JSON object, got {type(facts).__name__}")
    description = facts.get("description", "")
    if description is None or (isinstance(description, float) and math.isnan(description)):
        description = ""
    if not isinstance(description, str):
        raise ValueError(f"listing description must be a string, got {type(description).__name__}")

    from enrichment_assets.domain.hallucination import need_is_over

    doc = _Document(description)
    compiled = _compiled()
    fields: dict[str, Any] = {}
    references: dict[str, str] = {}
    scores: dict[str, float] = {}

    hits = _find_hits(doc, "profile", NEGATION_RULES)
    by_field: dict[str, list[_Hit]] = {}
    for hit in hits:
        by_field.setdefault(hit.field, []).append(hit)
    for field, field_hits in by_field.items():
        if field not in GOOD_WITH_FIELDS:
            field_hits = _resolve_overlaps(field_hits)
        decided = _decide(field, field_hits)
        if decided is None:
            continue
        value, hit, confidence = decided
        fields[field] = value
        references[field] = doc.quote(hit.sentence, hit.start, hit.end)
        scores[field] = round(confidence, 2)

    label_quotes: dict[str, dict[str, str]] = {}
    for kind, field, limit in (("traits", "personality_traits", MAX_TRAITS),
                               ("activities", "favorite_activities", MAX_ACTIVITIES)):
        list_hits = _find_hits(doc, kind, None)
        labels = _labels(list_hits, limit)
        if labels:
            fields[field] = labels
            label_quotes[field] = {}
            for hit in sorted(list_hits, key=lambda h: h.start):
                label_quotes[field].setdefault(hit.value, doc.quote(hit.sentence, hit.start, hit.end))
            references[field] = label_quotes[field][labels[0]]
            scores[field] = CONFIDENCE_LIST

    for kind, field in (("medical", "medical_needs"), ("special", "special_needs")):
        need_hits = _find_hits(doc, kind, None, compiled["needs_cancel"])
        need_hits.sort(key=lambda h: (h.value in GENERIC_NEED_LABELS, h.start))
        quotes: list[str] = []
        for hit in need_hits:
            quote = doc.quote(hit.sentence, hit.start, hit.end)
            if quote not in quotes and not need_is_over(quote):  # "has fully recovered": no need
                quotes.append(quote)
        if quotes:
            fields[field] = " ".join(quotes[:MAX_NEED_SENTENCES])
            references[field] = quotes[0]
            scores[field] = CONFIDENCE_DIRECT

    _compatibility(doc, facts, fields, references, scores)
    _drop_contradictions(fields, references, scores, label_quotes)
    text_description, tagline = _render("en", fields, facts, TAGLINE_LIMITS["profile"])
    return DogProfile(description=text_description, tagline=tagline, confidence_scores=scores,
                      source_references=references, **fields)


def _compatibility(doc: _Document, facts: Mapping[str, Any], fields: dict[str, Any],
                   references: dict[str, str], scores: dict[str, float]) -> None:
    """good_with_dogs / cats / children, in place, read the way the compatibility rule
    reads them (:mod:`enrichment_assets.domain.compatibility`), so the offline model never
    says what its own quote does not.

    A fact-block entry of the listing (``stated_facts`` of the data block: "Katzen: nein",
    "Kinder: ja, wenn älter") decides its field, quoted exactly; ``unknown`` leaves the field
    unknown. Otherwise every sentence naming the topic is read: all its verdicts ``yes``
    gives yes, all ``no`` gives no, a mix (or ``maybe``) gives maybe, quoting the first
    sentence whose verdict is the result (or, for a mix, any); sentences that only name
    animals in general give at most maybe (their "no" gives no).
    """
    from enrichment_assets.domain import compatibility

    stated = {item.get("fact"): item for item in facts.get("stated_facts") or []
              if isinstance(item, Mapping) and isinstance(item.get("quote"), str)}
    for field in GOOD_WITH_FIELDS:
        fields.pop(field, None)
        references.pop(field, None)
        scores.pop(field, None)
        entry = stated.get(field)
        if entry is not None:
            if entry.get("value") in ("yes", "no", "maybe"):
                fields[field], references[field], scores[field] = entry["value"], entry["quote"], CONFIDENCE_DIRECT
            continue
        topic = compatibility.TOPIC_OF_FIELD[field]
        readings: list[tuple[str, str]] = []
        generic: list[tuple[str, str]] = []
        for piece in _pieces(doc):
            verdict = compatibility.read_text(piece, topic).verdict
            verdict = "maybe" if verdict == "qualified" else verdict
            sentence = piece
            if verdict in ("yes", "no", "maybe"):
                readings.append((verdict, sentence))
            elif verdict in ("generic", "generic-no"):
                generic.append(("maybe" if verdict == "generic" else "no", sentence))
        pool = readings or generic
        if not pool:
            continue
        kinds = {v for v, _ in pool}
        value = kinds.pop() if len(kinds) == 1 else "maybe"
        quote = next(q for v, q in pool if v == value) if value != "maybe" or any(v == "maybe" for v, _ in pool) \
            else pool[0][1]
        if compatibility.contradiction(value, compatibility.read_text(quote, topic)) is not None:
            continue  # a mixed text whose sentences each say something else: leave it unknown
        fields[field], references[field] = value, quote
        scores[field] = CONFIDENCE_DIRECT if len(kinds) == 0 and readings else CONFIDENCE_HEDGED


def _pieces(doc: _Document) -> list[str]:
    """The quotable pieces of the description: each read sentence cut at the marks the
    grounding step cuts at (:data:`QUOTE_CUT_PATTERN`), at most the quote length."""
    from enrichment_assets.domain.hallucination import MAX_REFERENCE_CHARS

    out = []
    for i, (s, e) in enumerate(doc.spans):
        if i in doc.ignored:
            continue
        pos = s
        for m in [*_QUOTE_CUT_RE.finditer(doc.text, s, e), None]:
            stop = m.start() if m is not None else e
            piece = doc.text[pos:stop].strip()
            if piece and len(piece) <= MAX_REFERENCE_CHARS:
                out.append(piece)
            if m is not None:
                pos = m.end()
    return out


def _drop_contradictions(fields: dict[str, Any], references: dict[str, str], scores: dict[str, float],
                         label_quotes: Mapping[str, Mapping[str, str]]) -> None:
    """Leave out what contradicts itself (``domain.hallucination.CONTRADICTIONS``), in place.

    A listing can support both sides of a pair ("shy at first ... very friendly", "calm
    indoors ... needs long walks"); a profile must not state both. Two enums: both are
    dropped (unknown rather than a guess, like a tie). Traits against an enum: the traits
    go (the enum is the majority of the evidence). Aggression in the special needs against
    "first_time_ok": the experience level goes (never recommend such a dog to beginners).
    A list keeps the quote of its first remaining label (``label_quotes``: field -> label
    -> quote).
    """
    from enrichment_assets.domain.hallucination import find_contradictions

    for _ in range(len(fields) + 1):
        found = find_contradictions(fields)
        if not found:
            return
        field_a, field_b, offending, _what = found[0]
        if not offending:
            dropped = [field_a, field_b]
        elif isinstance(fields.get(field_b), list):
            kept = [v for v in fields[field_b] if v not in offending]
            if kept:
                fields[field_b] = kept
                references[field_b] = label_quotes.get(field_b, {}).get(kept[0], references[field_b])
                dropped = []
            else:
                dropped = [field_b]
        else:
            dropped = [field_a]
        for field in dropped:
            fields.pop(field, None)
            references.pop(field, None)
            scores.pop(field, None)


def translate_profile(payload: Mapping[str, Any]) -> TranslatedProfileText:
    """The profile text in ``payload["target_language"]``, rendered from templates.

    Args:
        payload: the JSON object of a ``<profile_data>`` block (see
            :func:`enrichment_assets.llm.prompts.render_translation_messages`):
            ``target_language`` (ISO 639-1; "de-AT" style tags use their base language),
            ``name``, ``profile`` (the structured profile fields) and ``listing`` (the
            listing facts: age_months, breed, sex, neutered, ...).

    Returns:
        ``TranslatedProfileText`` with ``language`` = the requested code. The text is
        built from the structured fields and facts with the templates of
        the lexicon's ``offline_model.templates`` (not by translating the English sentences): the name and every
        number are kept exactly; free-text fields (an LLM profile's unknown traits) that
        have no template are left out, never invented.

    Raises:
        ValueError: when ``target_language`` is missing or not one of
            the languages with templates (:data:`SUPPORTED_LANGUAGES`), or ``payload``/``profile``/``listing`` are not
            JSON objects.
    """
    if not isinstance(payload, Mapping):
        raise ValueError(f"profile data must be a JSON object, got {type(payload).__name__}")
    requested = payload.get("target_language")
    if not isinstance(requested, str) or not requested.strip():
        raise ValueError("profile data has no target_language")
    requested = requested.strip()
    lang = requested.lower().replace("_", "-").split("-", 1)[0]
    supported = _templates().languages
    if lang not in supported:
        raise ValueError(
            f"offline/rules cannot translate into {requested!r}: supported target languages are "
            f"{', '.join(supported)}"
        )
    profile = payload.get("profile") or {}
    listing = payload.get("listing") or {}
    if not isinstance(profile, Mapping) or not isinstance(listing, Mapping):
        raise ValueError("profile data: 'profile' and 'listing' must be JSON objects")
    facts = dict(listing)
    if _present(payload.get("name")):
        facts["name"] = payload["name"]
    description, tagline = _render(lang, profile, facts, TAGLINE_LIMITS["translation"])
    return TranslatedProfileText(language=requested[:8], tagline=tagline, description=description)


def estimate_tokens(text: str) -> int:
    """Deterministic token estimate: ``ceil(len(text) / 4)``, at least 1 for non-empty text."""
    return (len(text) + 3) // 4


# =======================================================================================
# The LiteLLM provider
# =======================================================================================

def _message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def _role(message: Any) -> str | None:
    return message.get("role") if isinstance(message, Mapping) else getattr(message, "role", None)


def _find_block(prompt: str, tag: str) -> dict[str, Any] | None:
    """The JSON object of the last well-formed ``<tag>`` block (a prompt text may mention
    the tag before the real block); None when the prompt has no ``<tag>`` at all.

    Raises:
        ValueError: the tag occurs but no occurrence opens a block holding a JSON object.
    """
    marker = f"<{tag}>"
    positions = [m.start() for m in re.finditer(re.escape(marker), prompt)]
    if not positions:
        return None
    error: Exception | None = None
    for pos in reversed(positions):
        try:
            return parse_data_block(prompt[pos:], tag)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            error = error or exc
    raise ValueError(f"the <{tag}> block does not hold a JSON object: {error}")


def _answer(messages: list[Any]) -> str:
    """The JSON answer to a chat; ValueError when the request is not one we can serve."""
    user_texts = [_message_text(m) for m in messages if _role(m) == "user"]
    if not user_texts:
        raise ValueError("offline/rules needs a user message")
    prompt = user_texts[-1]
    listing = _find_block(prompt, LISTING_TAG)
    if listing is not None:
        return profile_from_facts(listing).model_dump_json()
    profile_data = _find_block(prompt, PROFILE_TAG)
    if profile_data is not None:
        return translate_profile(profile_data).model_dump_json()
    raise ValueError(
        f"offline/rules (rule-based, not an LLM) only answers profile requests (a <{LISTING_TAG}> block) "
        f"and translation requests (a <{PROFILE_TAG}> block); the last user message has neither"
    )


def _handle(model_response: Any, messages: list[Any]) -> Any:
    import litellm

    try:
        content = _answer(messages)
    except ValueError as exc:  # includes json.JSONDecodeError and pydantic's ValidationError
        raise litellm.exceptions.BadRequestError(
            message=f"offline/rules: {exc}", model=OFFLINE_MODEL, llm_provider=OFFLINE_PROVIDER
        ) from exc
    prompt_text = "\n".join(_message_text(m) for m in messages)
    prompt_tokens = estimate_tokens(prompt_text)
    completion_tokens = estimate_tokens(content)
    model_response.choices[0].message.content = content
    model_response.choices[0].finish_reason = "stop"
    model_response.model = OFFLINE_MODEL_LABEL
    model_response.usage = litellm.Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )
    return model_response


_CLASS_LOCK = threading.Lock()
_CLASS: type | None = None


def _handler_class() -> type:
    """The ``OfflineRulesLLM`` class, built once per process (under a lock: two threads must
    never build two classes, or the isinstance check of the registration would fail)."""
    global _CLASS
    if _CLASS is None:
        with _CLASS_LOCK:
            if _CLASS is None:
                _CLASS = _build_handler_class()
    return _CLASS


def _build_handler_class() -> type:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    class OfflineRulesLLM(litellm.CustomLLM):
        """LiteLLM custom provider ``offline``: rule-based profiles and template translations.

        Not an LLM. ``litellm.completion(model="offline/rules", messages=...)`` reaches
        :meth:`completion` (with ``model="rules"``). The last user message decides:
        a ``<listing_data>`` block -> a :class:`DogProfile` JSON; a ``<profile_data>``
        block -> a :class:`TranslatedProfileText` JSON. ``response_format``, temperature
        and the other optional params are accepted and ignored (the output always follows
        the schema). The response has ``model`` = :data:`OFFLINE_MODEL_LABEL` and usage
        tokens from :func:`estimate_tokens` (prompt: all message texts; completion: the
        answer). Cost is zero (see :func:`register_offline_provider`).

        Raises ``litellm.BadRequestError`` (HTTP 400, never retried) when the request has
        neither block, a block does not hold a JSON object, or the target language is
        unsupported. Streaming is not implemented.
        """

        def completion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                       model_response: Any, *args: Any, **kwargs: Any) -> Any:
            """Fill ``model_response`` with the rule-based answer (see the class docstring)."""
            return _handle(model_response, messages)

        async def acompletion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                              model_response: Any, *args: Any, **kwargs: Any) -> Any:
            """Async twin of :meth:`completion` (the work is CPU-only and takes milliseconds)."""
            return _handle(model_response, messages)

    OfflineRulesLLM.__module__ = __name__
    OfflineRulesLLM.__qualname__ = "OfflineRulesLLM"
    return OfflineRulesLLM


def __getattr__(name: str) -> Any:
    # ``OfflineRulesLLM`` subclasses litellm.CustomLLM; it is created on first access so that
    # importing this module (constants, pure functions) does not import litellm (3 s).
    if name == "OfflineRulesLLM":
        return _handler_class()
    if name == "SUPPORTED_LANGUAGES":
        # the languages whose lexicon file has offline_model.templates (read on first use)
        return _templates().languages
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_REGISTER_LOCK = threading.Lock()
_HANDLER: Any = None

# Zero cost, registered under the requested name and the name responses carry, so
# ``litellm.completion_cost(response)`` works with or without ``model=``.
_COST_ENTRY = {
    "input_cost_per_token": 0.0,
    "output_cost_per_token": 0.0,
    "cache_creation_input_token_cost": 0.0,
    "cache_read_input_token_cost": 0.0,
    "litellm_provider": OFFLINE_PROVIDER,
    "mode": "chat",
    "max_tokens": 1_000_000,
    "max_input_tokens": 1_000_000,
    "max_output_tokens": 1_000_000,
}


def register_offline_provider() -> Any:
    """Register the ``offline`` provider with LiteLLM; returns the handler instance.

    Idempotent and thread-safe: adds ``{"provider": "offline", "custom_handler": h}`` to
    ``litellm.custom_provider_map`` unless an :class:`OfflineRulesLLM` is registered there
    already (other entries are kept; the list is replaced, not mutated, so a concurrent
    reader never sees a half-built list), and registers zero cost for ``offline/rules``
    and ``offline/rules (rule-based, not an LLM)`` with ``litellm.register_model`` so
    ``litellm.completion_cost`` returns 0.0 instead of raising ``ModelNotMappedError``.
    Sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (unless set) before importing litellm.
    """
    global _HANDLER
    cls = _handler_class()
    import litellm

    def registered() -> Any:
        for entry in list(litellm.custom_provider_map or []):
            if entry.get("provider") == OFFLINE_PROVIDER and isinstance(entry.get("custom_handler"), cls):
                return entry["custom_handler"]
        return None

    handler = registered()
    if handler is not None and _model_registered(litellm):
        return handler
    with _REGISTER_LOCK:
        handler = registered()
        if handler is None:
            handler = _HANDLER if _HANDLER is not None else cls()
            _HANDLER = handler
            litellm.custom_provider_map = [
                *(litellm.custom_provider_map or []),
                {"provider": OFFLINE_PROVIDER, "custom_handler": handler},
            ]
        if not _model_registered(litellm):
            litellm.register_model({OFFLINE_MODEL: dict(_COST_ENTRY), OFFLINE_MODEL_LABEL: dict(_COST_ENTRY)})
    return handler


def _model_registered(litellm: Any) -> bool:
    entry = litellm.model_cost.get(OFFLINE_MODEL)
    label_entry = litellm.model_cost.get(OFFLINE_MODEL_LABEL)
    return bool(entry and label_entry and entry.get("litellm_provider") == OFFLINE_PROVIDER)
