"""The rubric for adoption profiles: one score 0-100 from five named components.

Pure functions, no Dagster. Every weight, window and penalty below, and every word list of
the lexicon's ``rubric`` sections and ``shared.yaml``, is our choice, written down so a
reviewer can argue with it; none is measured yet against
human ratings. The components (each 0-100):

* ``grounding``: share of claims (filled profile fields) whose ``source_references``
  quote is verified in the listing, with the hallucination rules' quote matching
  (:func:`enrichment_assets.domain.hallucination.quote_found_in_listing`: description or a
  structured value; whitespace, case, quote style and umlaut spelling ignored). An
  invented fact is the production system's worst failure, so this weighs most.
* ``completeness``: share of fields the listing could support (it mentions the topic)
  that the profile fills. Silence is allowed, so this weighs less than grounding.
* ``description_quality``: the text reads like a profile of this dog: a length window, no
  leaked nulls ("None", "nan", "unknown"), no placeholder text, no source-language
  fragments (a German sentence left in an English description of a German listing), no
  cliches from the prompt file's list (``PromptConfig.cliches``), no sentence repeated
  across the profiles of one organization (:func:`repeated_sentences`).
* ``consistency``: no contradiction inside the profile (rule ``internal_contradiction``).
* ``confidence_calibration``: a field the model is sure of (confidence >=
  :data:`CALIBRATION_HIGH`) has a verified quote.

``needs_review`` is set when the score is below the threshold (:data:`REVIEW_BELOW` by
default), when any hallucination rule fires (error or warn), or when a null word or
placeholder leaked into the text (such text must never be published).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from enrichment_assets import lexicon
from enrichment_assets.domain.grounding import split_sentences
from enrichment_assets.domain.hallucination import (
    CONTRADICTIONS,
    Violation,
    check_profile,
    fold,
    quote_found_in_listing,
    quote_in_text,
)
from enrichment_assets.domain.models import DogProfile, NormalizedListing, QualityScore
from enrichment_assets.domain.normalize import detect_language

__all__ = [
    "WEIGHTS",
    "REVIEW_BELOW",
    "DESCRIPTION_WINDOW",
    "CALIBRATION_HIGH",
    "REPEATED_MIN_WORDS",
    "CONTENT_FIELDS",
    "support_cues",
    "CONTRADICTIONS",
    "quote_found",
    "filled_fields",
    "sentence_key",
    "repeated_sentences_by_profile",
    "repeated_sentences",
    "score_profile",
    "QUALITY_BANDS",
    "quality_band",
]

WEIGHTS: dict[str, float] = {
    # Our choice. Grounding first: an invented fact in an adoption profile misleads an
    # adopter and was the production system's main complaint. Text quality next: a leaked
    # "None", a German sentence in an English text or a copy-pasted cliche is visible to
    # every reader. Completeness is secondary because leaving a field empty is honest.
    # Consistency and calibration are cheap sanity checks with few findings each.
    "grounding": 0.35,
    "description_quality": 0.20,
    "completeness": 0.15,
    "consistency": 0.15,
    "confidence_calibration": 0.15,
}

REVIEW_BELOW = 60.0
"""A score below this sets ``needs_review`` (our choice: the middle of the scale plus a
margin, so a profile failing grounding completely (weight 0.35) and one more component is
always reviewed)."""

QUALITY_BANDS: tuple[tuple[str, float], ...] = (("excellent", 85.0), ("good", 70.0), ("fair", 50.0), ("poor", 0.0))
"""Bands of the rubric score for ``enrichment status``: the lowest score of each band
(excellent >= 85, good 70-<85, fair 50-<70, poor < 50). Our choice: a profile losing only
completeness or a cliche stays excellent; one with a grounding gap (weight 0.35) drops at
least a band; ``fair`` straddles :data:`REVIEW_BELOW`, so every ``poor`` profile is also
flagged for review."""


def quality_band(score: float) -> str:
    """The :data:`QUALITY_BANDS` name of a 0-100 score."""
    for name, lowest in QUALITY_BANDS:
        if score >= lowest:
            return name
    return QUALITY_BANDS[-1][0]


DESCRIPTION_WINDOW = (150, 1200)
"""Profile description length in characters that reads like a profile (our choice: under
150 says nothing a listing does not; over 1200 is longer than the median source text of
both real sources, so it must be padding)."""

DESCRIPTION_LENGTH_PENALTY = 30.0
NULL_WORD_PENALTY = 30.0
PLACEHOLDER_PENALTY = 50.0
SOURCE_LANGUAGE_PENALTY = 25.0
CLICHE_PENALTY = 10.0
REPEATED_SENTENCE_PENALTY = 10.0
CONTRADICTION_PENALTY = 50.0
"""Points taken off a component per finding (our choice: one leaked null or one
contradiction halves or nearly halves its component; a placeholder is worse; a
source-language sentence is a quarter; a cliche or a repeated sentence costs a tenth, so
a template-heavy text loses points without being sent to review)."""

CALIBRATION_HIGH = 0.8
"""Confidence from which a model claims to be sure: such a field needs a verified quote
(our choice: the prompt asks for 0..1, and 0.8 is where "probably" turns into "yes")."""

REPEATED_MIN_WORDS = 6
"""Sentences shorter than this many words are not counted as repeated (our choice: "She
is spayed." is a fact every profile may state; a repeated sentence of six or more words is
copy-paste)."""

CONTENT_FIELDS: tuple[str, ...] = (
    "energy_level", "trainability", "sociability", "confidence", "good_with_dogs",
    "good_with_cats", "good_with_children", "home_type", "experience_level",
    "exercise_needs", "grooming_needs", "medical_needs", "special_needs",
    "personality_traits", "favorite_activities", "unique_quirk",
)
"""Profile fields that state facts about the dog (description and tagline are prose)."""

TEXT_FIELDS: tuple[str, ...] = ("description", "tagline", "medical_needs", "special_needs",
                                "unique_quirk", "personality_traits", "favorite_activities")


@lexicon.cached
def support_cues() -> dict[str, re.Pattern[str]]:
    """Field -> the pattern (case-insensitive) of its topic cues: a field is "supportable"
    when the listing description matches it. From the lexicon's ``rubric.support_cues``
    (every language file, merged). ``unique_quirk`` has no cue: it is never expected, only
    counted when grounded."""
    cues = lexicon.mapping("rubric", "support_cues")
    return {field: re.compile("|".join(cues[field]), re.IGNORECASE)
            for field in CONTENT_FIELDS if cues.get(field)}


@lexicon.cached
def _null_re() -> re.Pattern[str]:
    """Words a serialized missing value leaves behind in prose (case-sensitive), from
    ``shared.yaml`` ``null_word_regexes``: "None", "nan", "undefined", "unknown". "None"
    starting a sentence and followed by a lower-case word ("None of his toys ...") is
    English and not counted (:func:`_null_words`); "None" alone (a whole field value) is."""
    return re.compile("|".join(lexicon.shared("null_word_regexes") or [r"(?!x)x"]))


@lexicon.cached
def _placeholder_re() -> re.Pattern[str]:
    """Template residue (case-sensitive, so Spanish "todo" is not "TODO"), from
    ``shared.yaml`` ``placeholder_regexes``: "Lorem", "TODO", "[name]", "{breed}", ..."""
    return re.compile("|".join(lexicon.shared("placeholder_regexes") or [r"(?!x)x"]))


K = TypeVar("K")

_PROSE_FIELDS = frozenset({"description", "tagline"})


def quote_found(quote: str, description: str) -> bool:
    """True when ``quote`` occurs in ``description`` after the hallucination rules'
    normalization (:func:`enrichment_assets.domain.hallucination.quote_in_text`: NFKC,
    curly quotes and dashes straight, case folded, umlauts as ae/oe/ue/ss, whitespace
    collapsed). Surrounding quotes and punctuation of the quote are ignored; a quote
    shortened with "..." or "…" is found when each piece occurs, in order. An empty quote
    is never found."""
    return quote_in_text(quote, description)


def _is_filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return not lexicon.is_missing(value)
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


def sentence_key(sentence: str) -> str:
    """The form in which sentences are compared across profiles: :func:`fold` of it
    (case, whitespace, quote style and umlaut spelling ignored)."""
    return fold(sentence)


def repeated_sentences(profiles: Iterable[DogProfile], min_words: int = REPEATED_MIN_WORDS) -> set[str]:
    """Sentences (as :func:`sentence_key`) that occur in the descriptions of at least two
    of ``profiles`` (one organization's profiles; a sentence counts once per profile).

    Sentences of fewer than ``min_words`` words are ignored (default
    :data:`REPEATED_MIN_WORDS`). Pass the result to :func:`score_profile` as
    ``repeated``.

    Raises:
        ValueError: when ``min_words`` < 1.
    """
    return repeated_sentences_by_profile(dict(enumerate(profiles)), min_words)[0]


def repeated_sentences_by_profile(profiles: Mapping[K, DogProfile], min_words: int = REPEATED_MIN_WORDS,
                                  ) -> tuple[set[str], dict[K, set[str]]]:
    """:func:`repeated_sentences` of the values of ``profiles``, and per key the repeated
    sentences its description contains (any length): the only part of the repeated set that
    :func:`score_profile` reads for that profile. One sentence split per profile.

    Raises:
        ValueError: when ``min_words`` < 1.
    """
    if min_words < 1:
        raise ValueError(f"min_words={min_words}: must be at least 1")
    counts: Counter[str] = Counter()
    sentences: dict[K, list[tuple[str, int]]] = {}
    for key, profile in profiles.items():
        sentences[key] = [(sentence_key(s), len(s.split())) for s in split_sentences(profile.description)]
        counts.update({k for k, words in sentences[key] if words >= min_words})
    repeated = {k for k, n in counts.items() if n >= 2}
    return repeated, {key: {k for k, _ in found} & repeated for key, found in sentences.items()}


def _null_words(text: str) -> list[str]:
    found = []
    for match in _null_re().finditer(text):
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


def _source_language_fragments(listing: NormalizedListing, profile: DogProfile) -> list[str]:
    """Sentences of the description written in the listing's language when the
    description as a whole is in another language (an untranslated leftover)."""
    source = listing.language
    if source in ("und", ""):
        return []
    written_in = detect_language(profile.description)
    if written_in in ("und", source):
        return []
    return [s for s in split_sentences(profile.description) if detect_language(s) == source]


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def score_profile(
    listing: NormalizedListing,
    profile: DogProfile,
    *,
    violations: Sequence[Violation] | None = None,
    cliches: Sequence[str] = (),
    repeated: set[str] | frozenset[str] = frozenset(),
    review_below: float = REVIEW_BELOW,
) -> QualityScore:
    """Score ``profile`` written for ``listing``: 0-100 with components and review flag.

    Args:
        listing, profile: the pair to score.
        violations: the hallucination rules' findings for the pair; ``None`` (default)
            runs :func:`~enrichment_assets.domain.hallucination.check_profile` here.
        cliches: phrases the description and tagline should not use
            (``PromptConfig.cliches``; matched case- and whitespace-insensitively).
        repeated: sentences repeated across the organization's profiles, from
            :func:`repeated_sentences`.
        review_below: the score below which ``needs_review`` is set.

    Components (each 0-100, weights in :data:`WEIGHTS`):

    * ``grounding`` = 100 x (filled fields whose reference is verified by
      ``quote_found_in_listing``) / (filled fields); 100 when nothing is filled.
    * ``completeness`` = 100 x (supportable fields that are filled) / (supportable
      fields); a field is supportable when ``listing.description`` matches its cue in
      :func:`support_cues`; 100 when none is supportable.
    * ``description_quality`` = 100 minus :data:`DESCRIPTION_LENGTH_PENALTY` outside
      :data:`DESCRIPTION_WINDOW`, :data:`NULL_WORD_PENALTY` per text field with a null
      word, :data:`PLACEHOLDER_PENALTY` per text field with a placeholder,
      :data:`SOURCE_LANGUAGE_PENALTY` per description sentence in the listing's language
      when the description is in another one, :data:`CLICHE_PENALTY` per cliche used and
      :data:`REPEATED_SENTENCE_PENALTY` per description sentence in ``repeated``; at
      least 0.
    * ``consistency`` = 100 minus :data:`CONTRADICTION_PENALTY` per
      ``internal_contradiction`` violation; at least 0.
    * ``confidence_calibration`` = 100 x (1 - miscalibrated / fields with a confidence
      score); a field is miscalibrated when its confidence is >= :data:`CALIBRATION_HIGH`
      and it has no verified quote. ``description``/``tagline`` scores are ignored; 100
      without scores.

    ``reasons`` lists every finding as ``"<kind>: <details>"`` (a violation as
    ``"<rule id>: <field> (<severity>): <evidence>"``), so the text before the first colon
    counts findings by kind. ``needs_review`` is True when the score is below
    ``review_below``, any violation (error or warn) is given or found, or a null word or
    placeholder leaked into the text.
    """
    if violations is None:
        violations = check_profile(listing, profile)
    reasons: list[str] = []
    review = False

    for v in violations:
        review = True
        reasons.append(f"{v.rule}: {v.field} ({v.severity}): {v.evidence}")

    # grounding
    refs = profile.source_references
    verified = {f for f, q in refs.items()
                if isinstance(q, str) and q.strip() and quote_found_in_listing(q, listing)}
    filled = filled_fields(profile)
    grounded = [f for f in filled if f in verified]
    grounding = 100.0 * len(grounded) / len(filled) if filled else 100.0
    unsupported = [f for f in filled if f not in refs]
    if unsupported:
        reasons.append(f"filled without a source quote: {', '.join(unsupported)}")

    # completeness
    supportable = [f for f, cue in support_cues().items() if cue.search(listing.description)]
    covered = [f for f in supportable if f in filled]
    completeness = 100.0 * len(covered) / len(supportable) if supportable else 100.0

    # description quality
    quality = 100.0
    length = len(profile.description)
    low, high = DESCRIPTION_WINDOW
    if not low <= length <= high:
        quality -= DESCRIPTION_LENGTH_PENALTY
        reasons.append(f"description length: {length} chars, outside {low}-{high}")
    for field, text in _texts(profile).items():
        nulls = _null_words(text)
        if nulls:
            quality -= NULL_WORD_PENALTY
            review = True
            reasons.append(f"{field} contains null word(s): {', '.join(sorted(set(nulls)))}")
        holders = [m.group(0) for m in _placeholder_re().finditer(text)]
        if holders:
            quality -= PLACEHOLDER_PENALTY
            review = True
            reasons.append(f"{field} contains placeholder text: {', '.join(holders[:3])}")
    for sentence in _source_language_fragments(listing, profile):
        quality -= SOURCE_LANGUAGE_PENALTY
        reasons.append(f"source-language ({listing.language}) sentence left in the description: "
                       f"{_short(sentence)!r}")
    prose = fold(f"{profile.tagline}\n{profile.description}")
    for cliche in dict.fromkeys(c for c in cliches if c and c.strip()):
        if fold(cliche) in prose:
            quality -= CLICHE_PENALTY
            reasons.append(f"cliche: {cliche!r}")
    if repeated:
        for sentence in split_sentences(profile.description):
            if sentence_key(sentence) in repeated:
                quality -= REPEATED_SENTENCE_PENALTY
                reasons.append(f"sentence repeated across the organization's profiles: {_short(sentence)!r}")
    quality = max(0.0, quality)

    # consistency
    contradictions = [v for v in violations if v.rule == "internal_contradiction"]
    consistency = max(0.0, 100.0 - CONTRADICTION_PENALTY * len(contradictions))

    # confidence calibration
    scored = {f: c for f, c in profile.confidence_scores.items() if f not in _PROSE_FIELDS}
    miscalibrated = sorted(f for f, c in scored.items() if c >= CALIBRATION_HIGH and f not in verified)
    calibration = 100.0 * (1 - len(miscalibrated) / len(scored)) if scored else 100.0
    if miscalibrated:
        reasons.append(f"confidence >= {CALIBRATION_HIGH} without a verified quote: {', '.join(miscalibrated)}")

    components = {
        "grounding": round(grounding, 2),
        "completeness": round(completeness, 2),
        "description_quality": round(quality, 2),
        "consistency": round(consistency, 2),
        "confidence_calibration": round(calibration, 2),
    }
    score = round(sum(WEIGHTS[name] * value for name, value in components.items()), 2)
    score = min(100.0, max(0.0, score))
    if score < review_below:
        review = True
        reasons.append(f"low score: {score} < {review_below}")
    return QualityScore(score=score, components=components, needs_review=review,
                        reasons=reasons)
