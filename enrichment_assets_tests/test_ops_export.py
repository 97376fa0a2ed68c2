"""``enrichment export`` and the ``published_profiles`` view (issue 12), SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.llm.client import LLMClient, LLMSettings
from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.pipeline.export import read_export
from enrichment_assets.pipeline.hallucination import evaluate_profiles
from enrichment_assets.pipeline.normalize import normalize_organization
from enrichment_assets.pipeline.profiles import profile_organization
from enrichment_assets.pipeline.quality import score_organization
from enrichment_assets.pipeline.raw import ingest_organization
from enrichment_assets.pipeline.translations import translate_organization
from enrichment_assets.sources.demo import import_demo
from enrichment_assets.storage.database import _alembic_config, create_db_engine, upgrade_to_head
from enrichment_assets.storage.published import PUBLISHED_COLUMNS, load_published
from enrichment_assets.storage.schema import llm_profiles
from enrichment_assets_tests.stub_llm_server import StubLLMServer, cat_claim_responder

ORG, LISTING = "demo-tierheim-nord", "TN-2026-001"


@pytest.fixture(scope="module")
def exported_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run on the offline model, then TN-2026-001 re-profiled into quarantine."""
    home = tmp_path_factory.mktemp("export") / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENRICHMENT_HOME", str(home))
        for name in ("ENRICHMENT_LANDING_DIR", "ENRICHMENT_DATABASE_URL", "DAGSTER_HOME", "ENRICHMENT_LLM_MODEL",
                     "ENRICHMENT_LLM_API_BASE", "ENRICHMENT_LLM_API_KEY", "ENRICHMENT_LLM_FALLBACK_MODELS"):
            mp.delenv(name, raising=False)
        runner = CliRunner()
        assert runner.invoke(main, ["import", "demo"]).exit_code == 0
        assert runner.invoke(main, ["run"]).exit_code == 0
        with StubLLMServer(responder=cat_claim_responder) as server:
            mp.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
            mp.setenv("ENRICHMENT_LLM_API_KEY", "sk-stub-key-0000000000")
            result = runner.invoke(main, ["profile", ORG, LISTING, "--model", "openai/stub-model", "--save"])
            assert result.exit_code == 1 and "quarantined" in result.output, result.output
    return home


def _export(home: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> CliRunner:
    monkeypatch.setenv("ENRICHMENT_HOME", str(home))
    result = CliRunner().invoke(main, ["export", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_round_trips_through_pandas_without_quarantined_profiles(
        exported_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    engine = create_db_engine(f"sqlite:///{exported_home / 'enrichment.db'}")
    expected = load_published(engine)
    with engine.connect() as conn:
        quarantined = conn.execute(sa.select(llm_profiles.c.external_id).where(
            llm_profiles.c.status == "quarantined")).scalars().all()
        published = conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
            llm_profiles.c.published_profile.is_not(None))).scalar_one()
    engine.dispose()
    assert LISTING in quarantined
    out = tmp_path / f"profiles.{fmt}"
    _export(exported_home, monkeypatch, "--format", fmt, "--out", str(out))
    back = read_export(out, fmt)
    assert list(back.columns) == PUBLISHED_COLUMNS
    assert len(back) == len(expected) > 0
    assert not set(back["external_id"]) & set(quarantined), "no quarantined profile is exported"
    # still published in the table (a quarantined attempt never replaces it), but not exported
    assert (back["language"] == "en").sum() == published - 1
    assert set(back["language"]) == {"en", "de", "fr", "es"}
    for column in ("organization", "external_id", "language", "display_name", "tagline", "description", "model",
                   "prompt_version"):
        assert back[column].astype(str).tolist() == expected[column].astype(str).tolist(), column
    assert back["profile"].tolist() == expected["profile"].tolist()
    assert back["facts"].tolist() == expected["facts"].tolist()
    assert back["quality_score"].tolist() == pytest.approx(expected["quality_score"].tolist())
    de = back[back["language"] == "de"]
    assert (de["description"] != back[back["language"] == "en"]["description"].iloc[0]).all()
    assert all(isinstance(p["tagline"], str) and p["description"] for p in back["profile"])


def test_export_filters_by_organization_and_language(exported_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _export(exported_home, monkeypatch, "--organization", "demo-paws-rescue", "--language", "de").output
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert rows and {r["organization"] for r in rows} == {"demo-paws-rescue"}
    assert {r["language"] for r in rows} == {"de"}
    assert all(r["translation_model"] == "offline/rules" and r["display_name"] for r in rows)
    assert all(isinstance(r["facts"], dict) and r["facts"]["external_id"] == r["external_id"] for r in rows)


def test_published_profiles_view_on_postgres_and_downgrade(postgres_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(postgres_url)
    try:
        upgrade_to_head(engine)
        landing = tmp_path / "landing"
        import_demo(landing)
        ingest_organization(engine, landing, ORG)
        normalize_organization(engine, ORG)
        config = load_prompt_config(ORG)
        client = LLMClient(LLMSettings())
        profile_organization(engine, ORG, client, config)
        evaluate_profiles(engine, ORG)
        score_organization(engine, ORG, config.cliches)
        translate_organization(engine, ORG, client, config)
        frame = load_published(engine, [ORG], ["en"])
        assert len(frame) == 7 and frame["quality_score"].notna().all()
        assert frame.loc[frame["external_id"] == LISTING, "display_name"].item() == "Bruno"
        assert isinstance(frame["profile"].iloc[0], dict)
        assert len(load_published(engine, [ORG])) == 7 * 4
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006_model_stage")
        assert "published_profiles" not in sa.inspect(engine).get_view_names()
        assert upgrade_to_head(engine) is True
        assert len(load_published(engine, [ORG])) == 7 * 4
    finally:
        engine.dispose()


def test_view_is_empty_before_anything_is_published(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade_to_head(engine)
    frame = load_published(engine)
    assert frame.empty and list(frame.columns) == PUBLISHED_COLUMNS
    assert isinstance(frame, pd.DataFrame)
    engine.dispose()


def test_a_later_batch_migration_on_sqlite_keeps_the_view_working(tmp_path: Path) -> None:
    """A migration after 0007 that rebuilds llm_profiles (Alembic batch mode on SQLite) must
    not fail on the view that names it (env.py turns on legacy_alter_table)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from enrichment_assets.storage.database import allow_renames_under_views

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_db_engine(url)
    upgrade_to_head(engine)
    engine.dispose()  # a new connection: the pragma lives per connection
    engine = create_db_engine(url)
    with engine.begin() as conn:
        with pytest.raises(sa.exc.OperationalError, match="error in view published_profiles"):
            with conn.begin_nested():
                with Operations(MigrationContext.configure(conn)).batch_alter_table(
                        "llm_profiles", recreate="always") as batch:
                    batch.add_column(sa.Column("later_column", sa.Integer))
        allow_renames_under_views(conn)
        ops = Operations(MigrationContext.configure(conn))
        with ops.batch_alter_table("llm_profiles", recreate="always") as batch:
            batch.add_column(sa.Column("later_column", sa.Integer))
    assert "later_column" in {c["name"] for c in sa.inspect(engine).get_columns("llm_profiles")}
    assert load_published(engine).empty  # the view still reads the rebuilt table
    engine.dispose()
