"""What a quote says about a dog's life with cats, other dogs or children.

Pure functions, no Dagster. The compatibility rule (``hallucination.rule_compatibility_
unsupported``) checks what a quote *says*, not only its topic: "Katzen: nein" or "cats:
not yet tested" never supports ``good_with_cats: yes``. :func:`read_quote` gives a
:class:`Reading` of one quote for one topic:

* a quote that is (or holds) a fact-block entry of the listing for that field is read as
  the entry's parsed value (:mod:`~enrichment_assets.domain.facts`: "Kinder: ja, wenn
  älter" is ``maybe``; "Good with dogs:" with no value is ``unknown``);
* otherwise each clause of the quote that names the topic (vocabulary
  ``compatibility.topics`` plus the rules' ``animals``/``children`` lists, and breed names
  for dogs) is read with ``compatibility.unknown`` / ``negative`` / ``conditional`` /
  ``positive`` terms, in that order of strength; a quote naming only animals in general
  ("verträglich mit anderen Tieren") is ``generic``.

Verdicts: ``yes`` (an explicit positive), ``neutral`` (names the topic, no marker),
``maybe`` (a conditional marker: "selective", "with slow introduction", "ab 12 Jahren"),
``qualified`` (an adjective narrowing the animals: "good with small dogs", "ältere
Kinder": weaker than a condition, so it does not contradict ``yes``), ``no``, ``unknown``, ``generic`` / ``generic-no`` (names only animals in
general, fine with them / not), ``unrelated`` (the quote does not name the topic). :func:`contradiction` decides whether a profile value is backed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from enrichment_assets import lexicon
from enrichment_assets.domain.models import NormalizedListing, StatedFact

__all__ = ["TOPIC_OF_FIELD", "topic_pattern", "Reading", "read_text", "read_quote", "contradiction", "is_conditional"]

TOPIC_OF_FIELD = {"good_with_dogs": "dogs", "good_with_cats": "cats", "good_with_children": "children"}
"""Profile field -> topic."""



@dataclass(frozen=True)
class Reading:
    """What a quote says about one topic: ``verdict`` and the words that decided it."""

    verdict: str
    evidence: str = ""


@functools.cache
def _pattern(*path: str) -> re.Pattern[str]:
    terms: list[str] = []
    for language in lexicon.languages():
        node = lexicon.lookup(*path, language=language)
        if isinstance(node, list):
            terms.extend(node)
    return lexicon.compile_terms(terms)


@functools.cache
def _topic_pattern(topic: str) -> re.Pattern[str]:
    terms = list(_terms("compatibility", "topics", topic))
    if topic in ("cats", "dogs"):
        terms += _terms("animals", topic, "mention") + _terms("animals", topic, "evidence")
    elif topic == "children":
        terms += _terms("children", "mention") + _terms("children", "evidence")
    pattern = lexicon.compile_terms(terms)
    if topic != "dogs":
        return pattern
    # a breed names a dog: "lived with a female husky", "the fosterer's two collies"
    return re.compile(f"{pattern.pattern}|{_breed_names_regex()}", re.IGNORECASE)


def _breed_names_regex() -> str:
    """One alternation of every breed and type name of ``lexicon/breeds.yaml`` (folded,
    longer than three letters) and its English or German plural ("collie" -> "collies",
    "husky" -> "huskies", "pudel" -> "pudeln"), with one word boundary around it: the
    names as separate terms, each with its own boundaries, made every search slower."""
    data = lexicon.data_file("breeds")
    names = {n for entry in data.get("breeds") or [] for n in [entry["english"], *entry.get("names", [])]}
    names |= {n for e in data.get("general") or [] for n in (e.get("name"), e.get("english")) if n}
    names |= set(data.get("common_nouns") or [])
    folded = {lexicon.fold(n) for n in names if len(n) > 3}

    def alternation(words: set[str]) -> str:
        return "|".join(r"[\s-]+".join(re.escape(w) for w in name.split())
                        for name in sorted(words, key=lambda w: (-len(w), w)))

    y_stems = {n[:-1] for n in folded if n.endswith("y") and n[-2:-1] not in "aeiou"}
    plain = folded - {stem + "y" for stem in y_stems}
    return (rf"(?<!\w)(?:(?:{alternation(plain)})(?:s|es|n|en)?"
            rf"|(?:{alternation(y_stems)})(?:y|ies))(?!\w)")


def topic_pattern(topic: str) -> re.Pattern[str]:
    """The compiled words naming ``topic`` ("cats" / "dogs" / "children"), on folded text."""
    return _topic_pattern(topic)


def _terms(*path: str) -> list[str]:
    node = lexicon.lookup(*path)
    return list(node) if isinstance(node, list) else []


MARKER_WINDOW = 80
"""Characters between a topic word and the marker that decides it, at most (our choice:
about a dozen words, the length of a clause)."""

_BOUNDARY = re.compile(r"[.;!?\n•·]|\s-(?=\S)|\s\d{1,2}\)\s|\s(?:but|however|although|though|whereas|while|except|"
                       r"aber|jedoch|doch|allerdings|während|sondern|außer|ausser|dagegen|hingegen)\s")
_KINDS = (("negative", "no"), ("conditional", "maybe"), ("positive", "yes"))


def read_text(text: str, topic: str) -> Reading:
    """The verdict of free ``text`` (a quote, a sentence) about ``topic``.

    ``topic`` is ``"cats"``, ``"dogs"`` or ``"children"``. Each word naming the topic is
    decided by the nearest marker (``compatibility.unknown`` / ``negative`` /
    ``conditional`` / ``positive``) within :data:`MARKER_WINDOW` characters that is not
    across a contrast ("but", "aber", ";", a sentence end): "is not suited to cats and is
    fine with children" says no for cats and yes for children. A positive marker with a
    negator among the five words before it ("not suited to a home with") is negative; a qualifier
    right before a plural topic word ("older kids", "ruhige Hunde") makes it ``qualified``,
    unless a negator comes right before it ("without small children" is no). Over all
    topic words: no together with yes or maybe is ``maybe``; otherwise the strongest
    verdict found (unknown only when nothing else is said).
    """
    folded = lexicon.fold(text)
    topic_re = _topic_pattern(topic)
    found: list[Reading] = []
    hits = [m for m in topic_re.finditer(folded) if m.end() > m.start()
            and not (topic == "dogs" and _about_itself(folded, m))]
    if not hits:
        animals = [m for m in _pattern("compatibility", "topics", "animals").finditer(folded)] \
            if topic in ("cats", "dogs") else []
        if not animals:
            return Reading("unrelated")
        readings = [_decide(folded, m, topic) for m in animals]
        negative = [r for r in readings if r.verdict in ("no", "unknown")]
        if negative:
            return Reading("generic-no", negative[0].evidence)
        said = [r for r in readings if r.verdict != "neutral"]
        # "an animal lover", "a house full of animals": animals named, nothing said of them
        return Reading("generic", said[0].evidence) if said else Reading("unrelated")
    for m in hits:
        found.append(_decide(folded, m, topic))
    kinds = {r.verdict for r in found}
    if "no" in kinds and kinds & {"yes", "maybe", "qualified"}:
        return Reading("maybe", "; ".join(dict.fromkeys(r.evidence for r in found if r.evidence)))
    for verdict in ("no", "maybe", "qualified", "yes", "unknown", "neutral"):
        if verdict in kinds:
            return next(r for r in found if r.verdict == verdict)
    return Reading("neutral")


def _segment(folded: str, at: int) -> tuple[int, int]:
    """The part of ``folded`` around position ``at`` between contrast boundaries."""
    start = 0
    for b in _BOUNDARY.finditer(folded, 0, at):
        start = b.end()
    nxt = _BOUNDARY.search(folded, at)
    return start, (nxt.start() if nxt else len(folded))


_CONNECTIVES = re.compile(r"[\s,&/+-]|\b(?:and|or|und|oder|sowie|as well as|also|auch)\b")


def _only_enumeration(folded: str, start: int, end: int) -> bool:
    """True when ``folded[start:end]`` holds only topic words and list connectives
    ("dogs, cats and"), so a marker across it still belongs to the topic."""
    rest = folded[start:end]
    for topic in ("dogs", "cats", "children"):
        rest = _topic_pattern(topic).sub(" ", rest)
    rest = _pattern("compatibility", "topics", "animals").sub(" ", rest)
    rest = re.sub(r"\b(?:other|andere[nmrs]?|weitere[nmrs]?|the|die|den|der|mit|with)\b", " ", rest)
    return not _CONNECTIVES.sub("", rest).strip()


_TOPIC_NEGATED = re.compile(
    r"\b(?:no|without|nor|keine|keinen|keinem|kein|ohne|weder)\s+(?:(?:other|more|small|young|little|"
    r"other\s+\w+|andere[nmrs]?|weitere[nmrs]?|kleine[nmrs]?|junge[nmrs]?)\s+)?$")
_IDENTITY = re.compile(r"\b(?:is|was|ist|war|as|als)\s+(?:a|an|ein|eine|einen|einem)\s+(?:[\w-]+\s+){0,3}$")
_SPECIFIC = re.compile(r"\b(?:the|her|his|their|its|our|my|two|three|four|both|these|those|die|den|der|dem|"
                       r"ihre|ihren|ihrem|seine|seinen|seinem|zwei|drei|vier|beiden|unsere|unseren|"
                       r"\d+)\s+(?:[\w-]+\s+)?$")


def _about_itself(folded: str, topic: re.Match[str]) -> bool:
    """A singular dog word that names the dog itself ("Lucky is an ideal dog", "Koda is a
    Siberian Husky", "Mara ist ein lieber Hund"), not another dog ("as an only dog" is about
    other dogs: there should be none)."""
    if re.search(r"\b(?:only|single|sole|einzel\w*|einzige\w*)\b", folded[max(0, topic.start() - 12):topic.end()]):
        return False
    word = topic.group(0).split()[-1]
    if _pattern("compatibility", "plurals").fullmatch(word):
        return False
    return bool(_IDENTITY.search(folded[max(0, topic.start() - 40):topic.start()]))


def _decide(folded: str, topic: re.Match[str], name: str = "dogs") -> Reading:
    start, end = _segment(folded, topic.start())
    segment = folded[start:end]
    if folded[end:end + 1] == "?" or "?" in segment:
        return Reading("unknown", "a question")  # "Is he good with kids?"
    clause_start = start + max(segment.rfind(",", 0, topic.start() - start) + 1, 0)
    clause_end = folded.find(",", topic.end(), end)
    clause = folded[clause_start:clause_end if clause_end >= 0 else end]
    uncertain = _pattern("compatibility", "unknown").search(clause) or \
        _pattern("compatibility", "unknown_scope").search(folded, start, topic.start())
    if uncertain:  # "we are not sure if she is good with cats", "Katzen kennt er nicht"
        return Reading("unknown", uncertain.group(0))
    lo, hi = max(start, topic.start() - MARKER_WINDOW), min(end, topic.end() + MARKER_WINDOW)
    noun = topic.start() + topic.group(0).rstrip().rfind(" ") + 1  # the topic's last word
    before = folded[max(lo, noun - 30):noun]
    qualifier = re.search(rf"(?:{_pattern('compatibility', 'qualifiers', name).pattern})\s+$", before)
    if _TOPIC_NEGATED.search(folded[max(start, noun - 40):noun]):  # "no cats", "keine anderen Hunde"
        return Reading("no", folded[max(start, noun - 14):topic.end()].strip())
    if qualifier and _pattern("compatibility", "plurals").fullmatch(folded[noun:topic.end()].strip()):
        at = noun - len(before) + qualifier.start()
        context = folded[max(lo, at - 30):at]
        # "her two large dogs" are some dogs, not a class; "even male dogs" widens, not narrows;
        # "small and large dogs" are all of them
        both = re.search(rf"(?:{_pattern('compatibility', 'qualifiers', name).pattern})\s+(?:and|or|und|oder|&)\s*$", context)
        if not _SPECIFIC.search(context) and not both \
                and not _pattern("compatibility", "inclusive").search(context[-12:]):
            return Reading("qualified", f"{qualifier.group(0).strip()} {folded[noun:topic.end()].strip()}")
    best: tuple[int, int, int, str, str] | None = None
    for rank, (kind, verdict) in enumerate(_KINDS):
        patterns = [_pattern("compatibility", kind)]
        if kind in ("conditional", "negative"):
            patterns.append(_pattern("compatibility", f"{kind}_for", name))
        for m in (m for pattern in patterns for m in pattern.finditer(folded, lo, hi)):
            if m.end() <= m.start():
                continue
            after = m.start() >= topic.end()
            gap = (topic.end(), m.start()) if after else (m.end(), topic.start())
            if "," in folded[gap[0]:gap[1]] and not _only_enumeration(folded, *gap):
                continue  # "male dog, is not a match for cats": that marker is about cats
            if after and "," in folded[gap[0]:gap[1]] and _names_own_topic(folded, m.end(), end):
                continue  # "lives with dogs, cannot live with cats": the marker has its own topic
            distance = max(0, gap[1] - gap[0])
            if verdict == "yes" and _negated(folded, m.start(), start):
                verdict_here = "no"
            elif verdict == "no" and _negated(folded, m.start(), start, words=3) \
                    and not m.group(0).lstrip().startswith(("not", "no ", "nicht", "kein", "never", "nie")):
                verdict_here = "neutral"  # "never chases cats", "nicht aggressiv": says nothing good
            else:
                verdict_here = verdict
            candidate = (distance, -len(m.group(0)), rank, verdict_here, m.group(0))
            if best is None or candidate[:3] < best[:3]:
                best = candidate
    if best is None:
        return Reading("neutral")
    return Reading(best[3], best[4])


@functools.cache
def _leading_words() -> re.Pattern[str]:
    words = _pattern("compatibility", "topic_determiners").pattern
    return re.compile(rf"\s*(?:(?:{words})\s+){{0,2}}")


def _names_own_topic(folded: str, at: int, end: int) -> bool:
    """True when a topic word (cats, dogs, children or animals) follows a marker at ``at``
    right away, after at most two ``compatibility.topic_determiners`` ("cannot live with
    cats", "not with other dogs"), so the marker is about that topic."""
    start = _leading_words().match(folded, at).end()
    window = folded[start:min(end, start + 30)]
    return any(t.match(window) for t in (*(_topic_pattern(x) for x in TOPIC_OF_FIELD.values()),
                                         _pattern("compatibility", "topics", "animals")))


def _negated(folded: str, at: int, floor: int, words: int = 5) -> bool:
    """A negator among the ``words`` words before ``at`` (not before ``floor``, not across
    "and" / "und" / "or" / a comma: "without small children and gets along" is no negation)."""
    window = re.split(r",|\s-|\b(?:and|und|or|oder|&)\b", folded[max(floor, at - 60):at])[-1]
    window = _pattern("compatibility", "negation_exceptions").sub(" ", window)  # "no issues living with"
    words_before = re.findall(r"[\w']+", window)[-words:]
    return any(_pattern("compatibility", "negators").fullmatch(w) for w in words_before)


def is_conditional(text: str, topic: str) -> bool:
    """True when ``text`` holds a conditional marker (``compatibility.conditional`` or
    ``conditional_for.<topic>``: "with slow introduction", "ab 12 Jahren") whatever it
    names; for the words after a "yes" in a fact-block entry."""
    folded = lexicon.fold(text)
    return bool(_pattern("compatibility", "conditional").search(folded)
                or _pattern("compatibility", "conditional_for", topic).search(folded))


def _entry_for(quote: str, facts: list[StatedFact], field: str) -> StatedFact | None:
    """The fact-block entry of ``field`` (or of generic animals) that ``quote`` quotes."""
    folded = lexicon.fold(quote)
    for fact in facts:
        if fact.source != "block" or fact.field not in (field, "good_with_animals"):
            continue
        text = lexicon.fold(fact.text).rstrip(" .:,;")
        if text and (text in folded or folded.strip(" .\"'") in text):
            return fact
    return None


def read_quote(quote: str, field: str, listing: NormalizedListing) -> Reading:
    """The verdict of ``quote`` (a ``source_references`` value) for ``field``
    (``good_with_dogs`` / ``cats`` / ``children``), with the listing's stated facts."""
    entry = _entry_for(quote, listing.stated_facts, field)
    if entry is None:  # a label/value quote the listing's facts do not hold: read it as an entry
        from enrichment_assets.domain.facts import parse_stated_facts

        entry = _entry_for(quote, parse_stated_facts(quote, listing.language), field)
    if entry is not None:
        if entry.field == "good_with_animals":
            kind = "generic-no" if entry.value in ("no", "unknown") else "generic"
            return Reading(kind, entry.text)
        verdict = "yes" if entry.value == "yes" else entry.value
        return Reading(verdict, entry.text + (f" ({entry.condition})" if entry.condition else ""))
    return read_text(quote, TOPIC_OF_FIELD[field])


def contradiction(value: str, reading: Reading) -> str | None:
    """Why ``reading`` does not back a profile ``value`` ("yes"/"no"/"maybe"), or ``None``.

    From issue 8: ``yes`` needs a quote that names the animal (or children) and says yes:
    a generic "animals" quote supports at most ``maybe``, a quote saying no, unknown,
    untested or yes-under-a-condition contradicts it; ``no`` is contradicted by a quote
    saying yes or unknown; ``maybe`` needs a quote about the topic or animals in general.
    """
    verdict = reading.verdict
    if verdict == "unrelated":
        return "does not mention it"
    if value == "yes":
        if verdict.startswith("generic"):
            return "only mentions animals in general (that supports at most maybe)"
        if verdict in ("no", "unknown", "maybe"):
            return f"says {verdict}" + (f" ({reading.evidence!r})" if reading.evidence else "")
    elif value == "no":
        if verdict == "generic":
            return "says the dog is fine with animals in general"
        if verdict in ("yes", "unknown"):
            return f"says {verdict}" + (f" ({reading.evidence!r})" if reading.evidence else "")
    return None
