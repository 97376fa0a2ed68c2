"""Incremental quality scores (issue 13): a published profile whose listing, version,
violations, cliches, repeated sentences and rubric are unchanged keeps its stored score and is
not scored again; anything it depends on changing scores it again, and the stored rows always
equal a forced full recompute (``force=True`` then writes nothing). Runs the demo data on the
offline model; rubric calls are counted by wrapping the function the pipeline calls."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.pipeline import quality
from enrichment_assets.pipeline.review import approve, reject, review_queue
from enrichment_assets.storage.database import create_db_engine, stable_hash, upgrade_to_head, utcnow
from enrichment_assets.storage.schema import llm_profiles, quality_scores, violations
from enrichment_assets_tests.conftest import profiled_demo

ORG = "demo-tierheim-nord"


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organization profiled and rule-checked (offline model), not yet scored."""
    folder = tmp_path_factory.mktemp("scores")
    engine, _, _ = profiled_demo(folder, ORG)
    engine.dispose()
    return folder / "app.db"


@pytest.fixture
def setup(base_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(engine, scored ids, cliches): a private copy of the database; ``scored`` collects the
    external id of every profile the rubric scores."""
    shutil.copy(base_db, tmp_path / "app.db")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    scored: list[str] = []
    real = quality.score_profile

    def counting(listing, profile, **kwargs):
        scored.append(listing.external_id)
        return real(listing, profile, **kwargs)

    monkeypatch.setattr(quality, "score_profile", counting)
    yield engine, scored, list(load_prompt_config(ORG).cliches)
    engine.dispose()


def _rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [{k: v for k, v in r.items() if k != "updated_at"} for r in conn.execute(
            sa.select(quality_scores).order_by(quality_scores.c.external_id)).mappings()]


def _summary(result: quality.QualityResult) -> tuple:
    return (result.scored, result.needs_review, sorted(result.scores), result.reasons, result.median, result.mean)


def _equals_full_recompute(engine: sa.Engine, cliches: list[str], scored: list[str]) -> quality.QualityResult:
    """Score everything again (``force``): nothing may differ from what is stored."""
    before = _rows(engine)
    scored.clear()
    forced = quality.score_organization(engine, ORG, cliches, force=True)
    assert forced.reused == 0 and len(scored) == forced.scored
    assert forced.written == 0 and _rows(engine) == before, "the incremental rows differ from a full recompute"
    scored.clear()
    return forced


def _published_ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(llm_profiles.c.external_id).where(
            llm_profiles.c.organization == ORG, llm_profiles.c.published_profile.is_not(None))).scalars())


def _plant_violation(engine: sa.Engine, external_id: str, severity: str = "warn") -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(violations).values(
            organization=ORG, external_id=external_id, target="profile", rule="planted", field="tagline",
            severity=severity, evidence="planted by the test", detected_at=utcnow()))


def test_unchanged_rerun_scores_nothing_and_equals_a_full_recompute(setup) -> None:
    engine, scored, cliches = setup
    ids = _published_ids(engine)
    first = quality.score_organization(engine, ORG, cliches)
    assert sorted(scored) == ids and first.reused == 0 and first.written == len(ids) == 7
    assert first.reasons.get("sentence repeated across the organization's profiles"), "fixture has repeats"
    stored = _rows(engine)
    assert {(r["input_hash"] is not None, r["rubric_version"]) for r in stored} == {(True, quality.rubric_version())}
    scored.clear()
    again = quality.score_organization(engine, ORG, cliches)
    assert scored == [] and again.reused == 7 and (again.written, again.deleted) == (0, 0)
    assert _summary(again) == _summary(first)
    assert _rows(engine) == stored
    assert _summary(_equals_full_recompute(engine, cliches, scored)) == _summary(first)


def test_a_changed_input_is_scored_again(setup, monkeypatch) -> None:
    engine, scored, cliches = setup
    ids = _published_ids(engine)
    quality.score_organization(engine, ORG, cliches)

    # one published profile's text changes: it is scored again (and so is any profile whose
    # repeated sentences changed with it); the others keep their scores
    target = ids[0]
    with engine.begin() as conn:
        profile = conn.execute(sa.select(llm_profiles.c.published_profile).where(
            llm_profiles.c.organization == ORG, llm_profiles.c.external_id == target)).scalar_one()
        profile = {**profile, "description": "A short text about a calm dog."}
        conn.execute(sa.update(llm_profiles).where(llm_profiles.c.organization == ORG,
                                                   llm_profiles.c.external_id == target)
                     .values(published_profile=profile))
    scored.clear()
    result = quality.score_organization(engine, ORG, cliches)
    assert target in scored and result.reused == 7 - len(scored) and result.reused > 0
    assert any(r["external_id"] == target and "description length" in " ".join(r["reasons"]) for r in _rows(engine))
    _equals_full_recompute(engine, cliches, scored)

    # a stored rule violation of one profile (the rubric reads it): only that one
    _plant_violation(engine, ids[1])
    result = quality.score_organization(engine, ORG, cliches)
    assert scored == [ids[1]] and result.reused == 6
    assert next(r for r in _rows(engine) if r["external_id"] == ids[1])["needs_review"] is True
    _equals_full_recompute(engine, cliches, scored)

    # the organization's cliche list (prompt file): every profile
    result = quality.score_organization(engine, ORG, [*cliches, "a new cliche"])
    assert sorted(scored) == ids and result.reused == 0
    _equals_full_recompute(engine, [*cliches, "a new cliche"], scored)

    # the rubric's version: every profile
    monkeypatch.setattr(quality, "RUBRIC_VERSION", "test-bump")
    result = quality.score_organization(engine, ORG, cliches)
    assert sorted(scored) == ids and result.reused == 0
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(quality_scores.c.rubric_version)).scalars()) == {quality.rubric_version()}
    assert quality.rubric_version().startswith("test-bump+")


def test_a_lexicon_or_rubric_edit_changes_the_version(lexicon_copy) -> None:
    from enrichment_assets import lexicon
    try:
        quality._rubric_digest.cache_clear()
        base = quality.rubric_version()
        lexicon.use_directory(None)
        quality._rubric_digest.cache_clear()
        assert quality.rubric_version() == base  # same bytes, same version
        lexicon.use_directory(lexicon_copy)
        with (lexicon_copy / "shared.yaml").open("a", encoding="utf-8") as handle:
            handle.write("\n# edited\n")
        quality._rubric_digest.cache_clear()
        assert quality.rubric_version() != base
    finally:
        quality._rubric_digest.cache_clear()


def test_review_decisions_and_new_versions(setup) -> None:
    """A newly published version (here: a quarantined attempt a reviewer approves, identical
    text) is scored again; approving a needs_review profile leaves its score standing and takes
    it out of the queue; rejecting the published profile drops its score."""
    engine, scored, cliches = setup
    ids = _published_ids(engine)
    quality.score_organization(engine, ORG, cliches)
    p = llm_profiles.c
    target = ids[2]
    with engine.begin() as conn:  # plant: the latest attempt is quarantined with the same text
        row = conn.execute(sa.select(p.published_profile, p.published_content_hash, p.published_version).where(
            p.organization == ORG, p.external_id == target)).one()
        conn.execute(sa.update(llm_profiles).where(p.organization == ORG, p.external_id == target).values(
            status="quarantined", profile=row.published_profile, content_hash=row.published_content_hash))
    approve(engine, ORG, target, reviewer="anna", note="fine")
    with engine.connect() as conn:
        assert conn.execute(sa.select(p.published_version).where(
            p.organization == ORG, p.external_id == target)).scalar_one() == row.published_version + 1
    scored.clear()
    result = quality.score_organization(engine, ORG, cliches)
    assert scored == [target] and result.reused == 6  # same text, new version: scored again
    _equals_full_recompute(engine, cliches, scored)

    flagged = ids[3]
    _plant_violation(engine, flagged)
    quality.score_organization(engine, ORG, cliches)
    assert scored == [flagged]
    assert flagged in [i.external_id for i in review_queue(engine, ORG)]
    approve(engine, ORG, flagged, reviewer="anna", note="the warning is wrong")
    scored.clear()
    result = quality.score_organization(engine, ORG, cliches)
    assert scored == [] and result.reused == 7 and result.needs_review >= 1  # the score does not change
    assert flagged not in [i.external_id for i in review_queue(engine, ORG)], "the approval holds"

    reject(engine, ORG, flagged, reviewer="anna", note="not fine after all")
    result = quality.score_organization(engine, ORG, cliches)
    assert result.scored == 6 and result.deleted == 1 and flagged not in [r["external_id"] for r in _rows(engine)]
    assert flagged not in scored
    _equals_full_recompute(engine, cliches, scored)


def test_profile_hash_is_kept_as_before(setup) -> None:
    """The stored ``profile_hash`` is the one the stage wrote before it was incremental."""
    engine, _, cliches = setup
    quality.score_organization(engine, ORG, cliches)
    from enrichment_assets.domain.models import DogProfile
    from enrichment_assets.pipeline.normalize import load_listings
    listings = {l.external_id: l for l in load_listings(engine, ORG)}
    with engine.connect() as conn:
        published = dict(conn.execute(sa.select(llm_profiles.c.external_id, llm_profiles.c.published_profile).where(
            llm_profiles.c.organization == ORG, llm_profiles.c.published_profile.is_not(None))).all())
    for row in _rows(engine):
        profile = DogProfile.model_validate(published[row["external_id"]])
        assert row["profile_hash"] == stable_hash([profile.model_dump(mode="json"),
                                                   listings[row["external_id"]].content_hash])


def test_rows_from_before_0010_are_scored_once_and_a_json_null_profile_is_unpublished(setup) -> None:
    """Scores without ``input_hash`` (written before migration 0010) are scored once more; the
    migration turns the JSON ``null`` an old ``review reject`` stored into SQL NULL."""
    from alembic import command

    from enrichment_assets.storage.database import _alembic_config

    engine, scored, cliches = setup
    ids = _published_ids(engine)
    quality.score_organization(engine, ORG, cliches)
    p = llm_profiles.c
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009_review_decisions")
    with engine.begin() as conn:  # what reject wrote before: None is a JSON 'null' in a JSON column
        conn.execute(sa.update(llm_profiles).where(p.organization == ORG, p.external_id == ids[0]).values(
            status="rejected", published_profile=None, published_version=None))
        assert conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
            p.external_id == ids[0], p.published_profile.is_not(None))).scalar_one() == 1
    assert upgrade_to_head(engine) is True
    assert _published_ids(engine) == ids[1:]
    scored.clear()
    result = quality.score_organization(engine, ORG, cliches)
    assert sorted(scored) == ids[1:] and result.reused == 0 and result.deleted == 1
    _equals_full_recompute(engine, cliches, scored)


def test_many_organizations_at_once_score_as_each_on_its_own(base_db: Path, tmp_path: Path) -> None:
    """``score_organizations`` (a many-partition step) reads what all its organizations
    stored at once and writes their scores in one transaction: each result and every row is
    what scoring each on its own gives, through a first scoring, a planted violation, an
    unpublished profile (its score deleted) and the review queue sizes."""
    from enrichment_assets.pipeline.review import queue_size, queue_sizes

    engines = {}
    for name in ("alone", "together"):
        shutil.copy(base_db, tmp_path / f"{name}.db")
        engines[name] = create_db_engine(f"sqlite:///{tmp_path / name}.db")
    cliches = {ORG: list(load_prompt_config(ORG).cliches), "org-without-profiles": []}
    for round_ in range(3):
        alone = [quality.score_organization(engines["alone"], org, c) for org, c in cliches.items()]
        together = quality.score_organizations(engines["together"], cliches)
        assert [(r.organization, r.written, r.deleted, r.reused, _summary(r)) for r in together] == [
            (r.organization, r.written, r.deleted, r.reused, _summary(r)) for r in alone], round_
        assert _rows(engines["together"]) == _rows(engines["alone"]), round_
        assert queue_sizes(engines["together"], list(cliches)) == {o: queue_size(engines["alone"], o) for o in cliches}
        ids = _published_ids(engines["together"])
        if round_ == 0:
            assert together[0].scored == len(ids) > 2 and together[0].written == len(ids)
            assert together[1].scored == 0
            for engine in engines.values():
                _plant_violation(engine, ids[0], "error")
                with engine.begin() as conn:
                    conn.execute(llm_profiles.update().where(
                        llm_profiles.c.organization == ORG, llm_profiles.c.external_id == ids[1],
                    ).values(published_profile=sa.null(), published_version=None, published_at=None,
                             published_content_hash=None, published_prompt_version=None, published_model=None))
        elif round_ == 1:
            assert together[0].written == 1 and together[0].deleted == 1
    assert together[0].written == 0 and together[0].reused == together[0].scored
    for engine in engines.values():
        engine.dispose()
