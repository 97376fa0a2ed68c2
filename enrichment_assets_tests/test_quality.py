"""Tests of enrichment_assets.domain.quality (plain pytest, no Dagster).

Each test compares a profile with a changed copy of itself, so it checks the direction and
the flags of the rubric rather than numbers copied from the code.
"""

from __future__ import annotations

import math

import pytest

from enrichment_assets.domain.hallucination import Violation, check_profile
from enrichment_assets.domain.models import DogProfile, NormalizedListing
from enrichment_assets.domain.quality import (
    CALIBRATION_HIGH,
    REVIEW_BELOW,
    WEIGHTS,
    quote_found,
    repeated_sentences,
    score_profile,
)

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


def make_listing(description: str = LISTING_TEXT, **changes) -> NormalizedListing:
    fields = dict(organization="demo-org", external_id="r-1", name="Rocky", species="dog",
                  description=description, language="en", content_hash="0" * 64)
    fields.update(changes)
    return NormalizedListing(**fields)


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
    assert set(result.components) == set(WEIGHTS) == {
        "grounding", "completeness", "description_quality", "consistency", "confidence_calibration"}
    assert WEIGHTS["grounding"] == max(WEIGHTS.values())


def test_good_profile_scores_high_without_review():
    result = score_profile(make_listing(), good_profile())
    assert result.components["grounding"] == 100
    assert result.components["consistency"] == 100
    assert result.components["description_quality"] == 100
    assert result.components["confidence_calibration"] == 100
    assert result.score >= 80
    assert result.needs_review is False
    assert check_profile(make_listing(), good_profile()) == []


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


# ---------------------------------------------------------------------------------------
# The rubric of issue 4: rules, calibration, cliches, repeated sentences, languages
# ---------------------------------------------------------------------------------------

def test_quote_matching_is_the_rules_one():
    assert quote_found("GENTLE with older   children", LISTING_TEXT)
    german = "Bruno ist sehr verträglich mit anderen Hunden und liebt Kinder."
    assert quote_found("sehr vertraeglich mit anderen Hunden", german)


def test_any_rule_sets_review_with_its_id_as_the_reason_kind():
    text = PROFILE_TEXT + " He weighs 30 kg."  # the listing gives no weight
    result = score_profile(make_listing(), good_profile(description=text))
    assert result.needs_review is True
    assert any(r.startswith("number_not_in_listing: description (error)") for r in result.reasons)


def test_a_warn_rule_sets_review_too():
    profile = good_profile(confidence="shy", sociability="very_social")
    result = score_profile(make_listing(), profile)
    assert result.needs_review is True
    assert any(r.startswith("internal_contradiction:") and "(warn)" in r for r in result.reasons)


def test_given_violations_are_used_instead_of_running_the_rules():
    refs = dict(good_profile().source_references)
    refs["good_with_cats"] = "Rocky adores cats and sleeps next to them"
    profile = good_profile(source_references=refs)
    result = score_profile(make_listing(), profile, violations=[])
    assert result.components["grounding"] < 100  # grounding is measured all the same
    assert not any("quote_not_found" in r for r in result.reasons)
    given = [Violation("tagline", "unsupported_mention", "mentions a garden", "error")]
    result = score_profile(make_listing(), good_profile(), violations=given)
    assert result.needs_review is True
    assert any("mentions a garden" in r for r in result.reasons)
    assert result.components["consistency"] == 100  # only internal_contradiction counts there


def test_confidence_without_a_verified_quote_is_miscalibrated():
    scores = {"energy_level": 0.9, "exercise_needs": 0.9, "trainability": 0.5}
    calibrated = score_profile(make_listing(), good_profile(confidence_scores=scores))
    assert calibrated.components["confidence_calibration"] == 100
    refs = dict(good_profile().source_references)
    refs["energy_level"] = "Rocky runs marathons"  # not in the listing
    sure_but_wrong = score_profile(make_listing(), good_profile(confidence_scores=scores, source_references=refs))
    assert sure_but_wrong.components["confidence_calibration"] < 100
    assert any("energy_level" in r and str(CALIBRATION_HIGH) in r for r in sure_but_wrong.reasons)
    refs["trainability"] = "Rocky does tricks on command"  # not found, but low confidence: honest
    del refs["energy_level"]
    humble = score_profile(make_listing(), good_profile(
        confidence_scores={"energy_level": 0.4, "trainability": 0.5}, source_references=refs))
    assert humble.components["confidence_calibration"] == 100


def test_cliches_cost_points_case_insensitively():
    base = score_profile(make_listing(), good_profile(), cliches=["fur-ever home"])
    text = PROFILE_TEXT + " He is waiting for his Fur-Ever  Home."
    result = score_profile(make_listing(), good_profile(description=text), cliches=["fur-ever home", "gentle giant"])
    assert result.components["description_quality"] < base.components["description_quality"]
    assert any(r.startswith("cliche:") and "fur-ever home" in r for r in result.reasons)
    assert not any("gentle giant" in r for r in result.reasons)


def test_repeated_sentences_across_an_organization():
    shared = "Every dog from our shelter comes with a lifetime of support."
    profiles = [good_profile(description=PROFILE_TEXT + " " + shared),
                good_profile(description="Bella is a calm girl who likes naps. " + shared),
                good_profile(description="Max loves to swim in the lake every weekend. He is calm.")]
    repeated = repeated_sentences(profiles)
    assert len(repeated) == 1 and "lifetime of support" in next(iter(repeated))
    assert repeated_sentences(profiles, min_words=20) == set()
    with pytest.raises(ValueError):
        repeated_sentences(profiles, min_words=0)
    alone = score_profile(make_listing(), profiles[0])
    with_org = score_profile(make_listing(), profiles[0], repeated=repeated)
    assert with_org.components["description_quality"] < alone.components["description_quality"]
    assert any(r.startswith("sentence repeated") for r in with_org.reasons)


def test_source_language_sentences_left_in_the_description():
    german_listing = make_listing(
        "Rocky ist ein sehr aktiver Rüde, der lange Spaziergänge braucht. Er ist mit anderen "
        "Hunden verträglich und jagt Katzen. Mit älteren Kindern ist er sanft.", language="de")
    english = good_profile(source_references={})
    mixed = good_profile(source_references={}, description=PROFILE_TEXT + (
        " Er ist mit anderen Hunden verträglich und jagt leider sehr gerne Katzen im Garten."))
    clean = score_profile(german_listing, english, violations=[])
    left_over = score_profile(german_listing, mixed, violations=[])
    assert left_over.components["description_quality"] < clean.components["description_quality"]
    assert any(r.startswith("source-language (de) sentence") for r in left_over.reasons)
    # a description written wholly in the listing's language is a choice, not a leftover
    all_german = good_profile(source_references={}, description=(
        "Rocky ist ein sehr aktiver Rüde, der lange Spaziergänge braucht. Er ist mit anderen Hunden "
        "verträglich und mit älteren Kindern sanft. Katzen jagt er leider sehr gerne."))
    assert not any("source-language" in r for r in score_profile(german_listing, all_german, violations=[]).reasons)


def test_review_threshold_is_an_argument():
    result = score_profile(make_listing(), good_profile())
    assert result.needs_review is False and result.score < 100
    strict = score_profile(make_listing(), good_profile(), review_below=result.score + 1)
    assert strict.needs_review is True and any(r.startswith("low score:") for r in strict.reasons)
    assert REVIEW_BELOW == 60.0
