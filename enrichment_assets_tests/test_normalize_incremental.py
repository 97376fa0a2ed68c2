"""Incremental normalization (issue 13): unchanged listings are not normalized again.

The normalizer is counted by wrapping ``normalize_record`` where the pipeline calls it, and
language detection by wrapping ``detect_language`` in the domain module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from enrichment_assets.domain import normalize as domain_normalize
from enrichment_assets.pipeline import normalize as pipeline_normalize
from enrichment_assets.pipeline.normalize import load_listings, normalize_organization
from enrichment_assets.pipeline.raw import ingest_organization
from enrichment_assets.storage.schema import normalized_records

ORG = "shelter-a"


def _listing(i: int, description: str | None = None) -> dict:
    return {"external_id": f"id-{i}", "name": f"Dog {i}", "species": "dog", "age_text": "2 years",
            "description": description or f"Dog {i} is a calm and friendly dog who likes long walks in the park."}


def _write(landing: Path, name: str, records: list[dict]) -> None:
    folder = landing / ORG
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"__scrape__": {"scrape_id": name, "full": True}})] + [json.dumps(r) for r in records]
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"normalize": [], "detect": []}
    real_normalize, real_detect = pipeline_normalize.normalize_record, domain_normalize.detect_language

    def normalize(organization, payload, scraped_at=None):
        seen["normalize"].append(payload["external_id"])
        return real_normalize(organization, payload, scraped_at)

    def detect(text):
        seen["detect"].append(text)
        return real_detect(text)

    monkeypatch.setattr(pipeline_normalize, "normalize_record", normalize)
    monkeypatch.setattr(domain_normalize, "detect_language", detect)
    return seen


def _ingest(engine, tmp_path: Path, name: str, records: list[dict]) -> None:
    _write(tmp_path / "landing", name, records)
    ingest_organization(engine, tmp_path / "landing", ORG)


def test_unchanged_rerun_normalizes_nothing(engine, tmp_path, calls) -> None:
    _ingest(engine, tmp_path, "s1", [_listing(i) for i in range(5)])
    first = normalize_organization(engine, ORG)
    assert (first.inserted, first.updated, first.unchanged, first.reused) == (5, 0, 0, 0)
    assert len(calls["normalize"]) == 5 and calls["detect"]
    before = load_listings(engine, ORG)
    calls["normalize"].clear(), calls["detect"].clear()
    again = normalize_organization(engine, ORG)
    assert calls == {"normalize": [], "detect": []}
    assert (again.inserted, again.updated, again.unchanged, again.reused, again.deleted) == (0, 0, 5, 5, 0)
    assert again.normalized == again.listings == 5
    assert again.species == first.species and again.languages == first.languages
    assert [p.external_id for p in again.preview] == [p.external_id for p in first.preview]
    assert load_listings(engine, ORG) == before


def test_changed_raw_record_is_normalized_again(engine, tmp_path, calls) -> None:
    _ingest(engine, tmp_path, "s1", [_listing(i) for i in range(5)])
    normalize_organization(engine, ORG)
    calls["normalize"].clear()
    changed = [_listing(i) for i in range(5)]
    changed[2] = _listing(2, "Dog 2 is shy at first but loves other dogs and cuddles on the sofa.")
    del changed[4]  # gone from the full scrape: removed, its normalized row deleted
    _ingest(engine, tmp_path, "s2", changed)
    result = normalize_organization(engine, ORG)
    assert calls["normalize"] == ["id-2"]
    assert (result.inserted, result.updated, result.unchanged, result.deleted) == (0, 1, 3, 1)
    assert {x.external_id: x for x in load_listings(engine, ORG)}["id-2"].description.startswith("Dog 2 is shy")


def test_raw_change_without_content_change_is_unchanged_not_updated(engine, tmp_path, calls) -> None:
    """An extra key changes the raw record but not the normalized listing: normalized
    again (the raw hash moved), counted unchanged, and not normalized a third time."""
    _ingest(engine, tmp_path, "s1", [_listing(0)])
    normalize_organization(engine, ORG)
    _ingest(engine, tmp_path, "s2", [{**_listing(0), "crawler_note": "x"}])
    calls["normalize"].clear()
    result = normalize_organization(engine, ORG)
    assert calls["normalize"] == ["id-0"]
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 1)
    calls["normalize"].clear()
    assert normalize_organization(engine, ORG).reused == 1 and calls["normalize"] == []


def test_new_normalizer_version_renormalizes_all(engine, tmp_path, calls, monkeypatch) -> None:
    _ingest(engine, tmp_path, "s1", [_listing(i) for i in range(4)])
    normalize_organization(engine, ORG)
    calls["normalize"].clear()
    monkeypatch.setattr(pipeline_normalize, "NORMALIZER_VERSION", "test-bump")
    result = normalize_organization(engine, ORG)
    assert sorted(calls["normalize"]) == [f"id-{i}" for i in range(4)]
    assert (result.updated, result.unchanged, result.reused) == (0, 4, 0)  # same output: unchanged
    with engine.connect() as conn:
        versions = set(conn.execute(sa.select(normalized_records.c.normalizer_version)).scalars())
    assert versions == {pipeline_normalize.normalizer_version()} and versions.pop().startswith("test-bump+")


def test_lexicon_change_changes_the_version(lexicon_copy) -> None:
    from enrichment_assets import lexicon
    try:
        pipeline_normalize._inputs_digest.cache_clear()
        base = pipeline_normalize.normalizer_version()
        lexicon.use_directory(None)
        pipeline_normalize._inputs_digest.cache_clear()
        assert pipeline_normalize.normalizer_version() == base  # same bytes, same version
        lexicon.use_directory(lexicon_copy)
        with (lexicon_copy / "en.yaml").open("a", encoding="utf-8") as handle:
            handle.write("\n# edited\n")
        pipeline_normalize._inputs_digest.cache_clear()
        assert pipeline_normalize.normalizer_version() != base
    finally:
        pipeline_normalize._inputs_digest.cache_clear()


def test_many_organizations_at_once_normalize_as_each_on_its_own(tmp_path: Path) -> None:
    """``normalize_organizations`` (a many-partition step) reads the state of all its
    organizations at once and writes them in one transaction; every result (counts,
    rejections, preview) and every stored row is what normalizing each on its own gives,
    through a change, a removal, a rejection and its fix, and a rerun with nothing new."""
    from enrichment_assets.pipeline.normalize import normalize_organizations
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
    from enrichment_assets.storage.schema import rejected_records

    landing = tmp_path / "landing"
    engines = {name: create_db_engine(f"sqlite:///{tmp_path / name}.db") for name in ("alone", "together")}
    for engine in engines.values():
        upgrade_to_head(engine)

    def scrape(org: str, name: str, records: list[dict]) -> None:
        folder = landing / org
        folder.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"__scrape__": {"scrape_id": name, "full": True, "scraped_at": f"{name}T08:00:00Z"}})]
        (folder / f"{name}.jsonl").write_text("\n".join(lines + [json.dumps(r) for r in records]) + "\n")

    future = {**_listing(9), "birth_date": "2031-05-01", "age_text": None}
    scrape("org-a", "2026-01-01", [_listing(i) for i in range(12)])
    scrape("org-b", "2026-01-01", [_listing(1), future])
    orgs = ["org-b", "org-a", "org-empty", "org-a"]

    def stored(engine):
        with engine.connect() as conn:
            return (sorted(conn.execute(sa.select(normalized_records.c.organization, normalized_records.c.external_id,
                                                  normalized_records.c.content_hash,
                                                  normalized_records.c.raw_hash)).all()),
                    sorted(conn.execute(sa.select(rejected_records.c.organization, rejected_records.c.record_ref,
                                                  rejected_records.c.stage)).all()))

    for round_ in range(3):
        for org in ("org-a", "org-b"):
            for engine in engines.values():
                ingest_organization(engine, landing, org)
        alone = [normalize_organization(engines["alone"], org) for org in dict.fromkeys(orgs)]
        together = normalize_organizations(engines["together"], orgs)
        assert together == alone, round_
        assert stored(engines["together"]) == stored(engines["alone"]), round_
        if round_ == 0:
            assert [(r.normalized, r.rejected) for r in together] == [(1, 1), (12, 0), (0, 0)]
            assert len(together[1].preview) == 10 and "birth_date" in together[0].rejection_reasons[0]
            # org-a: one listing changed, one gone; org-b: the birth date fixed
            scrape("org-a", "2026-02-01", [_listing(0, "Dog 0 now lives with a cat and loves it.")]
                   + [_listing(i) for i in range(1, 11)])
            scrape("org-b", "2026-02-01", [_listing(1), {**future, "birth_date": "2024-05-01"}])
        elif round_ == 1:
            # a new scrape date is a new input of every listing (ages are relative to it)
            assert [(r.inserted, r.updated, r.deleted, r.reused) for r in together] == [(1, 1, 0, 0), (0, 11, 1, 0),
                                                                                       (0, 0, 0, 0)]
            assert stored(engines["together"])[1] == []
    assert [(r.inserted, r.updated, r.unchanged, r.reused) for r in together] == [(0, 0, 2, 2), (0, 0, 11, 11),
                                                                                 (0, 0, 0, 0)]
    for engine in engines.values():
        engine.dispose()
