"""``enrichment status [--json]`` (issue 12): coverage, success rate, cost, quality bands,
quarantined and needs-review counts, rejected lines and quarantined files."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.domain.quality import quality_band
from enrichment_assets.pipeline.status import operations_overview
from enrichment_assets.storage.database import create_db_engine
from enrichment_assets.storage.schema import llm_calls, quality_scores
from enrichment_assets_tests.stub_llm_server import StubLLMServer, cat_claim_responder, model_like_responder

ORG = "demo-tierheim-nord"


def test_quality_band_cut_offs() -> None:
    assert [quality_band(s) for s in (100, 85, 84.9, 70, 69.9, 50, 49.9, 0)] == [
        "excellent", "excellent", "good", "good", "fair", "fair", "poor", "poor"]


def test_status_json_after_a_limited_run_a_quarantine_and_a_broken_file(enrichment_home: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["import", "demo"]).exit_code == 0
    with StubLLMServer(responder=model_like_responder) as server:
        monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/stub-model")
        monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", "sk-stub-key-0000000000")
        monkeypatch.setenv("ENRICHMENT_LLM_INPUT_COST_PER_MTOK", "1.0")
        monkeypatch.setenv("ENRICHMENT_LLM_OUTPUT_COST_PER_MTOK", "2.0")
        run = runner.invoke(main, ["run", "--organization", ORG, "--limit", "3"])
        assert run.exit_code == 0, run.output
    # a scrape file with no valid line: quarantined (by the ingest of `profile --save`), its lines rejected
    (enrichment_home / "landing" / ORG / "2026-02-01.jsonl").write_text("not json\n{broken\n", encoding="utf-8")
    with StubLLMServer(responder=cat_claim_responder) as server:
        monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        assert runner.invoke(main, ["profile", ORG, "TN-2026-001", "--save"]).exit_code == 1  # quarantined

    result = runner.invoke(main, ["status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    (org,) = [o for o in status["organizations"] if o["organization"] == ORG]
    assert org["eligible"] == 7 and org["published"] == 3 and org["coverage"] == pytest.approx(3 / 7, abs=1e-4)
    assert org["attempted"] == 3 and org["ok"] == 2 and org["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert org["quarantined"] == 1
    assert org["quarantined_files"] == 1 and org["rejected_lines"] >= 2
    engine = create_db_engine(f"sqlite:///{enrichment_home / 'enrichment.db'}")
    with engine.connect() as conn:
        ledger = conn.execute(sa.select(sa.func.sum(llm_calls.c.cost_usd))).scalar_one()
        scored = conn.execute(sa.select(sa.func.count()).select_from(quality_scores)).scalar_one()
        review = conn.execute(sa.select(sa.func.count()).select_from(quality_scores)
                              .where(quality_scores.c.needs_review.is_(True))).scalar_one()
    assert ledger > 0
    assert org["cost_total_usd"] == pytest.approx(ledger, rel=1e-3) == org["cost_today_usd"]
    assert sum(org["quality"].values()) == scored and org["needs_review"] == review
    assert status["totals"]["quarantined_files"] == 1
    assert status["files_needing_attention"][0]["status"] == "quarantined"
    assert status["quality_bands"] == {"excellent": 85.0, "good": 70.0, "fair": 50.0, "poor": 0.0}

    tomorrow = operations_overview(engine, now=datetime.utcnow() + timedelta(days=1))
    (later,) = [o for o in tomorrow["organizations"] if o["organization"] == ORG]
    assert later["cost_today_usd"] == 0 and later["cost_total_usd"] == pytest.approx(ledger, rel=1e-3)
    engine.dispose()

    text = runner.invoke(main, ["status"])
    assert text.exit_code == 0
    assert "3/7" in text.output and "excellent" in text.output and "needs review" in text.output


def test_status_counts_unknown_cost_calls_apart(enrichment_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["import", "demo"]).exit_code == 0
    with StubLLMServer(responder=model_like_responder) as server:
        monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/stub-model")
        monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", "sk-stub-key-0000000000")
        assert runner.invoke(main, ["run", "--organization", ORG, "--limit", "1"]).exit_code == 0
    status = json.loads(runner.invoke(main, ["status", "--json"]).output)
    (org,) = [o for o in status["organizations"] if o["organization"] == ORG]
    assert org["cost_unknown_calls"] >= 1 and org["cost_total_usd"] == 0
    assert "unknown" in runner.invoke(main, ["status"]).output
