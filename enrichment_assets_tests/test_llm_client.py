"""LLMClient against a local OpenAI-compatible stub server: retries, parsing, repair, fallback."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from enrichment_assets.llm.client import LLMClient, LLMSettings, TokenBucket
from enrichment_assets.llm.parsing import StructuredOutputError, parse_structured, strip_code_fences
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer

GOOD = json.dumps({"language": "de", "tagline": "Ein treuer Freund", "description": "Bello ist ein ruhiger Hund, der gerne spazieren geht."})


class Answer(BaseModel):
    language: str
    tagline: str
    description: str


def _client(server: StubLLMServer, **overrides) -> LLMClient:
    settings = LLMSettings(model="openai/stub-model", api_base=server.api_base, api_key="sk-test-not-a-real-key-123456",
                           timeout_s=5, max_retries=3, backoff_initial_s=0.01, backoff_max_s=0.05,
                           input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    for key, value in overrides.items():
        setattr(settings, key, value)
    return LLMClient(settings)


def _call(client: LLMClient):
    return asyncio.run(client.complete_structured([{"role": "user", "content": "translate"}], Answer, task="translation"))


def test_rate_limit_then_success() -> None:
    with StubLLMServer([Reply(status=429, content="slow down"), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 2
    assert result.attempts == 2 and result.retries == 1
    assert result.model_used == "stub-model-1"
    assert result.input_tokens == 100 and result.output_tokens == 50
    assert result.cost_usd == pytest.approx(100 * 1e-6 + 50 * 2e-6)


def test_server_error_then_success_and_no_litellm_retries() -> None:
    with StubLLMServer([Reply(status=500), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 2
    assert server.requests[0]["path"].endswith("/chat/completions")


def test_bad_request_is_not_retried_and_key_not_leaked() -> None:
    with StubLLMServer([Reply(status=400, content="bad request for key sk-test-not-a-real-key-123456")],
                       default=Reply(GOOD)) as server:
        result = _call(_client(server))
    assert not result.ok and len(server.requests) == 1
    assert result.error_class == "BadRequestError"
    assert "sk-test-not-a-real-key" not in (result.error or "")


def test_timeout_is_retried_then_gives_up() -> None:
    with StubLLMServer(default=Reply(GOOD, delay_s=1.5)) as server:
        result = _call(_client(server, timeout_s=0.3, max_retries=1))
    assert not result.ok
    assert result.error_class in {"Timeout", "APIConnectionError"}
    assert len(server.requests) == 2


def test_retry_after_is_honoured() -> None:
    with StubLLMServer([Reply(status=429, headers={"retry-after": "1"}), Reply(status=429), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 3
    assert result.waits_s[0] == 1.0, "the server's Retry-After wins over the backoff"
    assert result.waits_s[1] <= 0.05, "without Retry-After the (tiny, configured) backoff applies"


def test_fenced_json_is_accepted() -> None:
    with StubLLMServer([Reply(f"```json\n{GOOD}\n```")]) as server:
        result = _call(_client(server))
    assert result.ok and result.value.language == "de"


def test_invalid_json_repaired_on_second_turn() -> None:
    with StubLLMServer([Reply("{not json"), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 2
    repair = server.requests[1]["body"]["messages"]
    assert repair[-2]["role"] == "assistant" and repair[-2]["content"] == "{not json"
    assert "did not validate" in repair[-1]["content"]


def test_schema_invalid_json_repaired_with_errors_sent_back() -> None:
    with StubLLMServer([Reply(json.dumps({"language": "de"})), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok
    assert "tagline" in server.requests[1]["body"]["messages"][-1]["content"]


def test_raw_output_kept_when_repairs_fail() -> None:
    with StubLLMServer(default=Reply("still not json")) as server:
        result = _call(_client(server, repair_turns=2))
    assert not result.ok and len(server.requests) == 3
    assert result.raw_output == "still not json" and result.error_class == "StructuredOutputError"


def test_fallback_model_used_after_primary_keeps_failing() -> None:
    with StubLLMServer([Reply(status=503)] * 3 + [Reply(GOOD, model="fallback-model-2")]) as server:
        client = _client(server, max_retries=2, fallback_models=["openai/fallback-model"])
        result = _call(client)
    assert result.ok and result.model_used == "fallback-model-2"
    assert len(server.requests) == 4
    assert [r["body"]["model"] for r in server.requests] == ["stub-model"] * 3 + ["fallback-model"]


def test_strip_fences_and_parse_errors_name_fields() -> None:
    assert strip_code_fences("```json\n{\"a\": 1}\n```") == '{"a": 1}'
    with pytest.raises(StructuredOutputError) as info:
        parse_structured('{"language": "de", "tagline": 3}', Answer)
    assert any(e.startswith("tagline") for e in info.value.errors)
    assert any(e.startswith("description") for e in info.value.errors)


def test_token_bucket_waits_instead_of_rejecting() -> None:
    now = [0.0]
    bucket = TokenBucket(rpm=60, clock=lambda: now[0])

    async def take(n: int) -> None:
        for _ in range(n):
            await bucket.acquire()

    asyncio.run(take(60))  # the full bucket
    assert bucket.tokens < 1
    now[0] += 2.0  # two seconds refill two tokens at 1/s
    asyncio.run(take(2))
    assert bucket.tokens < 1


def _calls(client: LLMClient, n: int):
    async def run():
        return [await client.complete_structured([{"role": "user", "content": f"t{i}"}], Answer,
                                                 task="translation") for i in range(n)]
    return asyncio.run(run())


def test_budget_stops_new_calls() -> None:
    # each call costs 100 * 1e-6 + 50 * 2e-6 = 0.0002 USD
    with StubLLMServer(default=Reply(GOOD)) as server:
        results = _calls(_client(server, budget_usd=0.00025, max_concurrency=1), 4)
    assert [r.ok for r in results] == [True, True, False, False]
    assert len(server.requests) == 2, "no request may start once the budget is reached"
    assert all(r.budget_exhausted and "run budget" in r.error for r in results[2:])


def test_daily_cap_counts_spend_of_earlier_runs() -> None:
    with StubLLMServer(default=Reply(GOOD)) as server:
        settings = _client(server).settings
        client = LLMClient(settings, already_spent_usd=5.0, daily_limit_usd=5.0)
        result = _call(client)
    assert result.budget_exhausted and len(server.requests) == 0
    assert "daily budget" in result.error


def test_circuit_breaker_stops_hammering_a_down_provider() -> None:
    with StubLLMServer(default=Reply(status=503)) as server:
        client = _client(server, max_retries=10, breaker_threshold=3, breaker_cooldown_s=600)
        first, second = _calls(client, 2)
    assert len(server.requests) == 3, "the circuit opens after 3 consecutive transient failures"
    assert not first.ok and first.error.startswith("provider_unavailable")
    assert not second.ok and second.attempts == 0 and second.error.startswith("provider_unavailable")


def test_open_circuit_goes_to_fallback() -> None:
    with StubLLMServer([Reply(status=503)] * 2, default=Reply(GOOD, model="fallback-model-2")) as server:
        client = _client(server, max_retries=10, breaker_threshold=2, fallback_models=["openai/fallback-model"])
        first, second = _calls(client, 2)
    assert first.ok and second.ok
    assert [r["body"]["model"] for r in server.requests] == ["stub-model"] * 2 + ["fallback-model"] * 2


def test_spent_today_counts_only_the_current_utc_day(tmp_path) -> None:
    from datetime import datetime

    import sqlalchemy as sa

    from enrichment_assets.pipeline.calls import spent_today_usd
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
    from enrichment_assets.storage.schema import llm_calls

    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade_to_head(engine)
    row = dict(organization="o", external_id="1", task="profile", status="ok", model_requested="m",
               model_used="m", prompt_version="v", input_tokens=1, output_tokens=1, latency_ms=1.0,
               attempts=1, error_class=None)
    with engine.begin() as conn:
        conn.execute(sa.insert(llm_calls), [
            {**row, "cost_usd": 0.5, "called_at": datetime(2026, 11, 20, 23, 59)},
            {**row, "cost_usd": 0.25, "called_at": datetime(2026, 11, 21, 0, 1)},
            {**row, "cost_usd": 0.125, "called_at": datetime(2026, 11, 21, 18, 0)},
        ])
    assert spent_today_usd(engine, now=datetime(2026, 11, 21, 19, 0)) == 0.375
    engine.dispose()
