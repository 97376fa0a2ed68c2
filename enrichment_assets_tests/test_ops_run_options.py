"""``enrichment run --dry-run / --limit / --force`` (issue 12) against the local stub model."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.llm.prompts import LISTING_TAG
from enrichment_assets.pipeline.planning import allocate_limit
from enrichment_assets.storage.database import create_db_engine
from enrichment_assets.storage.schema import llm_calls, llm_profiles, metadata
from enrichment_assets_tests.stub_llm_server import StubLLMServer, model_like_responder


def profile_requests(server: StubLLMServer) -> int:
    """Requests of the profile task (their user message holds the listing data block, as in
    :func:`model_like_responder`)."""
    return sum(1 for request in server.requests
               if any(m.get("role") == "user" and f"<{LISTING_TAG}>" in (m.get("content") or "")
                      for m in request["body"].get("messages", [])))


@pytest.fixture
def stub_model(enrichment_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Demo listings in the landing folder and the stub server as the configured model."""
    assert CliRunner().invoke(main, ["import", "demo"]).exit_code == 0
    with StubLLMServer(responder=model_like_responder) as server:
        monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/stub-model")
        monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", "sk-stub-key-0000000000")
        yield server


def _row_counts(home: Path) -> dict[str, int]:
    engine = create_db_engine(f"sqlite:///{home / 'enrichment.db'}")
    with engine.connect() as conn:
        counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                  for t in metadata.sorted_tables}
    engine.dispose()
    return counts


def test_allocate_limit_is_round_robin_in_name_order() -> None:
    assert allocate_limit({"b": 5, "a": 1, "c": 2}, 5) == {"a": 1, "b": 2, "c": 2}
    assert allocate_limit({"b": 5, "a": 1}, 0) == {"a": 0, "b": 0}
    assert allocate_limit({"b": 2, "a": 1}, 99) == {"a": 1, "b": 2}
    assert allocate_limit({"a": 3}, None) == {"a": None}
    with pytest.raises(ValueError):
        allocate_limit({"a": 3}, -1)


def test_dry_run_sends_nothing_writes_nothing_and_shows_unknown_price(enrichment_home: Path, stub_model,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert len(stub_model.requests) == 0
    assert all(n == 0 for n in _row_counts(enrichment_home).values())
    assert not (enrichment_home / "dagster").exists() or not dg.DagsterInstance.from_config(
        str(enrichment_home / "dagster")).get_runs()
    for org in ("demo-hope-hounds", "demo-paws-rescue", "demo-tierheim-nord"):
        assert org in result.output
    assert "unknown" in result.output and "$0.0000" not in result.output  # openai/stub-model has no price

    plan = json.loads(runner.invoke(main, ["run", "--dry-run", "--json"]).output)
    assert plan["cost_usd"] is None and plan["price_known"] is False
    assert plan["send"] == 17 and plan["input_tokens"] > 17 * 100
    assert plan["output_tokens"] == 17 * 600  # the documented default: no ledger history yet

    monkeypatch.setenv("ENRICHMENT_LLM_INPUT_COST_PER_MTOK", "1.0")
    monkeypatch.setenv("ENRICHMENT_LLM_OUTPUT_COST_PER_MTOK", "2.0")
    priced = json.loads(runner.invoke(main, ["run", "--dry-run", "--json", "--limit", "3"]).output)
    assert priced["send"] == 3
    assert priced["cost_usd"] == pytest.approx(priced["input_tokens"] * 1e-6 + priced["output_tokens"] * 2e-6)
    assert [len(o["send"]) for o in priced["organizations"]] == [1, 1, 1]  # round-robin
    assert len(stub_model.requests) == 0


def test_limit_sends_exactly_n_then_the_rest_and_force_resends(enrichment_home: Path, stub_model) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["run", "--limit", "3"])
    assert first.exit_code == 0, first.output
    assert profile_requests(stub_model) == 3
    engine = create_db_engine(f"sqlite:///{enrichment_home / 'enrichment.db'}")
    with engine.connect() as conn:
        profiled = conn.execute(sa.select(sa.func.count()).select_from(llm_calls)
                                .where(llm_calls.c.task == "profile")).scalar_one()
    assert profiled == 3

    # the dry run now estimates output tokens from the ledger of this model and prompt
    plan = json.loads(runner.invoke(main, ["run", "--dry-run", "--json"]).output)
    assert plan["send"] == 14
    assert profile_requests(stub_model) == 3

    assert runner.invoke(main, ["run"]).exit_code == 0
    assert profile_requests(stub_model) == 17
    assert runner.invoke(main, ["run", "--organization", "demo-paws-rescue"]).exit_code == 0
    assert profile_requests(stub_model) == 17, "an up-to-date organization sends nothing"

    with engine.connect() as conn:
        rows_before = conn.execute(sa.select(sa.func.count()).select_from(llm_profiles)).scalar_one()
    forced = runner.invoke(main, ["run", "--organization", "demo-paws-rescue", "--force"])
    assert forced.exit_code == 0, forced.output
    assert profile_requests(stub_model) == 17 + 5  # its 5 eligible dogs again; 2 skips stay skips
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(llm_profiles)).scalar_one() == rows_before
    engine.dispose()
