"""Incremental translation rules (issue 13): an ``ok`` translation whose text, source profile
(and its published version), listing and rules are unchanged is neither language-detected nor
checked again; a change to any of them checks it again, and the stored findings always equal
a forced full check. Demo data on the offline model; rule calls are counted by wrapping the
function the pipeline calls."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from enrichment_assets.pipeline import hallucination
from enrichment_assets.pipeline.gates import translation_gate
from enrichment_assets.pipeline.translations import translate_organization
from enrichment_assets.storage.database import create_db_engine
from enrichment_assets.storage.schema import llm_profiles, normalized_records, rule_checks, violations
from enrichment_assets_tests.conftest import profiled_demo

ORG = "demo-tierheim-nord"


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organization profiled and translated (offline model), translations not yet checked."""
    folder = tmp_path_factory.mktemp("translations")
    engine, client, config = profiled_demo(folder, ORG)
    translate_organization(engine, ORG, client, config)
    engine.dispose()
    return folder / "app.db"


@pytest.fixture
def setup(base_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(engine, checked): a private copy of the database; ``checked`` collects
    ``language:external_id`` of every translation the rules check."""
    shutil.copy(base_db, tmp_path / "app.db")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    checked: list[str] = []
    real = hallucination.check_translation

    def counting(listing, profile, language, *rest):
        checked.append(f"{language}:{listing.external_id}")
        return real(listing, profile, language, *rest)

    monkeypatch.setattr(hallucination, "check_translation", counting)
    yield engine, checked
    engine.dispose()


def _stored(engine: sa.Engine) -> tuple[list[tuple], list[tuple]]:
    """(violations of the translation targets, rule_checks of them) without timestamps."""
    with engine.connect() as conn:
        found = sorted(tuple(r) for r in conn.execute(sa.select(
            violations.c.external_id, violations.c.target, violations.c.rule, violations.c.field,
            violations.c.severity, violations.c.evidence).where(violations.c.target.not_in(["profile", "attempt"]))))
        checks = sorted(tuple(r) for r in conn.execute(sa.select(
            rule_checks.c.external_id, rule_checks.c.target, rule_checks.c.input_hash,
            rule_checks.c.rules_version).where(rule_checks.c.target != "profile")))
    return found, checks


def _equals_full_check(engine: sa.Engine, checked: list[str]) -> hallucination.ViolationReport:
    before = _stored(engine)
    checked.clear()
    forced = hallucination.evaluate_translations(engine, ORG, force=True)
    assert forced.reused == 0 and len(checked) == forced.checked
    assert _stored(engine) == before, "the incremental findings differ from a full check"
    checked.clear()
    return forced


def _report(report: hallucination.ViolationReport) -> tuple:
    return report.checked, report.with_errors, report.with_warnings, report.by_rule


def test_unchanged_translations_are_not_checked_again(setup) -> None:
    engine, checked = setup
    first = hallucination.evaluate_translations(engine, ORG)
    assert first.checked == len(checked) == 21 and first.reused == 0
    gate = translation_gate(engine, ORG)
    checked.clear()
    again = hallucination.evaluate_translations(engine, ORG)
    assert checked == [] and again.reused == 21 and _report(again) == _report(first)
    assert translation_gate(engine, ORG) == gate
    assert _report(_equals_full_check(engine, checked)) == _report(first)


def test_a_new_source_version_or_listing_is_checked_again(setup) -> None:
    engine, checked = setup
    hallucination.evaluate_translations(engine, ORG)
    p = llm_profiles.c
    with engine.connect() as conn:
        ids = sorted(conn.execute(sa.select(p.external_id).where(
            p.organization == ORG, p.published_profile.is_not(None))).scalars())
    republished, renamed = ids[0], ids[1]
    with engine.begin() as conn:  # the same profile published again as the next version
        conn.execute(sa.update(llm_profiles).where(p.organization == ORG, p.external_id == republished)
                     .values(published_version=p.published_version + 1))
    checked.clear()
    report = hallucination.evaluate_translations(engine, ORG)
    assert sorted(checked) == sorted(f"{lang}:{republished}" for lang in ("de", "es", "fr")) and report.reused == 18
    _equals_full_check(engine, checked)

    n = normalized_records.c
    with engine.begin() as conn:  # the stored listing changes (its name, which the name rule reads)
        listing = conn.execute(sa.select(n.listing).where(n.organization == ORG, n.external_id == renamed)).scalar_one()
        conn.execute(sa.update(normalized_records).where(n.organization == ORG, n.external_id == renamed)
                     .values(listing={**listing, "name": "Zebulon"}))
    report = hallucination.evaluate_translations(engine, ORG)
    assert sorted(checked) == sorted(f"{lang}:{renamed}" for lang in ("de", "es", "fr")) and report.reused == 18
    _equals_full_check(engine, checked)
