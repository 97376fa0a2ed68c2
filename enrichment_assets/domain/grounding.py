"""What a profile may be grounded in: the usable part of a listing's description.

Pure functions, no Dagster. An organization's repeated text (its boilerplate: adoption
terms, opening hours) and contact lines (phone numbers, "pls contact ...") say nothing
about the dog; a model fed with them writes profiles about the shelter. This module

* splits German and English text into sentences (:func:`split_sentences`),
* finds an organization's boilerplate sentences (:func:`find_boilerplate`),
* removes boilerplate and contact lines (:func:`usable_description`),
* decides whether enough text is left to profile from (:func:`assess_source`; the
  threshold ``min_source_chars`` = 150 is the production system's experience, see
  ``PromptConfig.min_source_chars``).

The words are the lexicon's (``enrichment_assets/lexicon``: sections ``sentences`` and
``grounding`` of each ``<lang>.yaml``, ``contact_regexes`` of ``shared.yaml``).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enrichment_assets import lexicon
from enrichment_assets.domain.models import NormalizedListing
from enrichment_assets.domain.prefilter import fold, required_keywords

__all__ = [
    "contact_patterns",
    "SourceAssessment",
    "split_sentences",
    "sentence_spans",
    "normalize_sentence",
    "find_boilerplate",
    "is_contact_line",
    "usable_description",
    "assess_source",
    "looks_like_breed_guide",
]

# ---------------------------------------------------------------------------------------
# Sentence splitting
# ---------------------------------------------------------------------------------------

class _SplitterWords:
    """The splitter's words, from the lexicon: ``sentences.abbreviations`` (with the dot,
    lower case), the month names of ``stated_facts.months``, ``sentences.ordinal_context``
    (words before "<number>." that make the number a German ordinal: "am 3. Tag")."""

    def __init__(self) -> None:
        self.abbreviations = frozenset(a.lower() for a in lexicon.words("sentences", "abbreviations"))
        self.months = frozenset(m.lower() for m in lexicon.mapping("stated_facts", "months"))
        self.ordinal_context = frozenset(w.lower() for w in lexicon.words("sentences", "ordinal_context"))


@lexicon.cached
def _splitter_words() -> _SplitterWords:
    return _SplitterWords()


# Linear by construction (issue 9): a terminator run is matched once, from its start (the
# look-behind), without backtracking (possessive quantifiers), so a long run of full stops
# is not rescanned from every position.
_TERMINATOR_RE = re.compile(r"(?<![.!?…])[.!?…]++[\"'’”»)\]]*+(?=\s)|[。！？]+[”」』)]*|\n+")
_INITIALISM_RE = re.compile(r"^(?:[^\W\d_]\.){2,}$")
_SPACE_RE = re.compile(r"\s+")
_NEXT_CHAR_RE = re.compile(r"\s*+(\S)")
_LETTERS_RE = re.compile(r"[^\W\d_]+")
#: How far back (characters) the splitter looks for the word before a full stop and the word
#: before that; a longer word is no abbreviation, initial, ordinal or context word.
_WORD_WINDOW = 64


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text``, stripped, non-empty."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _TERMINATOR_RE.finditer(text):
        end = match.end()
        token = match.group(0)
        if token[0] in ".!?…" and not _ends_sentence(text, match.start(), end, token):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def _ends_sentence(text: str, dot_at: int, end: int, token: str) -> bool:
    # Every look-around is bounded or anchored at ``end``: no copy of the rest of the text
    # per full stop (issue 9: ``text[end:].lstrip()`` made a 4 MB text take 90 s).
    following = _NEXT_CHAR_RE.match(text, end)
    if not following:
        return True
    rest_at = following.start(1)
    if following.group(1).islower():
        return False  # "ca. drei", "home..pls", "etc. and" -- no new sentence
    if not token.startswith("."):
        return True  # "!" and "?" end a sentence before anything but lower case
    lo = max(0, dot_at - _WORD_WINDOW)
    word_start = max(text.rfind(" ", lo, dot_at), text.rfind("\n", lo, dot_at)) + 1
    if word_start == 0 and lo > 0:
        return True  # a word longer than the window: no abbreviation
    word = text[word_start:dot_at + 1].lstrip("(\"'„“»[").lower()
    vocabulary = _splitter_words()
    if word in vocabulary.abbreviations or _INITIALISM_RE.match(word):
        return False
    if len(word) == 2 and word[0].isalpha():
        return False  # an initial or a spaced abbreviation: "J. Smith", "z. B.", "d. h."
    if re.fullmatch(r"\d{1,2}\.", word):
        next_word = _LETTERS_RE.match(text, rest_at, rest_at + _WORD_WINDOW)
        if next_word and next_word.group(0).lower() in vocabulary.months:
            return False  # "am 25. September"
        before = _word_before(text, word_start)
        if before and before.lower().strip("(\"'„") in vocabulary.ordinal_context:
            return False  # "im 3. Lebensjahr"
    return True


def _word_before(text: str, end: int) -> str | None:
    """The whitespace-separated word ending before ``end`` (looking back at most
    :data:`_WORD_WINDOW` characters); None when there is none or it is longer."""
    lo = max(0, end - _WORD_WINDOW)
    window = text[lo:end]
    parts = window.split()
    if not parts:
        return None
    if len(parts) == 1 and lo > 0 and not window[0].isspace() and not text[lo - 1].isspace():
        return None  # the word goes on before the window: longer than any context word
    return parts[-1]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` (see :func:`split_sentences`)."""
    return _sentence_spans(text or "")


