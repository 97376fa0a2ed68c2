"""LLMClient against a local OpenAI-compatible stub server: retries, back-pressure, breaker,
parsing, repair, fallback, structured-output degradation, budgets."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from enrichment_assets.llm.client import (
    BudgetConfigError, CircuitBreaker, LLMClient, LLMSettings, ModelEndpoint, ProviderUnavailable, RateLimiter,
    run_calls,
)
from enrichment_assets.llm.parsing import StructuredOutputError, parse_structured, strip_code_fences
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer

GOOD = json.dumps({"language": "de", "tagline": "Ein treuer Freund", "description": "Bello ist ein ruhiger Hund, der gerne spazieren geht."})


class Answer(BaseModel):
    language: str
    tagline: str
    description: str


def _settings(server: StubLLMServer, **overrides) -> LLMSettings:
    settings = LLMSettings(model="openai/stub-model", api_base=server.api_base, api_key="sk-test-not-a-real-key-123456",
                           timeout_s=5, max_retries=3, backoff_initial_s=0.01, backoff_max_s=0.05,
                           input_cost_per_token=1e-6, output_cost_per_token=2e-6, breaker_cooldown_s=0.2)
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def _client(server: StubLLMServer, **overrides) -> LLMClient:
    return LLMClient(_settings(server, **overrides))


def _calls(client: LLMClient, n: int, prefix: str = "t"):
    return run_calls(client, [[{"role": "user", "content": f"{prefix}{i}"}] for i in range(n)], Answer, "translation")


def _budget_calls(client: LLMClient, n: int):
    # one at a time, so the budget is checked between calls
    return [_calls(client, 1, prefix=f"b{i}-")[0] for i in range(n)]


def _call(client: LLMClient):
    return _calls(client, 1)[0]


def test_rate_limit_is_back_pressure_not_a_retry() -> None:
    with StubLLMServer([Reply(status=429, content="slow down"), Reply(GOOD)]) as server:
        result = _call(_client(server, max_retries=0))
    assert result.ok and len(server.requests) == 2, "a 429 is waited out even with no retries left"
    assert result.attempts == 2 and result.retries == 0 and result.rate_limited == 1
    assert result.model_used == "stub-model-1" and result.model_answered == "openai/stub-model"
    assert result.input_tokens == 100 and result.output_tokens == 50
    assert result.cost_usd == pytest.approx(100 * 1e-6 + 50 * 2e-6)


def test_server_error_then_success_and_no_litellm_retries() -> None:
    with StubLLMServer([Reply(status=500), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 2 and result.retries == 1
    assert server.requests[0]["path"].endswith("/chat/completions")


def test_bad_request_is_not_retried_and_key_not_leaked() -> None:
    with StubLLMServer([Reply(status=400, content="bad request for key sk-test-not-a-real-key-123456")],
                       default=Reply(GOOD)) as server:
        result = _call(_client(server))
    assert not result.ok and len(server.requests) == 1
    assert result.error_class == "BadRequestError"
    assert "sk-test-not-a-real-key" not in (result.error or "")


def test_timeout_is_retried_then_gives_up_with_the_real_error() -> None:
    with StubLLMServer(default=Reply(GOOD, delay_s=1.5)) as server:
        result = _call(_client(server, timeout_s=0.3, max_retries=1))
    assert not result.ok
    assert result.error_class in {"Timeout", "APIConnectionError"}
    assert len(server.requests) == 2, "two timeouts do not make a provider look down: retries are bounded"


def test_a_provider_that_always_times_out_fails_only_at_the_deadline() -> None:
    with StubLLMServer(default=Reply(GOOD, delay_s=1.0)) as server:
        result = _call(_client(server, timeout_s=0.1, max_retries=2, breaker_min_requests=3, deadline_s=2.0))
    assert not result.ok and result.error_class in {"Timeout", "APIConnectionError", "ProviderUnavailable"}
    assert len(server.requests) > 3, "while it looks down, the request keeps waiting past its retries"


def test_retry_after_is_honoured() -> None:
    with StubLLMServer([Reply(status=429, headers={"retry-after": "1"}), Reply(status=500), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 3
    assert result.waits_s[0] == 1.0, "the server's Retry-After wins over the backoff"
    assert result.waits_s[1] <= 0.05 + 0.01, "without Retry-After the (tiny, configured) backoff applies"


@pytest.mark.parametrize("text", [
    f"```json\n{GOOD}\n```",
    f"Here is the translation:\n```json\n{GOOD}\n```\nI hope this helps!",
    f"Sure. {GOOD} Let me know if you need more.",
    f'Notes {{"draft": true}} and the answer: {GOOD}',
])
def test_json_inside_prose_or_fences_is_accepted(text: str) -> None:
    with StubLLMServer([Reply(text)]) as server:
        result = _call(_client(server))
    assert result.ok and result.value.language == "de" and len(server.requests) == 1


def test_echoed_delimiters_are_rejected_and_repaired() -> None:
    echo = json.dumps({"language": "de", "tagline": "Ein treuer Freund",
                       "description": 'Bello ist ein Hund."}\n</profile_data>'})
    with StubLLMServer([Reply(echo), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 2
    assert "repeats the prompt" in server.requests[1]["body"]["messages"][-1]["content"]


def test_invalid_json_repaired_on_second_turn() -> None:
    with StubLLMServer([Reply("{not json"), Reply(GOOD)]) as server:
        result = _call(_client(server))
    assert result.ok and len(server.requests) == 2
    repair = server.requests[1]["body"]["messages"]
    assert repair[-2]["role"] == "assistant" and repair[-2]["content"] == "{not json"
    assert "did not validate" in repair[-1]["content"]


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
    assert result.model_answered == "openai/fallback-model" and result.fallback
    assert [r["body"]["model"] for r in server.requests] == ["stub-model"] * 3 + ["fallback-model"]


def test_fallback_on_its_own_server_with_its_own_key() -> None:
    with StubLLMServer(default=Reply(status=503)) as primary, StubLLMServer(default=Reply(GOOD)) as second:
        fallback = ModelEndpoint("openai/other-model", second.api_base, "fallback-key-abcdef")
        client = _client(primary, max_retries=1, fallback_models=[fallback])
        result = _call(client)
    assert result.ok and result.model_answered == "openai/other-model"
    assert len(primary.requests) == 2 and len(second.requests) == 1
    assert second.requests[0]["authorization"] == "Bearer fallback-key-abcdef"


def test_unsupported_response_format_degrades_and_is_remembered() -> None:
    def responder(body):
        fmt = (body.get("response_format") or {}).get("type")
        if fmt is not None:
            return Reply(status=400, content=f"response_format {fmt} is not supported by this model")
        return Reply(GOOD)

    with StubLLMServer(responder=responder) as server:
        client = _client(server, structured_output="json_schema")
        first, second = _budget_calls(client, 2)
    assert first.ok and second.ok
    formats = [(r["body"].get("response_format") or {}).get("type") for r in server.requests]
    assert formats[:3] == ["json_schema", "json_object", None]
    assert len(formats) == 3 + 1, "the prompt-only mode is remembered for the run"
    assert first.format_mode == "prompt"


def test_declared_json_schema_support_for_an_unknown_model() -> None:
    with StubLLMServer(default=Reply(GOOD)) as server:
        _call(_client(server))
        _call(_client(server, structured_output="json_schema"))
    auto, declared = (r["body"]["response_format"] for r in server.requests)
    assert auto == {"type": "json_object"}, "LiteLLM does not know the name: JSON mode"
    assert declared["type"] == "json_schema" and declared["json_schema"]["name"] == "Answer"


def test_strip_fences_and_parse_errors_name_fields() -> None:
    assert strip_code_fences("```json\n{\"a\": 1}\n```") == '{"a": 1}'
    with pytest.raises(StructuredOutputError) as info:
        parse_structured('{"language": "de", "tagline": 3}', Answer)
    assert any(e.startswith("tagline") for e in info.value.errors)
    assert any(e.startswith("description") for e in info.value.errors)


def test_rate_limiter_keeps_every_window_under_the_cap() -> None:
    # 20 requests per 2 s window (a 60 s window scaled down); the stub rejects beyond that
    with StubLLMServer(default=Reply(GOOD), rpm_cap=20, rpm_window_s=2.0) as server:
        client = _client(server, max_concurrency=50, requests_per_minute=None)
        limiter = RateLimiter(20, burst=5, period_s=2.0)
        from enrichment_assets.llm import client as client_module

        client_module._LIMITERS[(server.api_base, 20.0, 5)] = limiter
        client.settings.requests_per_minute = 20
        results = _calls(client, 45)
    assert all(r.ok for r in results)
    assert server.rejected_429 == 0, "no 429: the limiter never exceeds the cap in any window"
    assert server.max_in_window(2.0) <= 20
    assert limiter.burst == 1, "the burst is at most 5% of the cap"


def test_breaker_opens_on_a_sustained_rate_not_a_short_burst() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_rate=0.8, min_requests=10, window_s=60, cooldown_s=5, clock=lambda: now[0])
    for _ in range(3):  # each prompt fails twice then succeeds: 67% failures
        for failed in (True, True, False, True, True, False):
            breaker.record(failed)
    assert breaker.closed, "two failures in three is a burst pattern, not an outage"
    assert not breaker.looks_down(), "so a request whose retries are used up may fail"
    for _ in range(20):
        breaker.record(True, RuntimeError("connection refused"))
    assert breaker.state == breaker.OPEN and not breaker.ready()
    now[0] += 5
    assert breaker.ready(), "after the cool-down one probe goes out"
    assert not breaker.ready(), "only one probe at a time"
    breaker.record(False)
    assert breaker.closed and breaker.ready()


def test_an_outage_looks_down_before_the_window_opens() -> None:
    breaker = CircuitBreaker(failure_rate=0.8, min_requests=10, window_s=60, cooldown_s=5)
    for _ in range(20):
        breaker.record(False)
    for _ in range(10):
        breaker.record(True, RuntimeError("connection refused"))
    assert breaker.closed, "the window still holds the successes from before the outage"
    assert breaker.looks_down(), "but the last requests all failed: keep waiting, do not fail listings"


def test_breaker_forgets_failures_that_left_the_window() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_rate=0.8, min_requests=10, window_s=60, cooldown_s=5, clock=lambda: now[0])
    for _ in range(7):
        breaker.record(True, RuntimeError("connection refused"))
    now[0] += 61  # those seven failures are older than the window now
    for _ in range(2):
        breaker.record(True, RuntimeError("connection refused"))
    for _ in range(8):
        breaker.record(False)
    assert breaker.closed and breaker.failures == 2, "2 failures in 10 within the window"
    for _ in range(40):
        breaker.record(True, RuntimeError("connection refused"))
    assert breaker.state == breaker.OPEN


def test_breaker_waits_and_fails_only_at_the_deadline() -> None:
    breaker = CircuitBreaker(min_requests=1, cooldown_s=60)
    breaker.record(True, RuntimeError("connection refused"))

    async def wait():
        import time

        await breaker.wait_ready(time.monotonic() + 0.2)

    with pytest.raises(ProviderUnavailable, match="connection refused"):
        asyncio.run(wait())


def test_open_circuit_goes_to_fallback_then_primary_when_healthy() -> None:
    with StubLLMServer([Reply(status=503)], default=Reply(GOOD)) as server:
        client = _client(server, max_retries=0, breaker_min_requests=1, breaker_cooldown_s=60,
                         fallback_models=["openai/fallback-model"])
        first = _call(client)
        assert first.ok and first.fallback
        second = _calls(client, 1, prefix="u")[0]
    assert second.model_answered == "openai/fallback-model", "the primary's circuit is open: fallback first"
    assert [r["body"]["model"] for r in server.requests] == ["stub-model", "fallback-model", "fallback-model"]


def test_budget_stops_new_calls() -> None:
    # each call costs 100 * 1e-6 + 50 * 2e-6 = 0.0002 USD
    with StubLLMServer(default=Reply(GOOD)) as server:
        results = _budget_calls(_client(server, budget_usd=0.00025, max_concurrency=1), 4)
    assert [r.ok for r in results] == [True, True, False, False]
    assert len(server.requests) == 2, "no request may start once the budget is reached"
    assert all(r.budget_exhausted and "run budget" in r.error for r in results[2:])


def test_token_budget_and_unknown_price() -> None:
    with StubLLMServer(default=Reply(GOOD)) as server:
        with pytest.raises(BudgetConfigError, match="ENRICHMENT_LLM_TOKEN_BUDGET"):
            _client(server, input_cost_per_token=None, output_cost_per_token=None, budget_usd=1.0)
        client = _client(server, input_cost_per_token=None, output_cost_per_token=None, budget_usd=1.0,
                         token_budget=300)
        results = _budget_calls(client, 3)
    assert [r.ok for r in results] == [True, True, False]
    assert results[0].cost_usd is None, "an unknown price is stored as unknown, never as $0"
    assert "token budget" in results[2].error


def test_daily_cap_counts_spend_of_earlier_runs() -> None:
    with StubLLMServer(default=Reply(GOOD)) as server:
        client = LLMClient(_settings(server), already_spent_usd=5.0, daily_limit_usd=5.0)
        result = _call(client)
    assert result.budget_exhausted and len(server.requests) == 0
    assert "daily budget" in result.error


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
            {**row, "cost_usd": None, "called_at": datetime(2026, 11, 21, 18, 1)},
        ])
    assert spent_today_usd(engine, now=datetime(2026, 11, 21, 19, 0)) == 0.375
    engine.dispose()


def test_a_signal_while_an_answer_is_stored_is_delivered_after_it() -> None:
    """The SIGTERM race of the model stage: a signal raised inside ``on_result`` used to cut
    the storing of a paid answer in half; it now reaches the installed handler afterwards."""
    import signal

    from enrichment_assets.llm.client import STOP, _signals_deferred

    class Stop(Exception):
        pass

    def raising(_signo, _frame):
        raise Stop

    previous = signal.signal(signal.SIGTERM, raising)
    stored = []
    try:
        with pytest.raises(Stop):
            with _signals_deferred():
                signal.raise_signal(signal.SIGTERM)
                assert STOP.is_set(), "no new request starts while the answer is stored"
                stored.append("answer")  # the rest of the block still runs
        assert stored == ["answer"]
        assert signal.getsignal(signal.SIGTERM) is raising
    finally:
        signal.signal(signal.SIGTERM, previous)
        STOP.clear()


def test_on_result_raising_cancels_the_calls_not_yet_finished() -> None:
    class Stop(Exception):
        pass

    def on_result(index, result) -> None:
        raise Stop("storing failed")

    with StubLLMServer(default=Reply(GOOD, delay_s=0.05)) as server:
        client = _client(server, max_concurrency=1)
        conversations = [[{"role": "user", "content": f"c{i}"}] for i in range(20)]
        with pytest.raises(Stop):
            run_calls(client, conversations, Answer, "translation", on_result=on_result)
        sent = len(server.requests)
        assert _call(client).ok, "the call loop still works after the cancelled batch"
    assert sent < 5, f"the other calls were cancelled, not sent ({sent} requests)"


def test_litellm_prices_an_unmapped_model_as_we_do_and_others_still_see_it_unknown() -> None:
    from enrichment_assets.llm.client import CallResult, call_loop

    model = "openai/priced-stub-model"  # a name no other test uses: registration is per process
    with StubLLMServer(default=Reply(GOOD, usage=(120, 30))) as server:
        client = _client(server, model=model, input_cost_per_token=3e-6, output_cost_per_token=5e-6)
        result = CallResult(model_requested=model)
        messages = [{"role": "user", "content": "price me"}]
        response = call_loop().submit(client._request(client.endpoints[0], messages, "translation", Answer,
                                                      result)).result(timeout=30)
        unpriced = _client(server, model=model, input_cost_per_token=None, output_cost_per_token=None)
    assert result.cost_usd == pytest.approx(120 * 3e-6 + 30 * 5e-6)
    assert response._hidden_params["response_cost"] == pytest.approx(result.cost_usd), \
        "LiteLLM's own figure equals the one we record"
    assert result.model_used == "stub-model-1", "the model that answered is still recorded"
    assert unpriced.price(model) is None, "another client without a price must not charge the registered one"


def test_litellm_http_handler_setting_bypasses_the_openai_sdk_and_keeps_what_we_record(monkeypatch) -> None:
    from enrichment_assets.llm.client import LITELLM_HTTP_HANDLER_ENV

    monkeypatch.delenv(LITELLM_HTTP_HANDLER_ENV, raising=False)  # process-wide: unset again after the test
    with StubLLMServer([Reply(GOOD, model="stub-model-7", usage=(120, 30)),
                        Reply(status=429, content="slow down", headers={"retry-after-ms": "50"}),
                        Reply(GOOD, model="stub-model-7", usage=(120, 30))]) as server:
        through_sdk = _call(_client(server))
        client = _client(server, litellm_http_handler=True, max_retries=0)
        result = _call(client)
    agents = [r["user_agent"] or "" for r in server.requests]
    assert agents[0].startswith("AsyncOpenAI/"), "without the setting the OpenAI SDK sends the request"
    assert not any(a.startswith("AsyncOpenAI/") for a in agents[1:]), agents
    assert through_sdk.ok and result.ok
    assert result.rate_limited == 1 and result.retries == 0, "a 429 is still back-pressure, not a retry"
    assert result.model_used == "stub-model-7", "the model that answered is still recorded"
    assert (result.input_tokens, result.output_tokens) == (120, 30), "tokens of the answer (a 429 has none)"
    assert result.cost_usd == pytest.approx(120 * 1e-6 + 30 * 2e-6) == pytest.approx(through_sdk.cost_usd)


def test_answers_are_handled_with_a_short_switch_interval_then_it_is_restored() -> None:
    import sys

    from enrichment_assets.llm.client import ANSWER_SWITCH_INTERVAL_S

    before = sys.getswitchinterval()
    seen: list[float] = []
    with StubLLMServer(default=Reply(GOOD)) as server:
        results = run_calls(_client(server), [[{"role": "user", "content": f"s{i}"}] for i in range(3)], Answer,
                            "translation", on_result=lambda _i, _r: seen.append(sys.getswitchinterval()))
    assert [r.ok for r in results] == [True, True, True]
    assert len(seen) == 3 and all(v <= ANSWER_SWITCH_INTERVAL_S for v in seen)
    assert sys.getswitchinterval() == before
