"""A first rubric for adoption profiles: one score 0-100 from four named components.

Pure functions, no Dagster. Every weight, window and word list below is our choice,
written down here so a reviewer can argue with it; none is measured yet against human
ratings. The components (each 0-100):

* ``grounding``: share of filled profile fields whose ``source_references`` quote is
  found in the listing description. An invented fact is the production system's worst
  failure, so this weighs most.
* ``completeness``: share of fields the listing could support (it mentions the topic)
  that the profile fills. Silence is allowed, so this weighs less than grounding.
* ``description_quality``: the profile text reads like a profile: a length window, no
  leaked nulls ("None", "nan", "unknown"), no placeholder text.
* ``consistency``: no pair of enum values that contradict each other.

``needs_review`` is set when the score is below :data:`REVIEW_BELOW`, when any quote is
not found in the listing, when any contradiction fires, or when a null word or placeholder
leaked into the text (the last is our addition to the brief: such text must never be
published).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from enrichment_assets.domain.models import DogProfile, NormalizedListing, QualityScore

__all__ = [
    "WEIGHTS",
    "REVIEW_BELOW",
    "DESCRIPTION_WINDOW",
    "CONTENT_FIELDS",
    "SUPPORT_CUES",
    "CONTRADICTIONS",
    "NULL_WORD_PATTERNS",
    "PLACEHOLDER_PATTERNS",
    "quote_found",
    "filled_fields",
    "score_profile",
]

WEIGHTS: dict[str, float] = {
    # Our choice. Grounding first: an invented fact in an adoption profile misleads an
    # adopter and was the production system's main complaint. Text quality next: a leaked
    # "None" or a placeholder is visible to every reader. Completeness is secondary because
    # leaving a field empty is honest. Consistency is a cheap sanity check with few rules.
    "grounding": 0.40,
    "description_quality": 0.25,
    "completeness": 0.20,
    "consistency": 0.15,
}

REVIEW_BELOW = 60.0
"""A score below this sets ``needs_review`` (our choice: the middle of the scale plus a
margin, so a profile failing one whole component of weight >= 0.4 is always reviewed)."""

DESCRIPTION_WINDOW = (150, 1200)
"""Profile description length in characters that reads like a profile (our choice: under
150 says nothing a listing does not; over 1200 is longer than the median source text of
both real sources, so it must be padding)."""

DESCRIPTION_LENGTH_PENALTY = 30.0
NULL_WORD_PENALTY = 30.0
PLACEHOLDER_PENALTY = 50.0
CONTRADICTION_PENALTY = 50.0
"""Points taken off a component per finding (our choice: one leaked null or one
contradiction halves or nearly halves its component; a placeholder is worse)."""

CONTENT_FIELDS: tuple[str, ...] = (
    "energy_level", "trainability", "sociability", "confidence", "good_with_dogs",
    "good_with_cats", "good_with_children", "home_type", "experience_level",
    "exercise_needs", "grooming_needs", "medical_needs", "special_needs",
    "personality_traits", "favorite_activities", "unique_quirk",
)
"""Profile fields that state facts about the dog (description and tagline are prose)."""

TEXT_FIELDS: tuple[str, ...] = ("description", "tagline", "medical_needs", "special_needs",
                                "unique_quirk", "personality_traits", "favorite_activities")

# A field is "supportable" when the listing description mentions its topic (English or
# German cue). The cue says the topic is there, not what the answer is.
SUPPORT_CUES: dict[str, str] = {
    "energy_level": r"\bactive|energetic|energy|playful|\bcalm|\blazy|hyper|aktiv|energi"
                    r"|temperament|ruhig|verspielt|lebhaft|gemütlich",
    "exercise_needs": r"\bwalks?\b|\bjog|\brun(?:s|ning)?\b|exercise|\bhik|spazier"
                      r"|auslastung|bewegung|joggen|wander",
    "trainability": r"train|obedien|command|\bsit\b|leash|house[-\s]?broken|potty"
                    r"|toilet|erzieh|gehorsam|kommando|leine|hundeschule|stubenrein",
    "sociability": r"friendly|social|stranger|people|affection|cuddl|freundlich|menschen"
                   r"|fremde|verschmust|anhänglich|kontaktfreudig",
    "confidence": r"\bshy\b|timid|fearful|scared|nervous|confiden|brave|ängstlich"
                  r"|unsicher|scheu|selbstbewusst|souverän",
    "good_with_dogs": r"other\s+dogs|with\s+dogs|dog[-\s]friendly|artgenoss"
                      r"|andere[nm]?\s+hunde|mit\s+hunden|hündinnen|\brüden\b",
    "good_with_cats": r"\bcats?\b|kitten|katze",
    "good_with_children": r"\bchild|\bkids?\b|\bbab(?:y|ies)\b|\bkind(?:er|ern)?\b",
    "home_type": r"apartment|condo|\bflat\b|\bhouse\b|garden|\byard|compound|landed"
                 r"|wohnung|\bhaus\b|garten|grundstück",
    "experience_level": r"experience|first[-\s]time|beginner|erfahr|anfänger",
    "grooming_needs": r"groom|brush|\bcoat\b|\bfur\b|shed|\bfell\b|bürst",
    "medical_needs": r"\bvet\b|medic|treatment|disease|illness|injur|surgery|allerg"
                     r"|tierarzt|medikament|krank|behandlung|operation|epilep|arthros",
    "special_needs": r"special\s+needs|blind|deaf|three[-\s]legged|amputat|paraly"
                     r"|wheelchair|handicap|behindert|dreibeinig|\btaub\b",
    "personality_traits": r".",  # any description describes the dog somehow
    "favorite_activities": r"\bloves?\b|\benjoys?\b|favou?rite|\blikes?\b|\bliebt\b"
                           r"|\bmag\b|spielt|gerne",
}
"""``unique_quirk`` has no cue: it is never expected, only counted when grounded."""

CONTRADICTIONS: tuple[tuple[str, frozenset[str], str, frozenset[str], str], ...] = (
    ("energy_level", frozenset({"high", "very_high"}), "exercise_needs",
     frozenset({"minimal"}), "a high-energy dog with minimal exercise needs"),
    ("energy_level", frozenset({"low"}), "exercise_needs", frozenset({"high"}),
     "a low-energy dog with high exercise needs"),
    ("confidence", frozenset({"shy"}), "sociability", frozenset({"very_social"}),
     "a shy dog that is very social"),
    ("trainability", frozenset({"challenging"}), "experience_level",
     frozenset({"first_time_ok"}), "a challenging dog recommended to first-time owners"),
)
"""(field, values, other field, other values, what is wrong) pairs that cannot both hold."""

NULL_WORD_PATTERNS: tuple[str, ...] = (
    r"\bNone\b", r"\bnan\b", r"\bNaN\b", r"\bundefined\b", r"\b[Uu]nknown\b",
    r"\bUNKNOWN\b",
)
"""Words a serialized missing value leaves behind (case-sensitive). "None" starting a
sentence and followed by a lower-case word ("None of his toys ...") is English and not
counted; "None" alone (a whole field value) is. "null" is left out on
purpose: it is a German word ("null Probleme") and JSON nulls arrive as Python ``None``."""

PLACEHOLDER_PATTERNS: tuple[str, ...] = (
    r"\b[Ll]orem\b", r"\b[Ii]psum\b", r"\bTODO\b", r"\bTBD\b", r"\bFIXME\b",
    r"\b[Nn]/[Aa]\b", r"\b[Pp]laceholder\b", r"\[[^\]]{0,30}\]", r"\{[^}]{0,30}\}",
    r"<[^>]{0,30}>", r"\b[Xx]{3,}\b", r"\b[Ii]nsert\s+\w+\s+here\b",
)
"""Template residue (case-sensitive, so Spanish "todo" is not "TODO")."""

_NULL_RE = re.compile("|".join(NULL_WORD_PATTERNS))
_PLACEHOLDER_RE = re.compile("|".join(PLACEHOLDER_PATTERNS))
_NULL_ONLY = frozenset({"none", "nan", "null", "undefined", "unknown", "n/a", "na", "-", ""})
_QUOTE_CHARS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                              "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"',
                              "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u00a0": " ",
                              "`": "'", "\u00b4": "'"})
_ELLIPSIS_RE = re.compile(r"\.\.\.+|…")


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").translate(_QUOTE_CHARS).casefold()
    return re.sub(r"\s+", " ", text).strip()


def quote_found(quote: str, description: str) -> bool:
    """True when ``quote`` occurs in ``description`` after normalization.

    Both sides: NFKC, curly quotes and dashes made straight, case folded, whitespace
    runs collapsed. Surrounding quotes and punctuation of the quote are ignored. A quote
    shortened with "..." or "…" is found when each piece occurs, in order. An empty quote
    is never found.
    """
    haystack = _normalize(description)
    pieces = [p.strip(" \"'.,;:!?-") for p in _ELLIPSIS_RE.split(_normalize(quote))]
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


def _is_filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().casefold() not in _NULL_ONLY
    if isinstance(value, (list, tuple)):
        return any(_is_filled(v) for v in value)
    return True


def filled_fields(profile: DogProfile) -> list[str]:
    """The :data:`CONTENT_FIELDS` of ``profile`` that state something.

    Not filled: ``None``, ``"unknown"``, an empty list, and a string that is only a null
    word ("None", "N/A", "unknown"): it claims nothing (its leak is caught by the
    description_quality component).
    """
    return [f for f in CONTENT_FIELDS if _is_filled(getattr(profile, f))]


def _null_words(text: str) -> list[str]:
    found = []
    for match in _NULL_RE.finditer(text):
        if match.group(0) == "None":
            before = text[:match.start()].rstrip()
            after = text[match.end():]
            if (not before or before[-1] in ".!?\n") and re.match(r"\s+[a-z]", after):
                continue  # "None of ..." starting a sentence is English
        found.append(match.group(0))
    return found


def _texts(profile: DogProfile) -> dict[str, str]:
    out: dict[str, str] = {}
    for field in TEXT_FIELDS:
        value = getattr(profile, field)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        if value:
            out[field] = str(value)
    return out


def score_profile(listing: NormalizedListing, profile: DogProfile) -> QualityScore:
    """Score ``profile`` written for ``listing``: 0-100 with components and review flag.

    Components (each 0-100, weights in :data:`WEIGHTS`):

    * ``grounding`` = 100 x (filled fields whose ``source_references`` quote is found in
      ``listing.description`` by :func:`quote_found`) / (filled fields); 100 when nothing
      is filled (nothing claimed, nothing invented).
    * ``completeness`` = 100 x (supportable fields that are filled) / (supportable fields);
      a field is supportable when ``listing.description`` matches its cue in
      :data:`SUPPORT_CUES`; 100 when none is supportable.
    * ``description_quality`` = 100 minus :data:`DESCRIPTION_LENGTH_PENALTY` when the
      description is outside :data:`DESCRIPTION_WINDOW`, :data:`NULL_WORD_PENALTY` per
      text field with a null word (:data:`NULL_WORD_PATTERNS`) and
      :data:`PLACEHOLDER_PENALTY` per text field with a placeholder
      (:data:`PLACEHOLDER_PATTERNS`); at least 0.
    * ``consistency`` = 100 minus :data:`CONTRADICTION_PENALTY` per rule of
      :data:`CONTRADICTIONS` that fires; at least 0.

    ``reasons`` lists every finding (quotes not found, ungrounded fields, text problems,
    contradictions, a low score). ``needs_review`` is True when the score is below
    :data:`REVIEW_BELOW`, a quote is not found, a contradiction fires, or a null word or
    placeholder leaked into the text.
    """
    reasons: list[str] = []
    review = False
    description = listing.description

    # grounding
    refs = profile.source_references
    missing_quotes = {f: q for f, q in refs.items() if not quote_found(q, description)}
    for field, quote in sorted(missing_quotes.items()):
        review = True
        shown = quote if len(quote) <= 80 else quote[:77] + "..."
        reasons.append(f"source_references[{field!r}] not found in the listing: {shown!r}")
    filled = filled_fields(profile)
    grounded = [f for f in filled if f in refs and f not in missing_quotes]
    ungrounded = [f for f in filled if f not in grounded]
    grounding = 100.0 * len(grounded) / len(filled) if filled else 100.0
    unsupported = [f for f in ungrounded if f not in refs]
    if unsupported:
        reasons.append(f"filled without a source quote: {', '.join(unsupported)}")

    # completeness
    supportable = [f for f, cue in SUPPORT_CUES.items()
                   if re.search(cue, description, re.IGNORECASE)]
    covered = [f for f in supportable if f in filled]
    completeness = 100.0 * len(covered) / len(supportable) if supportable else 100.0

    # description quality
    quality = 100.0
    length = len(profile.description)
    low, high = DESCRIPTION_WINDOW
    if not low <= length <= high:
        quality -= DESCRIPTION_LENGTH_PENALTY
        reasons.append(f"description is {length} chars, outside {low}-{high}")
    for field, text in _texts(profile).items():
        nulls = _null_words(text)
        if nulls:
            quality -= NULL_WORD_PENALTY
            review = True
            reasons.append(f"{field} contains null word(s): {', '.join(sorted(set(nulls)))}")
        holders = [m.group(0) for m in _PLACEHOLDER_RE.finditer(text)]
        if holders:
            quality -= PLACEHOLDER_PENALTY
            review = True
            reasons.append(f"{field} contains placeholder text: {', '.join(holders[:3])}")
    quality = max(0.0, quality)

    # consistency
    consistency = 100.0
    for field_a, values_a, field_b, values_b, what in CONTRADICTIONS:
        a, b = getattr(profile, field_a), getattr(profile, field_b)
        if a in values_a and b in values_b:
            consistency -= CONTRADICTION_PENALTY
            review = True
            reasons.append(f"contradiction: {field_a}={a} with {field_b}={b} ({what})")
    consistency = max(0.0, consistency)

    components = {
        "grounding": round(grounding, 2),
        "completeness": round(completeness, 2),
        "description_quality": round(quality, 2),
        "consistency": round(consistency, 2),
    }
    score = round(sum(WEIGHTS[name] * value for name, value in components.items()), 2)
    score = min(100.0, max(0.0, score))
    if score < REVIEW_BELOW:
        review = True
        reasons.append(f"score {score} < {REVIEW_BELOW}")
    return QualityScore(score=score, components=components, needs_review=review,
                        reasons=reasons)
