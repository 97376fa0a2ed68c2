"""``enrichment run`` skips organizations whose inputs are those of their last complete run
(issue 11): no Dagster run, no model call; anything that can change the outcome runs again."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main, run_organizations
from enrichment_assets.pipeline.freshness import fingerprints, unchanged
from enrichment_assets.sources.landing import ScrapeFile
from enrichment_assets.storage.database import create_db_engine
from enrichment_assets.storage.schema import llm_profiles, run_fingerprints
from enrichment_assets_tests.test_ops_run_options import profile_requests, stub_model  # noqa: F401 (fixture)

ORGS = ["demo-hope-hounds", "demo-paws-rescue", "demo-tierheim-nord"]


def _runs(home: Path) -> int:
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        return instance.get_runs_count()
    finally:
        instance.dispose()


def _engine(home: Path) -> sa.Engine:
    return create_db_engine(f"sqlite:///{home / 'enrichment.db'}")


def _ran(outcome) -> list[str]:
    return sorted(o for o, result in outcome.items() if not result.unchanged)


def test_fingerprint_changes_with_each_input_and_unchanged_is_conservative() -> None:
    file = ScrapeFile("a", Path("/l/a/1.jsonl"), "s" * 64, size=10, mtime_ns=5)
    base = fingerprints(["a", "b"], [file], {"a": {"v": 1}}, {}, {"model": "m"})
    assert base == fingerprints(["a", "b"], [file], {"a": {"v": 1}}, {}, {"model": "m"})
    assert base["a"] != base["b"]
    touched = ScrapeFile("a", file.path, file.sha256, size=10, mtime_ns=6)
    assert fingerprints(["a"], [touched], {"a": {"v": 1}}, {}, {"model": "m"})["a"] != base["a"]
    assert fingerprints(["a"], [file], {"a": {"v": 2}}, {}, {"model": "m"})["a"] != base["a"]
    assert fingerprints(["a"], [file], {"a": {"v": 1}}, {"a": (1, 7)}, {"model": "m"})["a"] != base["a"]
    assert fingerprints(["a"], [file], {"a": {"v": 1}}, {}, {"model": "n"})["a"] != base["a"]

    from datetime import datetime
    at = datetime(2026, 1, 1)
    recorded = {"a": (base["a"], "r1", at), "b": ("other", "r1", at)}
    assert unchanged(base, recorded, set()) == ["a"]
    assert unchanged(base, recorded, {"a"}) == []
    assert unchanged(base, recorded, set(), foreign_run_after=datetime(2026, 1, 2)) == []
    assert unchanged(base, recorded, set(), foreign_run_after=datetime(2025, 12, 31)) == ["a"]


def test_unchanged_rerun_launches_no_run_and_force_runs_all(enrichment_home: Path, stub_model) -> None:  # noqa: F811
    runner = CliRunner()
    first = runner.invoke(main, ["run"])
    assert first.exit_code == 0, first.output
    runs, requests = _runs(enrichment_home), len(stub_model.requests)
    assert runs >= 1 and profile_requests(stub_model) == 17
    engine = _engine(enrichment_home)
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(run_fingerprints.c.organization)).scalars()) == ORGS
    engine.dispose()

    again = runner.invoke(main, ["run"])
    assert again.exit_code == 0, again.output
    assert "unchanged: 3 organization(s)" in again.output
    assert _runs(enrichment_home) == runs
    assert len(stub_model.requests) == requests  # no model call

    forced = run_organizations(show_progress=False, force=True)
    assert _ran(forced) == ORGS and _runs(enrichment_home) > runs
    assert _ran(run_organizations(show_progress=False)) == []
    limited = run_organizations(show_progress=False, limit=0)
    assert _ran(limited) == ORGS  # --limit bypasses the skip and records nothing
    assert _ran(run_organizations(show_progress=False)) == ORGS


def test_each_changed_input_runs_its_organization_again(enrichment_home: Path, stub_model,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"  # a prompts folder of its own (the folder is a setting)
    shutil.copytree(Path(__file__).resolve().parents[1] / "prompts", prompts)
    monkeypatch.setenv("ENRICHMENT_PROMPTS_DIR", str(prompts))
    assert _ran(run_organizations(show_progress=False)) == ORGS
    assert _ran(run_organizations(show_progress=False)) == []

    # a scrape file with new content: only its organization
    scrape = next((enrichment_home / "landing" / "demo-paws-rescue").glob("*.jsonl"))
    scrape.write_text(scrape.read_text().replace("Biscuit", "Biscuits"))
    assert _ran(run_organizations(show_progress=False)) == ["demo-paws-rescue"]
    assert _ran(run_organizations(show_progress=False)) == []

    # a review decision: only its organization
    engine = _engine(enrichment_home)
    with engine.connect() as conn:
        listing = conn.execute(sa.select(llm_profiles.c.external_id).where(
            llm_profiles.c.organization == "demo-hope-hounds", llm_profiles.c.status == "ok")).scalars().first()
    result = CliRunner().invoke(main, ["review", "reject", "demo-hope-hounds", listing, "--note", "test"])
    assert result.exit_code == 0, result.output
    assert _ran(run_organizations(show_progress=False)) == ["demo-hope-hounds"]
    assert _ran(run_organizations(show_progress=False)) == []

    # a rollback (state changed outside a run, not a fingerprint input): only its organization
    result = CliRunner().invoke(main, ["rollback", "--organization", "demo-paws-rescue"])
    assert result.exit_code == 0, result.output
    assert _ran(run_organizations(show_progress=False)) == ["demo-paws-rescue"]
    assert _ran(run_organizations(show_progress=False)) == []

    # a listing whose latest attempt failed: only its organization
    with engine.begin() as conn:
        conn.execute(sa.update(llm_profiles).where(llm_profiles.c.organization == "demo-tierheim-nord")
                     .values(status="failed"))
    engine.dispose()
    outcome = run_organizations(show_progress=False)
    assert _ran(outcome) == ["demo-tierheim-nord"]
    assert _ran(run_organizations(show_progress=False)) == []

    # an organization's prompt config: only it
    (prompts / "organizations" / "demo-paws-rescue.yaml").write_text("min_source_chars: 120\n")
    assert _ran(run_organizations(show_progress=False)) == ["demo-paws-rescue"]
    assert _ran(run_organizations(show_progress=False)) == []

    # a setting: everyone
    monkeypatch.setenv("ENRICHMENT_SUCCESS_RATE_FLOOR", "0.4")
    assert _ran(run_organizations(show_progress=False)) == ORGS
    assert _ran(run_organizations(show_progress=False)) == []
