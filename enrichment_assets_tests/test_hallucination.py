"""Tests of enrichment_assets.domain.hallucination (plain pytest, no Dagster).

* one block of unit tests per rule: a clean pair stays silent, a planted hallucination
  fires with the right field;
* the evaluation set (``data/hallucination_cases.yaml``, invented dogs): precision and
  recall per rule computed here, each at least 0.95;
* check_translation;
* real data: the offline model over every Tierheim München dog and every third PetFinder
  organization (about 1,600 dogs) makes no violation. The shared data is read from
  ``../shared/data`` (skipped when absent) and never copied here.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from enrichment_assets.domain import hallucination as h
from enrichment_assets.domain.grounding import usable_description
from enrichment_assets.domain.hallucination import (
    RULES,
    SEVERITY,
    Violation,
    age_statements,
    check_profile,
    check_translation,
    find_contradictions,
    fold,
    load_vocabulary,
    numbers_in,
    quote_found_in_listing,
    quote_in_text,
    use_vocabulary,
)
from enrichment_assets.domain.models import DogProfile, NormalizedListing
from enrichment_assets.llm.offline import profile_from_facts, translate_profile
from enrichment_assets.llm.prompts import listing_facts

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _load_benchmark(name: str) -> Any:
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


rules_benchmark = _load_benchmark("hallucination_rules")
real_benchmark = _load_benchmark("offline_model_violations")

DESCRIPTION = (
    "Rocky is a cheerful two-year-old who came to us from a busy household. He gets along "
    "well with other dogs and lived with a cat in his last home. Rocky is gentle with "
    "children and loves long walks. He knows sit and down and walks well on the leash."
)


def listing(**changes: Any) -> NormalizedListing:
    fields = dict(organization="t", external_id="r1", name="Rocky", species="dog", breed="Beagle",
                  age_months=26, sex="male", weight_kg=14.0, neutered="yes", vaccinated="unknown",
                  description=DESCRIPTION, language="en", content_hash="0" * 64)
    fields.update(changes)
    return NormalizedListing(**fields)


def profile(**changes: Any) -> DogProfile:
    fields: dict[str, Any] = dict(
        description=("Rocky is a 2-year-old cheerful Beagle who gets along with other dogs, has "
                     "lived with a cat and is gentle with children. He loves long walks, knows a "
                     "few commands and weighs 14 kg. He is neutered."),
        tagline="Meet Rocky, a cheerful beagle",
        good_with_dogs="yes", good_with_cats="yes", good_with_children="yes",
        trainability="easy", personality_traits=["cheerful", "gentle"],
        source_references={
            "good_with_dogs": "He gets along well with other dogs",
            "good_with_cats": "lived with a cat in his last home",
            "good_with_children": "Rocky is gentle with children",
            "trainability": "He knows sit and down",
            "personality_traits": "Rocky is a cheerful two-year-old",
        },
        confidence_scores={"good_with_dogs": 0.9, "trainability": 0.8},
    )
    fields.update(changes)
    return DogProfile(**fields)


def refs(**changes: str) -> dict[str, str]:
    out = dict(profile().source_references)
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def fired(rule: str, lst: NormalizedListing, prof: DogProfile) -> list[tuple[str, str]]:
    return [(v.field, v.evidence) for v in RULES[rule](lst, prof)]


def test_the_base_pair_is_clean() -> None:
    assert check_profile(listing(), profile()) == []


def test_rule_table_and_severities() -> None:
    assert list(RULES) == ["quote_not_found", "compatibility_unsupported", "structured_fact_mismatch",
                           "number_not_in_listing", "invented_need", "unsupported_mention",
                           "text_contradicts_field", "instruction_quoted", "internal_contradiction"]
    assert {SEVERITY[r] for r in RULES if r != "internal_contradiction"} == {"error"}
    assert SEVERITY["internal_contradiction"] == "warn"
    v = Violation("f", "quote_not_found", "x", "error")
    assert v.as_dict() == {"field": "f", "rule": "quote_not_found", "evidence": "x", "severity": "error"}
    with pytest.raises(KeyError):
        check_profile(listing(), profile(), rules=["no_such_rule"])


# ---------------------------------------------------------------------------------------
# Normalization, numbers, ages
# ---------------------------------------------------------------------------------------

def test_fold_normalizes_case_space_quotes_and_umlauts() -> None:
    assert fold("  Die  HÜNDIN\nist „verträglich“ ") == 'die huendin ist "vertraeglich"'
    assert fold("Größe") == fold("groesse") == "groesse"
    assert fold("dogs , cats") == "dogs, cats"


def test_quotes_are_found_after_normalization_only() -> None:
    text = "Bruno ist sehr verträglich mit anderen Hunden. He’s GOOD with kids."
    assert quote_in_text("sehr vertraeglich  mit ANDEREN hunden", text)
    assert quote_in_text("“He's good with kids”", text)
    assert quote_in_text("Bruno ist ... good with kids", text)
    assert not quote_in_text("good with kids ... Bruno ist", text)
    assert not quote_in_text("sehr verträglich mit Katzen", text)
    assert not quote_in_text("", text)


def test_quotes_of_structured_values_are_found() -> None:
    lst = listing(facts={"color": "Black, White"})
    assert quote_found_in_listing("black, white", lst)
    assert quote_found_in_listing("Beagle", lst)
    assert quote_found_in_listing("14", lst)
    assert not quote_found_in_listing("Labrador", lst)


def test_numbers_in_text() -> None:
    values = [v for _, _, v in numbers_in("Two dogs, 12,5 kg, twenty-five cm, zwei Katzen, 1,000 treats, "
                                          "two and a half years")]
    assert values == [2.0, 12.5, 25.0, 2.0, 1000.0, 2.5]


def test_age_statements() -> None:
    [(_, _, low, high, _)] = age_statements("Rocky is a 2-year-old beagle.")
    assert (low, high) == (24, 36)
    [(_, _, low, high, _)] = age_statements("Sie ist dreijährig.")
    assert (low, high) == (36, 48)
    [(_, _, low, _, _)] = age_statements("He is about one and a half years old.")
    assert low == 18
    assert age_statements("Good with kids over 5 years old.") == []
    assert age_statements("He has been here for 2 years.") == []


# ---------------------------------------------------------------------------------------
# Rule 1: quote_not_found
# ---------------------------------------------------------------------------------------

def test_quote_not_found() -> None:
    lst = listing()
    assert fired("quote_not_found", lst, profile()) == []
    spaced = profile(source_references=refs(good_with_dogs="he  GETS along WELL\nwith other dogs"))
    assert fired("quote_not_found", lst, spaced) == []
    invented = profile(source_references=refs(good_with_cats="Rocky sleeps next to the cat"))
    assert [f for f, _ in fired("quote_not_found", lst, invented)] == ["good_with_cats"]
    not_a_quote = profile(source_references=refs(trainability="N/A"))
    assert [f for f, _ in fired("quote_not_found", lst, not_a_quote)] == ["trainability"]


# ---------------------------------------------------------------------------------------
# Rule 2: compatibility_unsupported
# ---------------------------------------------------------------------------------------

def test_compatibility_needs_a_reference_naming_the_animal() -> None:
    lst = listing()
    wrong = profile(source_references=refs(good_with_cats="Rocky is gentle with children"))
    assert [f for f, _ in fired("compatibility_unsupported", lst, wrong)] == ["good_with_cats"]
    missing = profile(source_references=refs(good_with_dogs=None))
    assert [f for f, _ in fired("compatibility_unsupported", lst, missing)] == ["good_with_dogs"]
    unknown = profile(good_with_children="unknown", source_references=refs(good_with_children=None))
    assert fired("compatibility_unsupported", lst, unknown) == []


def test_compatibility_vocabulary_is_english_and_german() -> None:
    lst = listing(description="Bello ist mit Katzen verträglich. Er muss Einzelhund sein.", language="de")
    prof = profile(description="Bello gets along with cats but must be the only dog.",
                   good_with_children="unknown",
                   source_references={"good_with_cats": "Bello ist mit Katzen verträglich.",
                                      "good_with_dogs": "Er muss Einzelhund sein."},
                   good_with_dogs="no", personality_traits=[], trainability=None)
    assert fired("compatibility_unsupported", lst, prof) == []
    assert fired("quote_not_found", lst, prof) == []


# ---------------------------------------------------------------------------------------
# Rule 3: structured_fact_mismatch
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("Rocky is a sweet girl who loves long walks.", "sex"),
        ("Rocky is a gentle dog. She loves long walks.", "sex"),
        ("Rocky is a 7-year-old who loves long walks.", "age"),
        ("Rocky is a cheerful Labrador who loves long walks.", "breed"),
        ("Rocky loves long walks and is fully vaccinated.", "vaccinated"),
        ("Rocky loves long walks. He is not neutered.", "neutered"),
        ("Meet Max, a dog who loves long walks.", "name"),
        ("Rocky loves long walks and still needs to be neutered.", "neutered"),
    ],
)
def test_structured_fact_mismatch_fires(text: str, fact: str) -> None:
    found = fired("structured_fact_mismatch", listing(), profile(description=text))
    assert [f for f, _ in found] == ["description"], found
    assert found[0][1].startswith(f"{fact}:")


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("Rocky is a 2-year-old beagle who loves long walks.", 26),
        ("Rocky is about three years old and loves long walks.", 33),  # 3 months off, within 20%
        ("Rocky is about six years old and loves long walks.", 62),  # 10 months off, within 20%
        ("Rocky loves long walks. His foster mum says she has never met a sweeter dog.", 26),
        ("Rocky lives with a female dog and loves long walks.", 26),
        ("Rocky gets along with female dogs and loves long walks.", 26),
    ],
)
def test_structured_fact_mismatch_stays_silent(text: str, age: int) -> None:
    assert fired("structured_fact_mismatch", listing(age_months=age), profile(description=text)) == []


def test_age_tolerance_grows_with_age() -> None:
    puppy, senior = listing(age_months=8), listing(age_months=120)
    assert fired("structured_fact_mismatch", puppy, profile(description="Rocky is a 1-year-old who loves walks."))
    assert fired("structured_fact_mismatch", senior, profile(description="Rocky is an 11-year-old who loves walks.")) == []
    assert fired("structured_fact_mismatch", senior, profile(description="Rocky is a 6-year-old who loves walks."))


def test_breed_general_names_and_other_languages() -> None:
    lst = listing(breed="Deutscher Schäferhund")
    assert fired("structured_fact_mismatch", lst,
                 profile(description="Rocky is a German Shepherd who loves long walks.",
                         tagline="Meet Rocky")) == []
    jrt = listing(breed="Jack Russell Terrier")
    assert fired("structured_fact_mismatch", jrt,
                 profile(description="Rocky is a lively terrier who loves long walks.",
                         tagline="Meet Rocky")) == []
    assert fired("structured_fact_mismatch", jrt,
                 profile(description="Rocky is a lively Yorkshire Terrier who loves long walks.",
                         tagline="Meet Rocky"))


def test_names_in_the_text() -> None:
    unnamed = listing(name="")
    assert fired("structured_fact_mismatch", unnamed, profile(
        description="This dog loves long walks and gets along with other dogs.", tagline="A cheerful dog")) == []
    assert fired("structured_fact_mismatch", unnamed, profile(
        description="This dog loves long walks.", tagline="Meet Buddy"))
    own_words = listing(name="Bell Boy", sex="female")
    assert fired("structured_fact_mismatch", own_words, profile(
        description="Bell Boy is a 2-year-old who loves long walks. She is sweet.",
        tagline="Meet Bell Boy")) == []


# ---------------------------------------------------------------------------------------
# Rule 4: number_not_in_listing
# ---------------------------------------------------------------------------------------

def test_numbers_must_come_from_the_listing() -> None:
    lst = listing(height_cm=40.0, fee=150.0, currency="MYR", facts={"quantity": "3"})
    ok = ("Rocky is two years old, weighs 14 kg (about 31 lbs), stands 40 cm tall and is one of "
          "3 puppies. His fee is 150 MYR.")
    assert fired("number_not_in_listing", lst, profile(description=ok)) == []
    for bad in ("Rocky weighs 25 kg and loves long walks.", "Rocky is one of 7 puppies.",
                "Rocky loves long walks and has lived with five cats.", "Rocky's fee is 300 MYR."):
        assert [f for f, _ in fired("number_not_in_listing", lst, profile(description=bad))] == ["description"], bad
    assert [f for f, _ in fired("number_not_in_listing", lst, profile(tagline="7 reasons to love Rocky"))] == ["tagline"]


def test_derived_numbers_need_their_unit() -> None:
    lst = listing(age_months=46)  # 3 years and 10 months
    assert fired("number_not_in_listing", lst, profile(description="Rocky has been with us for 3 years now.")) == []
    assert fired("number_not_in_listing", lst, profile(description="Rocky has lived with 3 cats and loves walks."))


# ---------------------------------------------------------------------------------------
# Rule 5: invented_need
# ---------------------------------------------------------------------------------------

def test_needs_need_a_supporting_reference() -> None:
    lst = listing(description=DESCRIPTION + " He takes a pill for his allergy every day.")
    ok = profile(medical_needs="Daily allergy pill.",
                 source_references=refs(medical_needs="He takes a pill for his allergy every day."))
    assert fired("invented_need", lst, ok) == []
    assert [f for f, _ in fired("invented_need", lst, profile(medical_needs="Diabetes."))] == ["medical_needs"]
    off_topic = profile(special_needs="Resource guarding.", source_references=refs(special_needs="Rocky loves long walks"))
    assert [f for f, _ in fired("invented_need", lst, off_topic)] == ["special_needs"]
    assert [f for f, _ in fired("invented_need", lst, profile(grooming_needs="frequent"))] == ["grooming_needs"]
    assert fired("invented_need", lst, profile(medical_needs="None")) == []  # a null word is null


# ---------------------------------------------------------------------------------------
# Rule 6: unsupported_mention
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "sentence",
    ["He would love a garden to play in.", "He is perfect for apartment living.",
     "He would enjoy a home with a big yard."],
)
def test_unsupported_mentions_fire(sentence: str) -> None:
    found = fired("unsupported_mention", listing(), profile(description=profile().description + " " + sentence))
    assert [f for f, _ in found] == ["description"]


def test_mentions_the_listing_makes_are_fine() -> None:
    no_pets = listing(description="Rocky is a calm and friendly dog who loves long walks in the park.")
    assert fired("unsupported_mention", no_pets, profile(description="Rocky is calm and loves long walks.")) == []
    found = fired("unsupported_mention", no_pets, profile(description="Rocky is calm and good with cats and kids."))
    assert len(found) == 2  # cats and children: one violation each
    german = listing(description="Rocky hat mit Kindern und einer Katze zusammengelebt.", language="de")
    assert fired("unsupported_mention", german, profile(description="Rocky has lived with children and a cat.")) == []


# ---------------------------------------------------------------------------------------
# Rule 7: internal_contradiction
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(confidence="shy", sociability="very_social"), "confidence"),
        (dict(energy_level="very_high", exercise_needs="minimal"), "energy_level"),
        (dict(energy_level="low", exercise_needs="high"), "energy_level"),
        (dict(trainability="challenging", experience_level="first_time_ok"), "trainability"),
        (dict(experience_level="first_time_ok", special_needs="He has bitten a visitor."), "experience_level"),
        (dict(confidence="confident", personality_traits=["shy"]), "confidence"),
    ],
)
def test_internal_contradictions_warn(changes: dict[str, Any], field: str) -> None:
    violations = RULES["internal_contradiction"](listing(), profile(**changes))
    assert [(v.field, v.severity) for v in violations] == [(field, "warn")]


def test_consistent_pairs_do_not_warn() -> None:
    prof = profile(confidence="shy", sociability="reserved", energy_level="high", exercise_needs="high",
                   experience_level="first_time_ok", special_needs="Needs a quiet home.")
    assert RULES["internal_contradiction"](listing(), prof) == []
    assert find_contradictions({"energy_level": "low", "personality_traits": ["calm"]}) == []


# ---------------------------------------------------------------------------------------
# Vocabulary as data
# ---------------------------------------------------------------------------------------

def test_vocabulary_files_merge_and_reject_unquoted_booleans(tmp_path: Path) -> None:
    vocab = load_vocabulary()
    assert "cats" in vocab["animals"]["cats"]["mention"] and "katzen" in vocab["animals"]["cats"]["mention"]
    assert vocab["number_words"]["two"] == 2 and vocab["number_words"]["zwei"] == 2
    (tmp_path / "xx.yaml").write_text("negators: [yes]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a string"):
        load_vocabulary(tmp_path)


def test_a_language_is_one_more_yaml_file(tmp_path: Path) -> None:
    for path in h.VOCAB_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "fr.yaml").write_text(
        "animals:\n  cats:\n    mention: [chat, chats]\n    evidence: [chat*]\nnumber_words:\n  deux: 2\n",
        encoding="utf-8")
    lst = listing(description="Rocky aime les longues promenades.", language="fr")
    prof = profile(description="Rocky aime les chats et les longues promenades.", tagline="Rocky")
    assert fired("unsupported_mention", lst, prof) == []
    try:
        use_vocabulary(tmp_path)
        assert [f for f, _ in fired("unsupported_mention", lst, prof)] == ["description"]
        assert [v for _, _, v in numbers_in("deux chats")] == [2.0]
    finally:
        use_vocabulary(None)
    assert fired("unsupported_mention", lst, prof) == []


# ---------------------------------------------------------------------------------------
# The evaluation set
# ---------------------------------------------------------------------------------------

def test_evaluation_set_shape() -> None:
    old = rules_benchmark.load_cases()
    new = rules_benchmark.load_new_set()
    assert len(old) >= 60 and len(new) >= 160
    assert sum(1 for c in old if not c.expected) >= 20
    assert sum(1 for c in new if not c.expected) >= 80
    planted: dict[str, int] = {}
    for case in [*old, *new]:
        for rule, _ in case.expected:
            planted[rule] = planted.get(rule, 0) + 1
    assert set(planted) == set(RULES)
    assert min(planted.values()) >= 5, planted


def test_evaluation_set_precision_and_recall_per_rule() -> None:
    cases = rules_benchmark.load_cases()
    scores = rules_benchmark.score_cases(cases)
    for rule, score in scores.items():
        assert score.precision >= 0.95 and score.recall >= 0.95, (rule, score.misses)
    # The figures are computed, not copied: a rule that is switched off loses its recall.
    silent = dict(RULES)
    try:
        RULES["unsupported_mention"] = lambda listing, profile: []
        assert rules_benchmark.score_cases(cases)["unsupported_mention"].recall == 0.0
    finally:
        RULES.clear()
        RULES.update(silent)


BLIND_SETS = [rules_benchmark.NEW_SET_PATHS,
              *[(p,) for p in sorted((rules_benchmark.DATA).glob("heldout*/model_output_cases_*.yaml"))]]


@pytest.mark.parametrize("paths", BLIND_SETS, ids=lambda ps: "+".join(p.stem for p in ps))
def test_blind_sets_meet_issue_8s_targets(paths) -> None:
    """Sets written from LABELLING.md by someone who had not read the rules: precision and
    recall >= 0.95 for every rule, at most 2.5% of clean profiles quarantined."""
    cases = [case for path in paths for case in rules_benchmark.load_cases(path)]
    scores = rules_benchmark.score_cases(cases)
    assert rules_benchmark.failures(cases, scores) == [], [m for s in scores.values() for m in s.misses]


def test_compatibility_reads_what_the_quote_says() -> None:
    base = listing(description="Rex lives with a cat. Katzen: nein. Cats: not yet tested.")
    for quote in ("Katzen: nein", "Cats: not yet tested"):
        prof = profile(good_with_cats="yes", source_references=refs(good_with_cats=quote))
        assert [v.field for v in RULES["compatibility_unsupported"](base, prof)] == ["good_with_cats"], quote


# ---------------------------------------------------------------------------------------
# Translations
# ---------------------------------------------------------------------------------------

def _translation(prof: DogProfile, lst: NormalizedListing, lang: str):
    payload = {"target_language": lang, "name": lst.name, "source_language": lst.language,
               "profile": prof.model_dump(exclude={"confidence_scores", "source_references"}),
               "listing": {k: v for k, v in listing_facts(lst).items() if k != "description"}}
    return translate_profile(payload)


@pytest.mark.parametrize("lang", ["de", "fr", "es"])
def test_offline_translations_pass(lang: str) -> None:
    lst = listing()
    prof = profile_from_facts(listing_facts(lst))
    t = _translation(prof, lst, lang)
    assert check_translation(lst, prof, t.language, t.tagline, t.description, lang) == []


def test_translation_rules_fire() -> None:
    lst = listing()
    prof = profile_from_facts(listing_facts(lst))
    german = _translation(prof, lst, "de")

    def rules(tagline: str, description: str, declared: str = "de", target: str = "de") -> list[str]:
        return [v.rule for v in check_translation(lst, prof, declared, tagline, description, target)]

    assert rules(prof.tagline, prof.description) == ["translation_wrong_language"]
    assert rules(german.tagline, german.description, declared="fr") == ["translation_wrong_language"]
    assert rules(german.tagline, german.description) == []
    assert rules(german.tagline.replace("Rocky", "Rocco"),
                 german.description.replace("Rocky", "Rocco")) == ["translation_name_lost"]
    assert "2" in prof.description and "14" in prof.description
    assert rules(german.tagline, german.description.replace("14", "41")) == ["translation_number_lost"]
    # numbers written as words in the target language are kept numbers
    assert rules(german.tagline, german.description.replace("2 Jahre", "zwei Jahre")) == []
    # too short to detect a language: only names and numbers are checked
    assert check_translation(lst, prof, "de", "Rocky", "Rocky, 2, 14 kg.", "de") == []


# ---------------------------------------------------------------------------------------
# The pipeline's input text: quotes of the usable text must be quotes of the listing
# ---------------------------------------------------------------------------------------

def test_usable_text_quotes_are_listing_quotes() -> None:
    text = ("Coco - very playful - 5 months old - vaccinated. do contact me at 0123456789 if "
            "interested. Coco is a sweet and gentle girl who loves to cuddle on the sofa.")
    lst = listing(name="Coco", sex="female", age_months=5, description=text)
    usable = usable_description(text, [])
    prof = profile_from_facts(listing_facts(lst, description=usable))
    assert prof.source_references  # the model found something to quote
    assert RULES["quote_not_found"](lst, prof) == []


# ---------------------------------------------------------------------------------------
# Real data: the offline model makes no violation
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_pairs() -> tuple[list[Any], dict[str, Any]]:
    if not (DATA_DIR / "petfinder" / "train.csv").exists() or not (
            DATA_DIR / "tierheim_muenchen" / "dog_crawler.db").exists():
        pytest.skip(f"shared data not present under {DATA_DIR}")
    return real_benchmark.pipeline_pairs(DATA_DIR, petfinder_organizations=lambda keys: keys[::3])


def test_offline_model_makes_no_violation_on_real_data(real_pairs) -> None:
    pairs, stats = real_pairs
    assert stats["tierheim_muenchen"].dogs == 69 and stats["tierheim_muenchen"].profiled == 67
    assert stats["petfinder"].profiled >= 1000
    faults = [(p.listing.external_id, v) for p in pairs for v in p.violations
              if not real_benchmark.input_artifact(p, v)]
    assert faults == []
    # What is left is the grounding bug above: quotes of the usable text, never the model's.
    artifacts = [v for p in pairs for v in p.violations]
    assert all(v.rule == "quote_not_found" for v in artifacts)


def test_pending_treatment_contradicts_a_stated_yes() -> None:
    lst = listing(vaccinated="yes")
    found = fired("structured_fact_mismatch", lst, profile(description=(
        "Rocky is a cheerful 2-year-old Beagle who loves long walks and still needs his vaccinations.")))
    assert [f for f, _ in found] == ["description"] and found[0][1].startswith("vaccinated:")


def test_the_parents_of_a_cross_are_the_dogs_own_breed() -> None:
    text = "Rocky ist ein Beagle-Dackel-Mischling. " + DESCRIPTION
    mixed = listing(breed="Mixed Breed", description=text)
    assert fired("structured_fact_mismatch", mixed, profile(description=(
        "Rocky is a cheerful 2-year-old dachshund mix who loves long walks."))) == []
    # one breed named with "cross" about another dog is not the dog's own breed
    other = listing(description=DESCRIPTION + " His brother Max, a Labrador cross, was adopted.")
    found = fired("structured_fact_mismatch", other, profile(description=(
        "Rocky is a cheerful 2-year-old Labrador cross who loves long walks.")))
    assert found and found[0][1].startswith("breed:")


def test_count_words_in_the_listing_back_a_number() -> None:
    lst = listing(description=DESCRIPTION + " He lived with both of his owner's grandchildren.")
    assert fired("number_not_in_listing", lst, profile(description=(
        "Rocky is a 2-year-old cheerful Beagle who lived with two grandchildren and weighs 14 kg."))) == []
    assert fired("number_not_in_listing", listing(), profile(description=(
        "Rocky is a 2-year-old cheerful Beagle who lived with seven children and weighs 14 kg.")))


def test_a_need_the_listing_says_does_not_bother_the_dog_is_no_need() -> None:
    lst = listing(description=DESCRIPTION + " He has a scar on his leg from an old injury but it does not bother him.")
    prof = profile(medical_needs="Old leg injury that needs monitoring",
                   source_references=refs(medical_needs="He has a scar on his leg from an old injury but it does not bother him."))
    assert [f for f, _ in fired("invented_need", lst, prof)] == ["medical_needs"]


def test_a_quiet_home_away_from_the_city_is_a_special_need() -> None:
    lst = listing(description=DESCRIPTION + " A big city would be too much hustle and bustle for him.")
    prof = profile(special_needs="Needs a quiet home away from the city",
                   source_references=refs(special_needs="A big city would be too much hustle and bustle for him."))
    assert fired("invented_need", lst, prof) == []


def test_an_age_class_just_below_the_tolerance_is_a_mismatch() -> None:
    # 45 months with a 9-month tolerance: "two years old" (24 to under 36) is too young
    found = fired("structured_fact_mismatch", listing(age_months=45), profile(description=(
        "Rocky is a cheerful Beagle, about two years old, who loves long walks.")))
    assert found and found[0][1].startswith("age:")


def test_a_name_kept_verbatim_does_not_decide_the_translations_language() -> None:
    """A shelter that names a dog with a whole sentence in another script: the translation
    keeps the name (it must), the rest is Spanish, so the language is Spanish; a
    translation that is Chinese besides the name is still the wrong language."""
    name = "快来看!这只小黄狗正在等待一个温暖的家"
    lst = listing(name=name, language="zh", breed="Mixed Breed")
    prof = profile(tagline=f"Meet {name}",
                   description=f"{name} is a young dog looking for a home. Age: 3 months.")
    spanish_tagline = f"Te presentamos a {name}"
    spanish = f"{name} es una perrita joven que busca un hogar. Edad: 3 meses."
    assert check_translation(lst, prof, "es", spanish_tagline, spanish, "es") == []
    chinese = f"{name} 是一只正在寻找新家的小狗,她非常可爱,喜欢和人玩耍。年龄:3个月。"
    assert [v.rule for v in check_translation(lst, prof, "es", spanish_tagline, chinese, "es")] == [
        "translation_wrong_language"]