def split_sentences(text: str) -> list[str]:
    """Split German or English ``text`` into sentences (each stripped, original spacing).

    The project's one sentence splitter (the rules, the rubric, the instruction filter and
    the offline model all use it). A sentence ends at ``.``, ``!``, ``?``, ``…`` (with
    trailing quotes or brackets) followed by whitespace and a character that is not lower
    case, at ``。！？``, and at every line break. A ``.`` does not end a sentence after an
    abbreviation of the lexicon's ``sentences.abbreviations`` ("z.B.", "ca.", "bzw.", "e.g."), after an initialism ("d.h."),
    after a single letter ("J. Smith", "z. B."), or after a German ordinal ("am 25. September",
    "im 3. Lebensjahr"). Times and dates ("13:00", "25.02.2017") have no space after the
    mark and never split.
    """
    return [text[s:e] for s, e in _sentence_spans(text or "")]


def normalize_sentence(sentence: str) -> str:
    """``sentence`` with every whitespace run turned into one space, stripped."""
    return _SPACE_RE.sub(" ", sentence).strip()


def find_boilerplate(
    descriptions: list[str], min_share: float = 0.5, min_listings: int = 5
) -> list[str]:
    """Sentences (whitespace-normalized) found in at least ``min_share`` of the descriptions.

    ``descriptions`` are one organization's (cleaned) descriptions. Only non-empty
    descriptions count, and a sentence counts once per description. With fewer than
    ``min_listings`` non-empty descriptions the answer is ``[]``: two listings sharing a
    sentence prove nothing. Both numbers are our choice: a sentence in half of an
    organization's listings is about the organization, not one dog. Result: most frequent
    first, ties in order of first appearance.

    Raises:
        ValueError: ``min_share`` outside (0, 1] or ``min_listings`` < 2.
    """
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share={min_share}: must be within (0, 1]")
    if min_listings < 2:
        raise ValueError(f"min_listings={min_listings}: must be at least 2")
    texts = [d for d in descriptions if d and d.strip()]
    if len(texts) < min_listings:
        return []
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for text in texts:
        seen = list(dict.fromkeys(normalize_sentence(s) for s in split_sentences(text)))
        for sentence in seen:
            first_seen.setdefault(sentence, len(first_seen))
        counts.update(seen)
    needed = min_share * len(texts)
    found = [s for s, n in counts.items() if n >= needed and s]
    return sorted(found, key=lambda s: (-counts[s], first_seen[s]))


# ---------------------------------------------------------------------------------------
# Contact lines
# ---------------------------------------------------------------------------------------

@lexicon.cached
def contact_patterns() -> dict[str, tuple[str, ...]]:
    """Contact-line regexes by language (``"any"``: every language, an e-mail address), from
    the lexicon's ``grounding.contact_regexes`` (``shared.yaml`` for ``"any"``), with
    ``{contact_verbs}`` replaced by the alternation of every language's
    ``grounding.contact_verbs`` ("contact", "call", "WhatsApp", ...)."""
    verbs = "(?:" + "|".join(lexicon.words("grounding", "contact_verbs")) + ")"
    out: dict[str, tuple[str, ...]] = {"any": tuple(lexicon.shared("contact_regexes") or ())}
    for language in lexicon.languages():
        patterns = lexicon.words("grounding", "contact_regexes", language=language)
        if patterns:
            out[language] = tuple(p.replace("{contact_verbs}", verbs) for p in patterns)
    return out


# The combined pattern tries ~25 alternatives at every character (about 1.3 s per MB even
# when nothing matches); a sentence holding none of the keywords its patterns require is
# not searched (issue 9: a 4 MB description must go through in seconds).
class _ContactFilter:
    """The compiled contact-line patterns and their keyword prefilter."""

    def __init__(self) -> None:
        patterns = [p for terms in contact_patterns().values() for p in terms]
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.MULTILINE)
        sets = [required_keywords(p, min_length=1) for p in patterns]
        # Every contact-pattern match holds one of these (folded); None: no prefilter.
        self.keywords = None if any(k is None for k in sets) else frozenset().union(*sets)
        self.keyword_re = re.compile("|".join(re.escape(k) for k in sorted(self.keywords or (), key=len,
                                                                            reverse=True)))


