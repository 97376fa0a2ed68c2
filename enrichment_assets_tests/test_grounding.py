"""Tests of enrichment_assets.domain.grounding (plain pytest, no Dagster).

Real-data tests read ../shared/data and skip when it is absent. They check behaviour
through short keywords (e.g. "Tiervermittlung"), never by copying listing text.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from enrichment_assets.domain.grounding import (
    SourceAssessment,
    assess_source,
    find_boilerplate,
    is_contact_line,
    looks_like_breed_guide,
    split_sentences,
    usable_description,
)
from enrichment_assets.domain.models import NormalizedListing
from enrichment_assets.domain.normalize import clean_text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PETFINDER_CSV = DATA / "petfinder" / "train.csv"
TIERHEIM_DB = DATA / "tierheim_muenchen" / "dog_crawler.db"

CLOSING = "Adoptions by appointment only. Our team answers questions on weekdays."


def listing(description: str, name: str = "Bello") -> NormalizedListing:
    return NormalizedListing(
        organization="demo-org", external_id="1", name=name, species="dog",
        description=description, language="en", content_hash="0" * 64,
    )


def tierheim_rows() -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{TIERHEIM_DB}?mode=ro", uri=True) as conn:
        return [(n, clean_text(d or "")) for n, d in conn.execute("select name, description from dogs")]


# ------------------------------------------------------------------------ sentences


def test_split_sentences_english():
    text = "Max is two. He loves balls! Does he bark? Rarely."
    assert split_sentences(text) == ["Max is two.", "He loves balls!", "Does he bark?", "Rarely."]


def test_split_sentences_keeps_abbreviations_times_and_ordinals_together():
    text = ("Er wiegt ca. 30 kg und mag z.B. Bälle bzw. Stöcke. Er kam am 25. September zu "
            "uns. Im 3. Lebensjahr wurde er abgegeben. Besuche 13:00-16:00 Uhr. Geboren am "
            "25.02.2017 in Bayern. Das ist z. B. gut.")
    assert split_sentences(text) == [
        "Er wiegt ca. 30 kg und mag z.B. Bälle bzw. Stöcke.",
        "Er kam am 25. September zu uns.",
        "Im 3. Lebensjahr wurde er abgegeben.",
        "Besuche 13:00-16:00 Uhr.",
        "Geboren am 25.02.2017 in Bayern.",
        "Das ist z. B. gut.",
    ]


def test_split_sentences_on_line_breaks_and_chinese_marks():
    assert split_sentences("Name: Max\nAge: 2 years") == ["Name: Max", "Age: 2 years"]
    assert split_sentences("它很乖。喜欢散步！") == ["它很乖。", "喜欢散步！"]


def test_split_sentences_does_not_split_before_lower_case():
    assert split_sentences("He is approx. two years old. e.g. he sits.") == [
        "He is approx. two years old. e.g. he sits."
    ]


# ------------------------------------------------------------------------ boilerplate


def _org_texts() -> list[str]:
    dogs = ["Max loves balls.", "Luna is shy at first.", "Rex enjoys long walks.",
            "Bella sleeps a lot.", "Kira barks at bikes.", "Odin likes cats."]
    return [f"{d} It is a good dog. {CLOSING}" if i < 4 else f"{d} {CLOSING}"
            for i, d in enumerate(dogs)]


def test_find_boilerplate_synthetic():
    found = find_boilerplate(_org_texts())
    assert "Adoptions by appointment only." in found
    assert "Our team answers questions on weekdays." in found
    assert "It is a good dog." in found  # 4 of 6 >= 50%
    assert not any(s.startswith(("Max", "Luna")) for s in found)
    assert find_boilerplate(_org_texts(), min_share=0.9) == [
        "Adoptions by appointment only.", "Our team answers questions on weekdays."]


def test_find_boilerplate_needs_enough_listings():
    assert find_boilerplate(_org_texts()[:4]) == []
    assert find_boilerplate(_org_texts()[:4], min_listings=4) != []


def test_find_boilerplate_normalizes_whitespace():
    texts = [f"Dog {i} is here.  Adoptions  by\nappointment only." for i in range(6)]
    texts = [t.replace("\n", " ") for t in texts]
    assert find_boilerplate(texts) == ["Adoptions by appointment only."]


def test_find_boilerplate_rejects_bad_parameters():
    with pytest.raises(ValueError):
        find_boilerplate(["a"], min_share=0)
    with pytest.raises(ValueError):
        find_boilerplate(["a"], min_listings=1)


@pytest.mark.skipif(not TIERHEIM_DB.exists(), reason="shared Tierheim data absent")
def test_boilerplate_found_and_removed_in_real_tierheim_data():
    rows = tierheim_rows()
    texts = [d for _, d in rows]
    found = find_boilerplate(texts)
    assert any("Tiervermittlung" in s for s in found)
    assert any("Vermittlungszeiten" in s for s in found)
    # the closing block is three sentences; nothing about a single dog is boilerplate
    assert 2 <= len(found) <= 5
    names = {n.lower() for n, _ in rows}
    assert not any(name in s.lower() for s in found for name in names if len(name) > 2)
    for name, text in rows:
        if not text:
            continue
        usable = usable_description(text, found)
        assert "Tiervermittlung" not in usable
        assert "Vermittlungszeiten" not in usable
        assert "Telefonnummer" not in usable
        assert len(usable) < len(text)
        assert name.lower() in usable.lower()  # the dog's own text is still there


@pytest.mark.skipif(not TIERHEIM_DB.exists(), reason="shared Tierheim data absent")
def test_real_tierheim_source_assessment():
    rows = tierheim_rows()
    found = find_boilerplate([d for _, d in rows])
    results = [assess_source(listing(d, n), found) for n, d in rows]
    empty = sum(1 for _, d in rows if not d)
    assert sum(not r.sufficient for r in results) == empty  # only the empty texts
    assert all(r.boilerplate_removed >= 1 for (_, d), r in zip(rows, results) if d)


# ------------------------------------------------------------------------ contact lines


@pytest.mark.parametrize(
    "sentence",
    [
        "Pls contact Rachel at 012-345 6789.",
        "Interested to adopt please call me.",
        "WhatsApp me for more photos.",
        "Email: someone@example.org",
        "Contact: Tan",
        "Telefon: 089 1234567",
        "Tel. 089 1234567",
        "Bitte melden Sie sich zu den Vermittlungszeiten bei uns.",
        "Rufen Sie uns gerne an.",
        "有兴趣请联系我。",
    ],
)
def test_contact_lines_detected(sentence):
    assert is_contact_line(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "He loves human contact.",
        "Er sucht Kontakt zu Artgenossen.",
        "Er wurde am 10.12.2019 geboren.",
        "Max weighs 37,9 kg and is 61 cm tall.",
        "She comes when you call her name.",
    ],
)
def test_not_contact_lines(sentence):
    assert not is_contact_line(sentence)


def test_contact_line_removed_from_description():
    text = ("Rocky is a gentle giant who loves children. He walks nicely on the leash. "
            "Please contact Mary at 012 345 6789 if interested.")
    usable = usable_description(text, [])
    assert usable == "Rocky is a gentle giant who loves children. He walks nicely on the leash."


def test_contact_part_of_run_on_sentence_removed_rest_kept():
    text = "found him last week.. he is playful and cute.. if u want him pls contact me :) he eats well"
    usable = usable_description(text, [])
    assert "contact" not in usable
    assert "playful and cute" in usable and "eats well" in usable


def test_boilerplate_glued_to_previous_sentence_is_cut():
    text = "Max liebt Bälle Adoptions by appointment only."
    assert usable_description(text, ["Adoptions by appointment only."]) == "Max liebt Bälle"


@pytest.mark.skipif(not PETFINDER_CSV.exists(), reason="shared PetFinder data absent")
def test_real_petfinder_contact_phrases_removed():
    pd = pytest.importorskip("pandas")
    texts = pd.read_csv(PETFINDER_CSV)["Description"].dropna()
    with_contact = [clean_text(t) for t in texts if re.search(r"\bpl(?:s|ease) contact\b", t, re.I)]
    assert len(with_contact) >= 100
    for text in with_contact[:300]:
        assert not re.search(r"\bpl(?:s|ease) contact\b", usable_description(text, []), re.I)


# ------------------------------------------------------------------------ assessment


def test_short_text_is_insufficient_with_reason():
    text = f"Max is sweet. Call me at 012 345 6789. {CLOSING}"
    result = assess_source(listing(text, "Max"), ["Adoptions by appointment only.",
                                                  "Our team answers questions on weekdays."])
    assert isinstance(result, SourceAssessment)
    assert result.usable_text == "Max is sweet."
    assert result.usable_chars == len("Max is sweet.")
    assert result.sufficient is False
    assert result.reason is not None
    assert "13" in result.reason and "150" in result.reason
    assert "2 boilerplate sentences" in result.reason and "1 contact line" in result.reason


def test_long_own_text_is_sufficient():
    text = ("Bello came to us as a stray and quickly won everyone over. He walks well on the "
            "leash, knows sit and down, and greets other dogs politely. He would love a home "
            "with a garden and people who enjoy long walks.")
    result = assess_source(listing(text), [], min_source_chars=150)
    assert result.sufficient is True and result.reason is None
    assert result.usable_chars == len(text)


def test_min_source_chars_is_respected():
    text = "Bello is a calm dog who loves naps and short walks."
    assert assess_source(listing(text), [], min_source_chars=20).sufficient is True
    assert assess_source(listing(text), [], min_source_chars=200).sufficient is False
    with pytest.raises(ValueError):
        assess_source(listing(text), [], min_source_chars=-1)


BREED_BLURB = (
    "The Beagle is a small scent hound. This breed originated in England and was bred for "
    "hunting hares. Beagles are known for their excellent nose and friendly temperament. "
    "The breed standard allows tricolour coats, and the life span is 12 to 15 years."
)


def test_breed_guide_blurb_is_insufficient():
    result = assess_source(listing(BREED_BLURB, "Snoopy"), [])
    assert result.usable_chars >= 150
    assert result.sufficient is False and result.breed_guide is True
    assert "breed guide" in result.reason


def test_description_of_the_dog_is_not_a_breed_guide():
    text = BREED_BLURB + " Snoopy is one of them and loves his toys."
    assert not looks_like_breed_guide(text, "Snoopy")
    assert not looks_like_breed_guide(BREED_BLURB + " She is sweet.", "Snoopy")


@pytest.mark.skipif(not PETFINDER_CSV.exists(), reason="shared PetFinder data absent")
def test_breed_guide_check_is_precise_on_real_descriptions():
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(PETFINDER_CSV)
    dogs = frame[frame["Type"] == 1].dropna(subset=["Description"])
    flagged = sum(
        looks_like_breed_guide(clean_text(d), "" if pd.isna(n) else n)
        for n, d in zip(dogs["Name"], dogs["Description"])
    )
    assert flagged <= 0.005 * len(dogs)
