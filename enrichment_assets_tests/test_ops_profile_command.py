"""``enrichment profile ORG EXTERNAL_ID [--model M] [--save]`` (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.storage.database import create_db_engine
from enrichment_assets.storage.schema import llm_calls, llm_profiles, quality_scores, translations
from enrichment_assets_tests.stub_llm_server import StubLLMServer, cat_claim_responder

ORG, LISTING = "demo-tierheim-nord", "TN-2026-001"  # Bruno: "Mit Katzen ist Bruno nicht verträglich."


def _count(home: Path, table: sa.Table) -> int:
    engine = create_db_engine(f"sqlite:///{home / 'enrichment.db'}")
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return n


@pytest.fixture
def demo(enrichment_home: Path) -> Path:
    assert CliRunner().invoke(main, ["import", "demo"]).exit_code == 0
    return enrichment_home


def test_profile_prints_every_stage_and_writes_nothing(demo: Path) -> None:
    result = CliRunner().invoke(main, ["profile", ORG, LISTING])
    assert result.exit_code == 0, result.output
    out = result.output
    for heading in ("rendered prompt", "answer", "parsed profile", "rule violations (0)", "quality", "translations"):
        assert heading in out, heading
    assert "<listing_data>" in out and "Mit Katzen ist Bruno nicht verträglich" in out
    assert '"good_with_cats": "no"' in out
    assert "grounding:" in out and "[de] ok" in out and "[fr] ok" in out
    for table in (llm_profiles, llm_calls, quality_scores, translations):
        assert _count(demo, table) == 0, table.name


def test_profile_save_stores_like_a_run_and_the_next_run_reuses_it(demo: Path) -> None:
    runner = CliRunner()
    saved = runner.invoke(main, ["profile", ORG, LISTING, "--save", "--json"])
    assert saved.exit_code == 0, saved.output
    report = json.loads(saved.output)
    assert report["saved"] and report["status"] == "ok" and report["quality"]["score"] > 0
    engine = create_db_engine(f"sqlite:///{demo / 'enrichment.db'}")
    with engine.connect() as conn:
        row = conn.execute(sa.select(llm_profiles).where(llm_profiles.c.external_id == LISTING)).mappings().one()
        assert row["status"] == "ok" and row["published_version"] == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(llm_profiles)).scalar_one() == 1
        assert conn.execute(sa.select(quality_scores.c.external_id)).scalars().all() == [LISTING]
        assert sorted(conn.execute(sa.select(translations.c.language)).scalars()) == ["de", "es", "fr"]
        assert conn.execute(sa.select(sa.func.count()).select_from(llm_calls)
                            .where(llm_calls.c.task == "profile")).scalar_one() == 1
    engine.dispose()
    plan = json.loads(runner.invoke(main, ["run", "--dry-run", "--json", "--organization", ORG]).output)
    assert LISTING not in plan["organizations"][0]["send"] and len(plan["organizations"][0]["send"]) == 6


def test_profile_with_a_stub_model_shows_violations_with_evidence(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with StubLLMServer(responder=cat_claim_responder) as server:
        monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", "sk-stub-key-0000000000")
        result = CliRunner().invoke(main, ["profile", ORG, LISTING, "--model", "openai/stub-model"])
        assert len(server.requests) == 1  # quarantined: not translated
    assert result.exit_code == 1, result.output
    assert "status: quarantined" in result.output
    assert "ERROR" in result.output and "good_with_cats" in result.output
    assert "openai/stub-model" in result.output and "sk-stub-key" not in result.output
    assert "blocked_by_check" in result.output
    assert _count(demo, llm_profiles) == 0


def test_profile_of_unknown_listing_fails_clearly(demo: Path) -> None:
    result = CliRunner().invoke(main, ["profile", ORG, "no-such-dog"])
    assert result.exit_code != 0 and "no-such-dog" in result.output
