"""Tests of enrichment_assets.domain.quality (plain pytest, no Dagster).

Each test compares a profile with a changed copy of itself, so it checks the direction and
the flags of the rubric rather than numbers copied from the code.
"""

from __future__ import annotations

import math

import pytest

from enrichment_assets.domain.models import DogProfile, NormalizedListing
from enrichment_assets.domain.quality import WEIGHTS, quote_found, score_profile

LISTING_TEXT = (
    "Rocky is a very active two-year-old who needs long daily walks. "
    "He gets along well with other dogs, but he chases cats. "
    "Rocky is gentle with older children and knows sit and down. "
    "He loves fetching balls in the garden."
)

PROFILE_TEXT = (
    "Rocky is an energetic young dog who lives for his daily walks and a game of fetch. "
    "He enjoys the company of other dogs and is gentle with older children, but a home "
    "without cats suits him best. He already knows a few basic commands."
)


def make_listing(description: str = LISTING_TEXT) -> NormalizedListing:
    return NormalizedListing(
        organization="demo-org", external_id="r-1", name="Rocky", species="dog",
        description=description, language="en", content_hash="0" * 64,
    )


def good_profile(**changes) -> DogProfile:
    data = dict(
        description=PROFILE_TEXT,
        tagline="An active friend for active people",
        energy_level="high",
        exercise_needs="high",
        trainability="easy",
        good_with_dogs="yes",
        good_with_cats="no",
        good_with_children="yes",
        personality_traits=["active", "gentle"],
        favorite_activities=["fetching balls"],
        source_references={
            "energy_level": "Rocky is a very active two-year-old",
            "exercise_needs": "needs long daily walks",
            "trainability": "knows sit and down",
            "good_with_dogs": "He gets along well with other dogs",
            "good_with_cats": "he chases cats",
            "good_with_children": "gentle with older children",
            "personality_traits": "Rocky is gentle",
            "favorite_activities": "He loves fetching balls in the garden",
        },
    )
    data.update(changes)
    return DogProfile(**data)


def test_weights_sum_to_one_and_name_the_components():
    assert math.isclose(sum(WEIGHTS.values()), 1.0)
    result = score_profile(make_listing(), good_profile())
    assert set(result.components) == set(WEIGHTS)


def test_good_profile_scores_high_without_review():
    result = score_profile(make_listing(), good_profile())
    assert result.components["grounding"] == 100
    assert result.components["consistency"] == 100
    assert result.components["description_quality"] == 100
    assert result.score >= 80
    assert result.needs_review is False


def test_quote_matching_ignores_case_whitespace_and_curly_quotes():
    assert quote_found("HE  GETS along\nwell", LISTING_TEXT)
    assert quote_found("“Rocky is a very active”", LISTING_TEXT)
    assert quote_found("Rocky is a very active ... daily walks", LISTING_TEXT)
    assert not quote_found("daily walks ... Rocky is a very active", LISTING_TEXT)
    assert not quote_found("", LISTING_TEXT)
    assert not quote_found("Rocky is a couch potato", LISTING_TEXT)


def test_fabricated_quote_lowers_grounding_and_sets_review():
    base = score_profile(make_listing(), good_profile())
    refs = dict(good_profile().source_references)
    refs["good_with_cats"] = "Rocky adores cats and sleeps next to them"
    result = score_profile(make_listing(), good_profile(source_references=refs))
    assert result.components["grounding"] < base.components["grounding"]
    assert result.score < base.score
    assert result.needs_review is True
    assert any("good_with_cats" in r and "not found" in r for r in result.reasons)


def test_filled_field_without_quote_lowers_grounding_only():
    refs = dict(good_profile().source_references)
    del refs["trainability"]
    result = score_profile(make_listing(), good_profile(source_references=refs))
    assert result.components["grounding"] < 100
    assert any("trainability" in r for r in result.reasons)


