"""Incremental rules pass (issue 13): a profile or translation whose text and rules did not
change keeps its stored findings and is not checked again. Runs the offline model on a few
listings; rule calls are counted by wrapping the rule functions the pipeline calls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from enrichment_assets.llm.client import LLMClient, LLMSettings  # noqa: E402
from enrichment_assets.llm.prompts import load_prompt_config  # noqa: E402
from enrichment_assets.pipeline import hallucination  # noqa: E402
from enrichment_assets.pipeline.normalize import normalize_organization  # noqa: E402
from enrichment_assets.pipeline.profiles import profile_organization  # noqa: E402
from enrichment_assets.pipeline.raw import ingest_organization  # noqa: E402
from enrichment_assets.pipeline.translations import translate_organization  # noqa: E402
from enrichment_assets.storage.database import create_db_engine, upgrade_to_head  # noqa: E402
from enrichment_assets.storage.schema import rule_checks, translations, violations  # noqa: E402
from enrichment_assets_tests.fault_matrix import _settings  # noqa: E402
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer, model_like_responder  # noqa: E402

ORG = "shelter-a"
TEXT = ("{name} is a friendly two year old dog who loves long walks, plays well with other dogs "
        "and is house trained. She is calm indoors, enjoys cuddles on the sofa and knows sit and stay. "
        "Weight: 20 kg. Neutered: yes. She is good with children and likes to fetch balls in the garden.")


def _normalized_shelter(tmp_path: Path) -> sa.Engine:
    """A database with ORG's three listings (Bella0-2, :data:`TEXT`) ingested and normalized."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    upgrade_to_head(engine)
    folder = tmp_path / "landing" / ORG
    folder.mkdir(parents=True)
    lines = [json.dumps({"__scrape__": {"scrape_id": "s1", "full": True}})] + [
        json.dumps({"external_id": f"id-{i}", "name": f"Bella{i}", "species": "dog", "age_text": "2 years",
                    "description": TEXT.format(name=f"Bella{i}")}) for i in range(3)]
    (folder / "s1.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_organization(engine, tmp_path / "landing", ORG)
    normalize_organization(engine, ORG)
    return engine


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    engine = _normalized_shelter(tmp_path)
    client = LLMClient(LLMSettings(model="offline/rules"))
    config = load_prompt_config(ORG)
    config = config.model_copy(update={"metadata": config.metadata.model_copy(update={"target_languages": ["de"]})})
    profile_organization(engine, ORG, client, config)
    translate_organization(engine, ORG, client, config)
    calls: list[str] = []
    real_profile, real_translation = hallucination.check_profile, hallucination.check_translation

    def count_profile(listing, profile):
        calls.append(f"profile:{listing.external_id}")
        return real_profile(listing, profile)

    def count_translation(listing, profile, language, *rest):
        calls.append(f"{language}:{listing.external_id}")
        return real_translation(listing, profile, language, *rest)

    monkeypatch.setattr(hallucination, "check_profile", count_profile)
    monkeypatch.setattr(hallucination, "check_translation", count_translation)
    yield engine, calls
    engine.dispose()


def _violations(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(
            violations.c.external_id, violations.c.target, violations.c.rule, violations.c.field,
            violations.c.severity, violations.c.evidence)))


def test_unchanged_rerun_checks_nothing_and_keeps_findings(setup) -> None:
    engine, calls = setup
    first_p = hallucination.evaluate_profiles(engine, ORG)
    first_t = hallucination.evaluate_translations(engine, ORG)
    # the profile stage checked each answer before publishing it: the rules pass reuses that
    assert sorted(calls) == [f"de:id-{i}" for i in range(3)]
    assert first_p.checked == 3 and first_p.reused == 3 and first_t.checked == 3
    findings = _violations(engine)
    calls.clear()
    again_p = hallucination.evaluate_profiles(engine, ORG)
    again_t = hallucination.evaluate_translations(engine, ORG)
    assert calls == []
    assert (again_p.reused, again_t.reused) == (3, 3)
    for a, b in ((first_p, again_p), (first_t, again_t)):
        assert (a.checked, a.with_errors, a.with_warnings, a.by_rule) == (b.checked, b.with_errors, b.with_warnings,
                                                                           b.by_rule)
    assert _violations(engine) == findings


def test_changed_text_or_rules_are_checked_again(setup, monkeypatch) -> None:
    engine, calls = setup
    hallucination.evaluate_profiles(engine, ORG)
    hallucination.evaluate_translations(engine, ORG)
    with engine.begin() as conn:  # one translation's text changes, one goes away
        conn.execute(sa.update(translations).where(translations.c.external_id == "id-1").values(
            description="Bella1 ist ein Hund mit 7 Beinen."))
        conn.execute(sa.delete(translations).where(translations.c.external_id == "id-2"))
    calls.clear()
    report = hallucination.evaluate_translations(engine, ORG)
    assert calls == ["de:id-1"] and report.reused == 1
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(rule_checks.c.external_id).where(
            rule_checks.c.target == "de")).scalars()) == ["id-0", "id-1"]
    calls.clear()
    monkeypatch.setattr(hallucination, "RULES_VERSION", "test-bump")
    assert hallucination.evaluate_profiles(engine, ORG).reused == 0
    assert sorted(calls) == ["profile:id-0", "profile:id-1", "profile:id-2"]


def _contradicting_model(body: dict) -> Reply:
    """The stub's well-behaved answer with two fields that contradict (a WARN finding: the
    profile is published with it): shy and very social."""
    reply = model_like_responder(body)
    answer = json.loads(reply.content)
    if "confidence" in answer:
        answer.update(confidence="shy", sociability="very_social")
        reply.content = json.dumps(answer)
    return reply


def test_the_check_made_at_publication_equals_a_fresh_rules_pass(tmp_path: Path, monkeypatch) -> None:
    """Findings the profile stage stored when it published (here a WARN finding per
    profile) are those a forced rules pass finds, and the first pass reuses them."""
    engine = _normalized_shelter(tmp_path)
    with StubLLMServer(responder=_contradicting_model) as server:
        result = profile_organization(engine, ORG, LLMClient(_settings(server.api_base)), load_prompt_config(ORG))
    assert result.statuses == {"ok": 3}
    report = hallucination.evaluate_profiles(engine, ORG)
    assert (report.reused, report.with_warnings, report.by_rule) == (3, 3, {"internal_contradiction": 3})
    at_publication = [row[:5] for row in _violations(engine)]
    monkeypatch.setattr(hallucination, "RULES_VERSION", "test-bump")  # every profile checked again
    forced = hallucination.evaluate_profiles(engine, ORG)
    assert forced.reused == 0 and forced.by_rule == report.by_rule
    assert [row[:5] for row in _violations(engine)] == at_publication
    engine.dispose()
