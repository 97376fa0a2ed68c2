"""Issue 12: the review queue (`enrichment review list|show|approve|reject`) on the demo data,
with a quarantined profile planted by a stub model (as in test_ops_export.py)."""

from __future__ import annotations

import json

import shutil
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.pipeline.gates import stored_violation_report
from enrichment_assets.pipeline.hallucination import evaluate_profiles
from enrichment_assets.pipeline.review import review_queue
from enrichment_assets.storage.database import create_db_engine, utcnow
from enrichment_assets.storage.published import load_published
from enrichment_assets.storage.schema import llm_calls, llm_profiles, quality_scores, review_decisions
from enrichment_assets_tests.stub_llm_server import StubLLMServer, cat_claim_responder

ORG, LISTING = "demo-tierheim-nord", "TN-2026-001"
OK_ORG, OK_LISTING = "demo-paws-rescue", "PR-101"
ENV = ("ENRICHMENT_LANDING_DIR", "ENRICHMENT_DATABASE_URL", "DAGSTER_HOME", "ENRICHMENT_LLM_MODEL",
       "ENRICHMENT_LLM_API_BASE", "ENRICHMENT_LLM_API_KEY", "ENRICHMENT_LLM_FALLBACK_MODELS")


def _quarantine(runner: CliRunner, mp: pytest.MonkeyPatch) -> None:
    """Re-profile LISTING with a stub model whose answer breaks an ERROR rule (quarantined)."""
    with StubLLMServer(responder=cat_claim_responder) as server:
        mp.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        mp.setenv("ENRICHMENT_LLM_API_KEY", "sk-stub-key-0000000000")
        result = runner.invoke(main, ["profile", ORG, LISTING, "--model", "openai/stub-model", "--save"])
        assert result.exit_code == 1 and "quarantined" in result.output, result.output
    mp.delenv("ENRICHMENT_LLM_API_BASE")
    mp.delenv("ENRICHMENT_LLM_API_KEY")


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run on the offline model, then TN-2026-001 re-profiled into quarantine."""
    home = tmp_path_factory.mktemp("review") / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENRICHMENT_HOME", str(home))
        for name in ENV:
            mp.delenv(name, raising=False)
        runner = CliRunner()
        assert runner.invoke(main, ["import", "demo"]).exit_code == 0
        assert runner.invoke(main, ["run"]).exit_code == 0
        _quarantine(runner, mp)
    return home


@pytest.fixture
def home(base_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``base_home`` (tests change it), set as ENRICHMENT_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(base_home, copy)
    monkeypatch.setenv("ENRICHMENT_HOME", str(copy))
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return copy


def _engine(home: Path) -> sa.Engine:
    return create_db_engine(f"sqlite:///{home / 'enrichment.db'}")


def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _status_row(organization: str) -> dict:
    rows = json.loads(_cli("status", "--json"))["organizations"]
    return next(r for r in rows if r["organization"] == organization)


def _published_ids(engine: sa.Engine, organization: str) -> set[str]:
    return set(load_published(engine, [organization], ["en"])["external_id"])


def _profile_calls(engine: sa.Engine, organization: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(llm_calls.c.external_id).where(
            llm_calls.c.organization == organization, llm_calls.c.task == "profile")).scalars())


def test_list_and_show_name_the_listing_and_its_reasons(home: Path) -> None:
    listed = _cli("review", "list")
    assert f"{ORG} {LISTING}" in listed and "quarantined" in listed
    assert "Bruno liebt Katzen" in listed, "the violation's evidence is the reason"
    assert "1 listing(s) to review" in listed
    assert "review queue is empty for demo-paws-rescue" in _cli("review", "list", "--organization", OK_ORG)
    shown = _cli("review", "show", ORG, LISTING)
    assert ORG in shown and LISTING in shown and "latest attempt quarantined" in shown
    assert "listing text:" in shown and "rule violations:" in shown and "quality reasons" in shown
    assert "ERROR" in shown and "good_with_cats" in shown and "Bruno liebt Katzen" in shown
    assert '"tagline"' in shown, "the profile is printed"


def test_unknown_organization_or_listing_is_a_clear_error(home: Path) -> None:
    for command in ("show", "approve", "reject"):
        out = _cli("review", command, "no-such-org", "X-1", code=1)
        assert "unknown organization 'no-such-org'" in out
        out = _cli("review", command, ORG, "NO-SUCH-ID", code=1)
        assert "unknown external_id 'NO-SUCH-ID'" in out
    assert "nothing to approve" in _cli("review", "approve", OK_ORG, "PR-104", code=1)  # not_a_dog


def test_approving_a_quarantined_profile_publishes_it_and_the_gate_stops_counting_it(home: Path) -> None:
    engine = _engine(home)
    assert LISTING not in _published_ids(engine, ORG)
    before = stored_violation_report(engine, ORG)
    assert before.with_errors == 1 and {o["external_id"] for o in before.offending} == {LISTING}
    with engine.connect() as conn:
        old_version = conn.execute(sa.select(llm_profiles.c.published_version).where(
            llm_profiles.c.organization == ORG, llm_profiles.c.external_id == LISTING)).scalar_one()
    start = utcnow()
    out = _cli("review", "approve", ORG, LISTING, "--note", "the shelter confirmed it", "--reviewer", "anna")
    assert "approved by anna" in out and f"published as version {old_version + 1}" in out

    with engine.connect() as conn:
        decisions = conn.execute(sa.select(review_decisions)).mappings().all()
        row = conn.execute(sa.select(llm_profiles).where(
            llm_profiles.c.organization == ORG, llm_profiles.c.external_id == LISTING)).mappings().one()
    assert len(decisions) == 1
    d = decisions[0]
    assert (d["organization"], d["external_id"], d["decision"], d["reviewer"], d["note"]) == (
        ORG, LISTING, "approved", "anna", "the shelter confirmed it")
    assert isinstance(d["decided_at"], datetime) and start <= d["decided_at"] <= utcnow()
    assert d["attempt_status"] == "quarantined" and d["published_version"] == old_version + 1
    assert row["status"] == "ok" and row["published_version"] == old_version + 1
    assert row["published_profile"] == row["profile"] and row["published_profile"]["good_with_cats"] == "yes"

    # the rules run again on the published profile (as the next run does): still published, gate quiet
    evaluate_profiles(engine, ORG)
    assert stored_violation_report(engine, ORG).with_errors == 0
    published = load_published(engine, [ORG], ["en"])
    assert LISTING in set(published["external_id"])
    assert published.set_index("external_id").loc[LISTING, "profile"]["good_with_cats"] == "yes"
    # an approved profile is translated like any published one (not blocked by its rule)
    from enrichment_assets.llm.client import LLMClient, LLMSettings
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.translations import translate_organization

    translate_organization(engine, ORG, LLMClient(LLMSettings()), load_prompt_config(ORG), only={LISTING})
    languages = load_published(engine, [ORG]).query("external_id == @LISTING")["language"]
    assert set(languages) == {"en", "de", "fr", "es"}
    exported = _cli("export", "--organization", ORG, "--language", "en")
    assert f'"external_id": "{LISTING}"' in exported or f'"external_id":"{LISTING}"' in exported
    assert not [i for i in review_queue(engine, ORG) if i.external_id == LISTING]
    assert "Bruno liebt Katzen" not in _cli("review", "list")

    # the approval holds only for that attempt: a new quarantined answer is checked again
    with pytest.MonkeyPatch.context() as mp:
        _quarantine(CliRunner(), mp)
    assert LISTING not in _published_ids(engine, ORG)
    assert stored_violation_report(engine, ORG).with_errors == 1
    engine.dispose()


def test_rejected_profile_is_unpublished_and_sent_again_exactly_once(home: Path) -> None:
    engine = _engine(home)
    assert OK_LISTING in _published_ids(engine, OK_ORG)
    calls_before = _profile_calls(engine, OK_ORG)
    before = _status_row(OK_ORG)
    out = _cli("review", "reject", OK_ORG, OK_LISTING, "--note", "tagline invents a garden")
    assert "rejected by" in out and "next `enrichment run`" in out
    with engine.connect() as conn:
        d = conn.execute(sa.select(review_decisions)).mappings().one()
        status = conn.execute(sa.select(llm_profiles.c.status, llm_profiles.c.published_profile).where(
            llm_profiles.c.organization == OK_ORG, llm_profiles.c.external_id == OK_LISTING)).one()
    assert d["decision"] == "rejected" and d["note"] == "tagline invents a garden" and d["reviewer"]
    assert d["attempt_status"] == "ok" and d["published_version"] == 1
    assert status == ("rejected", None), "a rejected published profile is unpublished"
    assert OK_LISTING not in _published_ids(engine, OK_ORG)
    assert OK_LISTING not in _cli("export", "--organization", OK_ORG)
    after = _status_row(OK_ORG)
    assert after["review_rejected"] == 1
    assert (after["attempted"], after["ok"]) == (before["attempted"] - 1, before["ok"] - 1), \
        "a rejection waits for the next run: it is no failed attempt"

    _cli("run", "--organization", OK_ORG)
    assert _profile_calls(engine, OK_ORG)[len(calls_before):] == [OK_LISTING], "exactly that listing is sent again"
    assert OK_LISTING in _published_ids(engine, OK_ORG), "the new answer is published again"
    _cli("run", "--organization", OK_ORG)
    assert len(_profile_calls(engine, OK_ORG)) == len(calls_before) + 1, "sent once, not on every run"
    engine.dispose()


def test_rejecting_a_quarantined_attempt_keeps_it_out_of_the_export(home: Path) -> None:
    engine = _engine(home)
    _cli("review", "reject", ORG, LISTING, "--note", "cats never mentioned", "--reviewer", "ben")
    assert LISTING not in _published_ids(engine, ORG)
    assert "review queue is empty" in _cli("review", "list", "--organization", ORG)
    shown = _cli("review", "show", ORG, LISTING)
    assert "latest attempt rejected" in shown and "rejected by ben: cats never mentioned" in shown
    engine.dispose()


def test_needs_review_profile_is_queued_until_approved_and_queue_size_is_in_the_metadata(home: Path) -> None:
    engine = _engine(home)
    with engine.begin() as conn:
        conn.execute(sa.update(quality_scores).where(
            quality_scores.c.organization == OK_ORG, quality_scores.c.external_id == OK_LISTING)
            .values(needs_review=True, reasons=["generic: tagline is a cliche"]))
    items = review_queue(engine, OK_ORG)
    assert [(i.external_id, i.kind, i.reasons) for i in items] == [
        (OK_LISTING, "needs_review", ["generic: tagline is a cliche"])]
    assert "generic: tagline is a cliche" in _cli("review", "show", OK_ORG, OK_LISTING)
    _cli("review", "approve", OK_ORG, OK_LISTING)
    assert review_queue(engine, OK_ORG) == []
    assert OK_LISTING in _published_ids(engine, OK_ORG)

    _cli("run", "--organization", ORG, "--limit", "0")  # nothing sent: the quarantined attempt stays
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    events = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("quality_scores"), asset_partitions=[ORG]), limit=1).records
    metadata = events[0].asset_materialization.metadata
    assert metadata["review_queue"].value == 1, "the quarantined TN-2026-001 waits"
    engine.dispose()


def _migrate_down_and_up(engine: sa.Engine) -> None:
    from alembic import command

    from enrichment_assets.storage.database import _alembic_config, upgrade_to_head

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008_incremental")
    assert "review_decisions" not in sa.inspect(engine).get_table_names()
    assert "published_profiles" in sa.inspect(engine).get_view_names(), "the view without approvals is back"
    assert upgrade_to_head(engine) is True


def test_migration_0009_downgrades_to_0008_and_upgrades_with_approvals_kept_apart(home: Path) -> None:
    engine = _engine(home)
    _cli("review", "approve", ORG, LISTING)
    evaluate_profiles(engine, ORG)  # the approved profile now has stored ERROR violations
    assert LISTING in _published_ids(engine, ORG)
    engine.dispose()
    engine = _engine(home)
    _migrate_down_and_up(engine)
    assert LISTING not in _published_ids(engine, ORG), "the decisions are gone with the table"
    assert len(_published_ids(engine, ORG)) == 6
    engine.dispose()


def test_approval_in_the_view_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    from enrichment_assets.llm.client import LLMClient, LLMSettings
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.normalize import normalize_organization
    from enrichment_assets.pipeline.profiles import profile_organization
    from enrichment_assets.pipeline.raw import ingest_organization
    from enrichment_assets.pipeline.review import approve, reject
    from enrichment_assets.sources.demo import import_demo
    from enrichment_assets.storage.database import upgrade_to_head

    engine = create_db_engine(postgres_url)
    try:
        upgrade_to_head(engine)
        landing = tmp_path / "landing"
        import_demo(landing)
        ingest_organization(engine, landing, ORG)
        normalize_organization(engine, ORG)
        profile_organization(engine, ORG, LLMClient(LLMSettings()), load_prompt_config(ORG))
        # plant: the published profile of LISTING breaks an ERROR rule (as a stored violation says)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO violations (organization, external_id, target, rule, field, severity, "
                                 "evidence, detected_at) VALUES (:o, :e, 'profile', 'planted', 'tagline', 'error', "
                                 "'planted', now())"), {"o": ORG, "e": LISTING})
        assert LISTING not in _published_ids(engine, ORG)
        approve(engine, ORG, LISTING, reviewer="anna", note="fine")
        assert LISTING in _published_ids(engine, ORG)
        assert stored_violation_report(engine, ORG).with_errors == 0
        reject(engine, ORG, LISTING, reviewer="anna", note="not fine after all")
        assert LISTING not in _published_ids(engine, ORG)
        _migrate_down_and_up(engine)
    finally:
        engine.dispose()