def test_contradiction_is_reported():
    refs = dict(good_profile().source_references)
    refs["energy_level"] = "very active"
    refs["exercise_needs"] = "needs long daily walks"
    profile = good_profile(energy_level="very_high", exercise_needs="minimal",
                           source_references=refs)
    result = score_profile(make_listing(), profile)
    assert result.components["consistency"] < 100
    assert result.needs_review is True
    assert any("contradiction" in r and "exercise_needs" in r for r in result.reasons)


def test_shy_and_very_social_contradict():
    profile = good_profile(confidence="shy", sociability="very_social")
    result = score_profile(make_listing(), profile)
    assert any("confidence=shy" in r for r in result.reasons)
    assert result.needs_review is True


@pytest.mark.parametrize(
    "leak",
    [
        "Rocky is None years old and loves walks with his people every single day.",
        "Good with cats: unknown. Rocky loves walks with his people every day of the week.",
        "Rocky weighs nan kg and loves walks with his people every single day, rain or shine.",
        "Lorem ipsum dolor sit amet. Rocky loves walks with his people every day of the week.",
        "TODO: write about Rocky. He loves walks with his people every day of the week.",
        "Rocky is [NAME]'s best friend and loves walks with his people every day of the week.",
    ],
)
def test_leaked_nulls_and_placeholders_lower_text_quality_and_set_review(leak):
    text = (leak + " ") * 3
    result = score_profile(make_listing(), good_profile(description=text))
    assert result.components["description_quality"] < 100
    assert result.needs_review is True


def test_none_starting_a_sentence_is_english_not_a_leak():
    text = PROFILE_TEXT + " None of the other dogs in the shelter can match his enthusiasm."
    result = score_profile(make_listing(), good_profile(description=text))
    assert result.components["description_quality"] == 100
    assert result.needs_review is False


def test_null_word_in_a_field_value_is_caught():
    result = score_profile(make_listing(), good_profile(medical_needs="None"))
    assert result.needs_review is True
    assert any("medical_needs" in r for r in result.reasons)


def test_description_length_window():
    short = "Rocky is a very active dog who loves walks."
    long = (PROFILE_TEXT + " ") * 6
    assert len(short) < 150 and len(long) > 1200
    inside = score_profile(make_listing(), good_profile())
    for text in (short, long):
        result = score_profile(make_listing(), good_profile(description=text))
        assert result.components["description_quality"] < inside.components["description_quality"]


def test_completeness_counts_fields_the_listing_supports():
    full = score_profile(make_listing(), good_profile())
    refs = dict(good_profile().source_references)
    del refs["good_with_cats"]
    partial = score_profile(make_listing(),
                            good_profile(good_with_cats="unknown", source_references=refs))
    assert partial.components["completeness"] < full.components["completeness"]
    # a listing that never mentions cats does not expect good_with_cats
    no_cats = make_listing(LISTING_TEXT.replace(", but he chases cats", ""))
    refs_no_cats = {k: v for k, v in refs.items()}
    quiet = score_profile(no_cats, good_profile(good_with_cats="unknown",
                                                source_references=refs_no_cats))
    assert quiet.components["completeness"] > partial.components["completeness"]


def test_empty_profile_claims_nothing_and_is_grounded():
    profile = DogProfile(description=PROFILE_TEXT, tagline="A dog")
    result = score_profile(make_listing(), profile)
    assert result.components["grounding"] == 100
    assert result.components["completeness"] < 50


def test_low_score_sets_review_with_reason():
    profile = DogProfile(
        description="Rocky is None and his age is nan.", tagline="TODO",
        energy_level="very_high", exercise_needs="minimal",
        source_references={"energy_level": "sleeps all day", "exercise_needs": "hates walks"},
    )
    result = score_profile(make_listing(), profile)
    assert result.score < 60
    assert result.needs_review is True
    assert any("score" in r for r in result.reasons)
    assert 0 <= result.score <= 100
