"""Shared fixtures: isolated ENRICHMENT_HOME per test, PostgreSQL databases, real-data paths."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PG_ADMIN_URL = os.environ.get("ENRICHMENT_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def enrichment_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ENRICHMENT_HOME with its landing folder, SQLite database and Dagster home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ENRICHMENT_HOME", str(home))
    for name in ("ENRICHMENT_LANDING_DIR", "ENRICHMENT_DATABASE_URL", "DAGSTER_HOME",
                 "ENRICHMENT_LLM_MODEL", "ENRICHMENT_LLM_API_BASE", "ENRICHMENT_LLM_API_KEY",
                 "ENRICHMENT_LLM_FALLBACK_MODELS"):
        monkeypatch.delenv(name, raising=False)
    return home


def _pg_unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL required when CI is set: {reason}")
    pytest.skip(f"no PostgreSQL server at {PG_ADMIN_URL.split('@')[-1]}: {reason}")


@pytest.fixture(scope="module")
def postgres_databases():
    """Factory of new, empty PostgreSQL databases (URLs), dropped after the test module.

    Skips when no server answers on 127.0.0.1:5432, except with CI set: then it fails, so a
    green CI always means the PostgreSQL tests ran.
    """
    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection problem means no server
        _pg_unavailable(str(exc).splitlines()[0])
    created: list[str] = []

    def create() -> str:
        name = f"enrichment_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    try:
        yield create
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_databases) -> str:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    return postgres_databases()


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (real listings, read-only); skips when absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    """A migrated SQLite application database in ``tmp_path`` (modules may define their own)."""
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head

    eng = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    upgrade_to_head(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def lexicon_copy(tmp_path: Path) -> Path:
    """A byte-for-byte copy of the lexicon folder, in use for the test (``lexicon.use_directory``);
    the packaged lexicon is back in use afterwards. Callers clear their own digest caches."""
    from enrichment_assets import lexicon

    copy = tmp_path / "lex"
    copy.mkdir()
    for path in lexicon.LEXICON_DIR.glob("*.yaml"):
        (copy / path.name).write_bytes(path.read_bytes())
    lexicon.use_directory(copy)
    yield copy
    lexicon.use_directory(None)


def profiled_demo(folder: Path, organization: str):
    """A migrated SQLite database ``folder/app.db`` holding the demo ``organization`` ingested,
    normalized, profiled and rule-checked with the offline model (no scores, no translations).
    Returns (engine, client, prompt config); the caller disposes of the engine."""
    from enrichment_assets.llm.client import LLMClient, LLMSettings
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.hallucination import evaluate_profiles
    from enrichment_assets.pipeline.normalize import normalize_organization
    from enrichment_assets.pipeline.profiles import profile_organization
    from enrichment_assets.pipeline.raw import ingest_organization
    from enrichment_assets.sources.demo import import_demo
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head

    engine = create_db_engine(f"sqlite:///{folder / 'app.db'}")
    upgrade_to_head(engine)
    import_demo(folder / "landing")
    ingest_organization(engine, folder / "landing", organization)
    normalize_organization(engine, organization)
    client, config = LLMClient(LLMSettings(model="offline/rules")), load_prompt_config(organization)
    profile_organization(engine, organization, client, config)
    evaluate_profiles(engine, organization)
    return engine, client, config