@lexicon.cached
def _contact_filter() -> _ContactFilter:
    return _ContactFilter()


_DIGIT_RE = re.compile(r"\d")
_PHONE_RE = re.compile(r"(?<![\w.,])(?:\+|00)?\d[\d \-/().]{5,}\d(?![\w])")
_DATE_LIKE_RE = re.compile(r"\d{1,2}[./]\d{1,2}[./]\d{2,5}|\d{4}-\d{2}-\d{2}")
# Finer cuts inside a sentence that holds a contact phrase, so a run-on sentence keeps
# its parts about the dog: any ". " / "! " / "; " (whatever case follows), " - ",
# an enumeration "3) ", an emoticon ":)".
# A whitespace run is tried once, from its start, without backtracking (linear).
_FINE_SPLIT_RE = re.compile(r"(?<=[.!?;])\s+|(?<!\s)\s++-++\s+|(?<!\s)\s++(?=\d{1,2}\)\s)|(?<=:\))\s*")


def _has_phone_number(text: str) -> bool:
    for match in _PHONE_RE.finditer(text):
        candidate = match.group(0)
        if _DATE_LIKE_RE.fullmatch(candidate.strip()):
            continue
        if sum(1 for _ in zip(range(7), _DIGIT_RE.finditer(candidate))) >= 7:
            return True
    return False


def is_contact_line(sentence: str) -> bool:
    """True when ``sentence`` is about how to reach the organization, not about the dog.

    A phone number (7+ digits, dates excluded), an e-mail address, or a phrase of
    :func:`contact_patterns`: "pls contact ...", "call me", "WhatsApp ...", "interested
    ... contact", "Contact:", German "Telefon"/"telefonisch", "Tel.", "Vermittlungszeiten",
    "melden Sie sich", Malay "hubungi", Chinese 联系/电话/微信. A noun use like "loves
    human contact" or "Kontakt zu Artgenossen" is not a contact line.
    """
    contact = _contact_filter()
    if contact.keywords is None or contact.keyword_re.search(fold(sentence)):
        if contact.pattern.search(sentence):
            return True
    return _has_phone_number(sentence)


# ---------------------------------------------------------------------------------------
# Usable text and the assessment
# ---------------------------------------------------------------------------------------


def _boilerplate_pattern(sentence: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in sentence.split()]
    return re.compile(r"\s+".join(parts))


