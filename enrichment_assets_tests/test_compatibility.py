"""What a quote says about cats, dogs and children (domain/compatibility.py)."""

from __future__ import annotations

import pytest

from enrichment_assets.domain.compatibility import Reading, contradiction, read_quote, read_text
from enrichment_assets.domain.normalize import normalize_record


@pytest.mark.parametrize("text,topic,verdict", [
    ("He gets along with other dogs.", "dogs", "yes"),
    ("Mit anderen Hunden ist sie verträglich.", "dogs", "yes"),
    ("Bello ist katzenverträglich.", "cats", "yes"),
    ("She is not good with cats.", "cats", "no"),
    ("Katzen jagt sie, deshalb sollte keine Katze im Haushalt leben.", "cats", "no"),
    ("Must be the only dog.", "dogs", "no"),
    ("Mit Katzen hatte sie bisher keinen Kontakt.", "cats", "unknown"),
    ("We have not tested her with cats.", "cats", "unknown"),
    ("Is he good with kids?", "children", "unknown"),
    ("Good with older children.", "children", "qualified"),
    ("Selective with other dogs.", "dogs", "maybe"),
    ("Kinder ab 12 Jahren.", "children", "maybe"),
    ("Mit Hündinnen spielt er gern, Rüden mag er nicht.", "dogs", "maybe"),
    ("He loves to run in the park.", "cats", "unrelated"),
    ("Good with other animals.", "cats", "generic"),
    ("Keine anderen Tiere im Haushalt.", "cats", "generic-no"),
    # negation is bound to its own clause and its own animal
    ("He is not suited to a home with cats and is fine with children.", "cats", "no"),
    ("He is not suited to a home with cats and is fine with children.", "children", "yes"),
    ("She lived with a cat without any trouble.", "cats", "yes"),
    ("He never chases cats.", "cats", "neutral"),
    # a dog word about the dog itself is no other dog
    ("Lucky is an ideal dog for a family.", "dogs", "unrelated"),
    # dialect negation ("ned", "net") after the verb
    ("Hunde mag er gar ned.", "dogs", "no"),
    ("Mit Kindern kommt sie überhaupt net zurecht.", "children", "no"),
    # a marker followed by its own topic belongs to that topic, across a comma
    ("Rex lives quietly with dogs, cannot live with cats.", "dogs", "yes"),
    ("Rex lives quietly with dogs, cannot live with cats.", "cats", "no"),
    # "adults only" is about children, not about other dogs
    ("A big softie for an adults-only home.", "dogs", "unrelated"),
    ("A big softie for an adults-only home.", "children", "no"),
    # breed plurals name other dogs, kin words name children
    ("She shares her foster home with three spaniels and adores them.", "dogs", "yes"),
    ("Er spielt gern mit den Enkeln und Neffen seiner Pflegemama.", "children", "yes"),
    ("He is sweet with his foster's nieces.", "children", "yes"),
    # a wish for a canine companion says yes
    ("Would love a canine sibling to play with.", "dogs", "yes"),
    ("Er würde sich über einen Hundekumpel freuen.", "dogs", "yes"),
])
def test_readings(text, topic, verdict):
    assert read_text(text, topic).verdict == verdict


@pytest.mark.parametrize("value,verdict,contradicts", [
    ("yes", "no", True), ("yes", "unknown", True), ("yes", "maybe", True), ("yes", "generic", True),
    ("yes", "qualified", False), ("yes", "yes", False), ("yes", "neutral", False),
    ("no", "yes", True), ("no", "unknown", True), ("no", "generic-no", False), ("no", "no", False),
    ("maybe", "unrelated", True), ("maybe", "generic", False), ("maybe", "no", False),
])
def test_what_contradicts_a_value(value, verdict, contradicts):
    assert (contradiction(value, Reading(verdict)) is not None) is contradicts


def test_a_quoted_fact_block_entry_is_read_as_the_entry():
    listing = normalize_record("o", {"external_id": "1", "name": "Lina",
                                     "description": "Lina ist lieb. Katzen: nein Kinder: ja, wenn älter Hunde:"})
    assert read_quote("Katzen: nein", "good_with_cats", listing).verdict == "no"
    assert read_quote("Kinder: ja, wenn älter", "good_with_children", listing).verdict == "maybe"
    assert read_quote("Hunde:", "good_with_dogs", listing).verdict == "unknown"
