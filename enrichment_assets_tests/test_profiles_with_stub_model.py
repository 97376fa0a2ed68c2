"""The profile stage with a real HTTP model (a local stub): incremental, budget, prompt edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.llm.client import LLMClient, LLMSettings
from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.pipeline.normalize import normalize_organization
from enrichment_assets.pipeline.profiles import profile_organization
from enrichment_assets.pipeline.raw import ingest_organization
from enrichment_assets.sources.demo import import_demo
from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
from enrichment_assets.storage.schema import llm_calls, llm_profiles
from enrichment_assets_tests.stub_llm_server import StubLLMServer, model_like_responder

REPO_PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


@pytest.fixture
def prompts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(REPO_PROMPTS, target)
    (target / "organizations").mkdir(exist_ok=True)
    monkeypatch.setenv("ENRICHMENT_PROMPTS_DIR", str(target))
    return target


def _statuses(engine: sa.Engine, org: str | None = None) -> dict[str, int]:
    query = sa.select(llm_profiles.c.status, sa.func.count()).group_by(llm_profiles.c.status)
    if org:
        query = query.where(llm_profiles.c.organization == org)
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def _settings(server: StubLLMServer, **overrides) -> LLMSettings:
    settings = LLMSettings(model="openai/stub-model", api_base=server.api_base, api_key="sk-stub-key-0000000000",
                           timeout_s=10, max_retries=2, backoff_initial_s=0.01, backoff_max_s=0.02,
                           input_cost_per_token=1e-6, output_cost_per_token=1e-6)
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def _normalized_demo(tmp_path: Path, org: str):
    """A migrated SQLite database holding ``org``'s demo listings, normalized; and its prompts."""
    landing = tmp_path / "landing"
    import_demo(landing)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade_to_head(engine)
    ingest_organization(engine, landing, org)
    normalize_organization(engine, org)
    return engine, load_prompt_config(org)


def test_budget_exhausted_listings_are_stored_and_retried_next_run(tmp_path: Path, prompts_dir: Path) -> None:
    org = "demo-tierheim-nord"
    engine, config = _normalized_demo(tmp_path, org)
    with StubLLMServer(responder=model_like_responder) as server:
        # one profile costs a few thousand tokens at 1e-6 USD: a tiny budget stops after the first
        first = profile_organization(engine, org, LLMClient(_settings(server, budget_usd=1e-4, max_concurrency=1)), config)
        requests_first = len(server.requests)
        assert sum(first.statuses.values()) == first.listings
        assert first.statuses.get("budget_exhausted", 0) >= 1 and first.statuses.get("ok", 0) >= 1
        assert requests_first == first.statuses["ok"], "no request may start once the budget is spent"
        with engine.connect() as conn:
            reason = conn.execute(sa.select(llm_profiles.c.reason)
                                  .where(llm_profiles.c.status == "budget_exhausted")).scalars().first()
        assert "budget" in reason

        second = profile_organization(engine, org, LLMClient(_settings(server)), config)
        assert second.statuses.get("budget_exhausted", 0) == 0
        assert second.reused == first.statuses["ok"], "ok profiles stand"
        assert len(server.requests) - requests_first == first.statuses["budget_exhausted"]

        third = profile_organization(engine, org, LLMClient(_settings(server)), config)
        assert third.calls == 0 and third.written == 0
    with engine.connect() as conn:
        ledger = conn.execute(sa.select(sa.func.count(), sa.func.sum(llm_calls.c.cost_usd))).one()
        keys = conn.execute(sa.select(llm_calls.c.model_used).distinct()).scalars().all()
        stored = " ".join(map(str, conn.execute(sa.select(llm_profiles)).all()))
    assert ledger[0] == len(server.requests) and ledger[1] > 0
    assert keys == ["stub-llm-1"], "the model that actually answered is recorded"
    assert "sk-stub-key" not in stored
    engine.dispose()


def test_failed_listings_keep_raw_output_and_are_retried(tmp_path: Path, prompts_dir: Path) -> None:
    from enrichment_assets_tests.stub_llm_server import Reply

    org = "demo-hope-hounds"
    engine, config = _normalized_demo(tmp_path, org)
    with StubLLMServer(default=Reply("I'd rather write a poem about this dog.")) as server:
        result = profile_organization(engine, org, LLMClient(_settings(server, repair_turns=1)), config)
    eligible = result.statuses["failed"]
    assert eligible >= 1 and "ok" not in result.statuses
    with engine.connect() as conn:
        raw, profile = conn.execute(sa.select(llm_profiles.c.raw_output, llm_profiles.c.profile)
                                    .where(llm_profiles.c.status == "failed")).first()
    assert raw == "I'd rather write a poem about this dog." and profile is None
    with StubLLMServer(responder=model_like_responder) as server:
        again = profile_organization(engine, org, LLMClient(_settings(server)), config)
    assert again.statuses.get("ok") == eligible and len(server.requests) == eligible
    engine.dispose()


def test_real_organizations_with_stub_model(enrichment_home: Path, prompts_dir: Path, shared_data: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Acceptance: every eligible dog profiled; rerun free; a prompt edit re-profiles one org only."""
    (prompts_dir / "default.yaml").write_text(
        (prompts_dir / "default.yaml").read_text(encoding="utf-8").replace(
            "target_languages: [de, fr, es]", "target_languages: []"), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["import", "petfinder", str(shared_data / "petfinder" / "train.csv"),
                                "--labels-dir", str(shared_data / "petfinder"), "--min-listings", "50"]).exit_code == 0
    assert runner.invoke(main, ["import", "tierheim-muenchen",
                                str(shared_data / "tierheim_muenchen" / "dog_crawler.db")]).exit_code == 0
    with StubLLMServer(responder=model_like_responder) as server:
        monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/stub-model")
        monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", "sk-stub-key-0000000000")
        monkeypatch.setenv("ENRICHMENT_LLM_MAX_CONCURRENCY", "8")
        first = runner.invoke(main, ["run"])
        assert first.exit_code == 0, first.output
        engine = create_db_engine(f"sqlite:///{enrichment_home / 'enrichment.db'}")
        statuses = _statuses(engine)
        assert statuses.get("failed", 0) == 0 and statuses.get("budget_exhausted", 0) == 0
        assert sum(statuses.values()) == 2532 + 69
        assert statuses["ok"] == len(server.requests) > 1000

        calls_before = len(server.requests)
        assert runner.invoke(main, ["run"]).exit_code == 0
        assert len(server.requests) == calls_before, "a second run makes no model calls"

        tierheim_ok = _statuses(engine, "tierheim-muenchen")["ok"]
        (prompts_dir / "organizations" / "tierheim-muenchen.yaml").write_text(
            "metadata:\n  version: tierheim-2\n  source_language: de\n", encoding="utf-8")
        assert runner.invoke(main, ["run"]).exit_code == 0
        assert len(server.requests) - calls_before == tierheim_ok, "only the edited organization is re-profiled"
        with engine.connect() as conn:
            versions = dict(conn.execute(
                sa.select(llm_profiles.c.organization, sa.func.max(llm_profiles.c.prompt_version))
                .group_by(llm_profiles.c.organization)).all())
        assert versions["tierheim-muenchen"].startswith("tierheim-2#")
        assert all(not v.startswith("tierheim-2") for k, v in versions.items() if k != "tierheim-muenchen")
        engine.dispose()