def _fine_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    pos = start
    for match in _FINE_SPLIT_RE.finditer(text, start, end):
        if match.start() > pos:
            spans.append((pos, match.start()))
        pos = match.end()
    if pos < end:
        spans.append((pos, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _strip(description: str, boilerplate: list[str]) -> tuple[str, int, int]:
    """(usable text, boilerplate sentences removed, contact lines removed)."""
    text = description or ""
    known = {normalize_sentence(b) for b in boilerplate if b and b.strip()}
    kept: list[tuple[int, int]] = []
    n_boiler = n_contact = 0
    for s, e in _sentence_spans(text):
        sentence = text[s:e]
        if known and normalize_sentence(sentence) in known:
            n_boiler += 1
        elif is_contact_line(sentence):
            pieces = _fine_spans(text, s, e)
            # a single piece that is the whole sentence was just checked
            flagged = [True] if pieces == [(s, e)] else [is_contact_line(text[ps:pe]) for ps, pe in pieces]
            if not any(flagged):
                n_contact += 1  # the contact phrase spans the pieces: drop the sentence
                continue
            n_contact += sum(flagged)
            kept.extend(span for span, bad in zip(pieces, flagged) if not bad)
        else:
            kept.append((s, e))
    pieces: list[str] = []
    for i, (s, e) in enumerate(kept):
        if i:
            gap = text[kept[i - 1][1]:s]
            pieces.append("\n" if "\n" in gap or gap.strip() else " ")
        pieces.append(text[s:e])
    usable = "".join(pieces)
    # A boilerplate sentence glued to the previous one (no full stop before it) is not a
    # sentence of its own here: cut it out where it occurs.
    for sentence in sorted(known, key=len, reverse=True):
        usable, n = _boilerplate_pattern(sentence).subn(" ", usable)
        n_boiler += n
    usable = re.sub(r"[^\S\n]{2,}", " ", usable).strip()
    return usable, n_boiler, n_contact


def usable_description(description: str, boilerplate: list[str]) -> str:
    """``description`` without boilerplate sentences and contact lines.

    Removed: every sentence (see :func:`split_sentences`) equal to a ``boilerplate``
    sentence after whitespace normalization, any remaining occurrence of a boilerplate
    sentence inside a longer one, and every contact line (:func:`is_contact_line`; in a
    run-on sentence only the part with the contact phrase, cut at ". ", "; ", " - ",
    "3) "). The kept parts keep their text; they are joined by one space (or a line break where
    the source had one).
    """
    return _strip(description, boilerplate)[0]


class SourceAssessment(BaseModel):
    """Whether a listing has enough text of its own to write a profile from.

    ``usable_text``: the description without boilerplate and contact lines;
    ``usable_chars``: its length in characters; ``sufficient``: ``usable_chars >=
    min_source_chars`` and not a breed-guide blurb; ``reason``: why not (``None`` when
    sufficient); the counts say what was removed.
    """

    model_config = ConfigDict(extra="forbid")

    usable_text: str
    usable_chars: int = Field(ge=0)
    sufficient: bool
    reason: str | None = None
    boilerplate_removed: int = Field(default=0, ge=0)
    contact_lines_removed: int = Field(default=0, ge=0)
    breed_guide: bool = False


@lexicon.cached
def _breed_guide_words() -> tuple[frozenset[str], re.Pattern[str]]:
    """(personal pronouns, breed-guide cue pattern) from the lexicon's
    ``grounding.personal_pronouns`` and ``grounding.breed_guide_regexes``."""
    pronouns = frozenset(w.lower() for w in lexicon.words("grounding", "personal_pronouns"))
    cues = lexicon.words("grounding", "breed_guide_regexes") or [r"(?!x)x"]
    return pronouns, re.compile("|".join(cues), re.IGNORECASE)


_WORDS_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def looks_like_breed_guide(text: str, name: str) -> bool:
    """True for text that reads like a breed encyclopedia entry, not about this dog.

    All three must hold (precision over recall): the text never names the dog
    (``name``, case-insensitive, if it has at least 2 letters), never uses a personal
    pronoun of the lexicon's ``grounding.personal_pronouns`` (he/she/er/sie/I/we ...), and
    has at least two cues of ``grounding.breed_guide_regexes`` ("this breed", "bred for", "originated
    in", "diese Rasse", ...).
    """
    if not text:
        return False
    pronouns, cue_re = _breed_guide_words()
    words = [w.lower() for w in _WORDS_RE.findall(text)]
    if any(w in pronouns for w in words):
        return False
    clean_name = (name or "").strip()
    if sum(ch.isalpha() for ch in clean_name) >= 2 and clean_name.lower() in text.lower():
        return False
    return len(cue_re.findall(text)) >= 2


def assess_source(
    listing: NormalizedListing, boilerplate: list[str], min_source_chars: int = 150
) -> SourceAssessment:
    """Usable text of ``listing`` and whether it suffices to write a profile.

    ``boilerplate``: the organization's sentences (from :func:`find_boilerplate` and/or
    the prompt config). ``min_source_chars`` (default 150, the production system's
    threshold, ``PromptConfig.min_source_chars``): fewer usable characters is
    insufficient. A breed-guide blurb (:func:`looks_like_breed_guide`) is insufficient
    whatever its length: it is not a description of this dog.

    Raises:
        ValueError: when ``min_source_chars`` is negative.
    """
    if min_source_chars < 0:
        raise ValueError(f"min_source_chars={min_source_chars}: must be >= 0")
    usable, n_boiler, n_contact = _strip(listing.description, boilerplate)
    chars = len(usable)
    removed = []
    if n_boiler:
        removed.append(f"{n_boiler} boilerplate sentence{'s' if n_boiler != 1 else ''}")
    if n_contact:
        removed.append(f"{n_contact} contact line{'s' if n_contact != 1 else ''}")
    after = f" after removing {' and '.join(removed)}" if removed else ""
    reason: str | None = None
    guide = False
    if chars < min_source_chars:
        reason = (f"usable description {chars} chars < min_source_chars "
                  f"{min_source_chars}{after}")
    elif looks_like_breed_guide(usable, listing.name):
        guide = True
        reason = ("usable description reads like a breed guide (no name, no pronoun, "
                  "breed-guide wording), not a description of this dog")
    return SourceAssessment(
        usable_text=usable,
        usable_chars=chars,
        sufficient=reason is None,
        reason=reason,
        boilerplate_removed=n_boiler,
        contact_lines_removed=n_contact,
        breed_guide=guide,
    )


def __getattr__(name: str) -> Any:
    # ``ABBREVIATIONS`` ({language: (abbreviation, ...)}, lower case with the dot) is the
    # lexicon's ``sentences.abbreviations`` per language, kept under its old name for
    # readers that import it (domain/facts.py).
    if name == "ABBREVIATIONS":
        return {lang: tuple(terms) for lang in lexicon.languages()
                if (terms := lexicon.words("sentences", "abbreviations", language=lang))}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
