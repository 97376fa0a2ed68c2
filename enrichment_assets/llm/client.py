"""Calls to any LiteLLM model: throttling, retries, structured output, accounting.

No Dagster here; :class:`enrichment_assets.resources.llm.LLMResource` builds an
:class:`LLMClient` from its config. Rules, from ``../shared/FACTS.md``:

- LiteLLM's own retries are off (``num_retries=0``, ``max_retries=0``): its ``num_retries``
  multiplies requests and retries 400/401 too. Transient errors (rate limit, timeout,
  connection, 5xx) are retried here with tenacity: exponential backoff with jitter, and a
  server's ``Retry-After`` honoured. Every request carries ``timeout=`` (LiteLLM's default
  is 6000 s).
- ``litellm`` is imported lazily with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so importing
  this module neither costs 3 s nor fetches the cost map from the internet.
- API keys are passed to LiteLLM per call and never logged, stored or put into errors.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from enrichment_assets.llm.parsing import StructuredOutputError, parse_structured

T = TypeVar("T", bound=BaseModel)


def import_litellm():
    """Import litellm with the local cost map and register the offline provider."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    from enrichment_assets.llm.offline import register_offline_provider

    register_offline_provider()
    return litellm


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: 429, timeouts, connection errors, 5xx.

    Never for 400 (bad request, context window), 401/403 (auth) or 404.
    """
    litellm = import_litellm()
    if isinstance(exc, (litellm.BadRequestError, litellm.AuthenticationError,
                        litellm.PermissionDeniedError, litellm.NotFoundError)):
        return False
    if isinstance(exc, (litellm.RateLimitError, litellm.Timeout, litellm.APIConnectionError,
                        litellm.InternalServerError, litellm.ServiceUnavailableError)):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds from a ``Retry-After`` header (or ``retry-after-ms``) on ``exc``, if any."""
    headers: Any = {}
    for candidate in (getattr(exc, "litellm_response_headers", None), getattr(exc, "headers", None),
                      getattr(getattr(exc, "response", None), "headers", None)):
        if candidate:
            headers = candidate
            break
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000.0
        value = headers.get("retry-after") or headers.get("Retry-After")
        if value is not None:
            return max(0.0, float(value))
    except (TypeError, ValueError):
        return None
    return None


_SECRET_RE = re.compile(r"(sk-[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,}|Bearer\s+\S+)")


def redact(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` with the given secrets and anything key-shaped replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_RE.sub("***", text)


class TokenBucket:
    """Requests-per-minute limiter that waits for a token (never rejects).

    Capacity ``rpm`` tokens, refilled continuously at ``rpm / 60`` tokens per second.
    """

    def __init__(self, rpm: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rpm / 60.0
        self.capacity = max(1.0, float(rpm))
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class CallResult:
    """Outcome of one structured call (all attempts, repair turns and fallbacks).

    ``value`` is the validated object or ``None``; on failure ``error`` and
    ``error_class`` say why and ``raw_output`` keeps the last completion text, if any.
    Tokens and cost add up every request made; ``cost_usd`` is ``None`` when the model has
    no known price and none is configured. ``waits_s`` lists the backoff before each retry.
    """

    value: BaseModel | None = None
    model_requested: str = ""
    model_used: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    latency_ms: float = 0.0
    attempts: int = 0
    retries: int = 0
    waits_s: list[float] = field(default_factory=list)
    budget_exhausted: bool = False
    error: str | None = None
    error_class: str | None = None
    raw_output: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.value is not None


@dataclass
class LLMSettings:
    """Plain settings of :class:`LLMClient` (see LLMResource for their environment names)."""

    model: str = "offline/rules"
    fallback_models: list[str] = field(default_factory=list)
    api_base: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 4
    max_concurrency: int = 4
    requests_per_minute: float | None = None
    temperature: dict[str, float] = field(default_factory=lambda: {"profile": 0.2, "translation": 0.0})
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    repair_turns: int = 2
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    budget_usd: float | None = None
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 60.0


class Budget:
    """Spend limit of one run in USD: once ``spent >= limit_usd`` no new request starts.

    ``already_spent_usd`` counts spend made before this run that the limit also covers
    (the daily cap). Requests in flight when the limit is reached still finish, so a run
    may overshoot by at most ``max_concurrency`` requests.
    """

    def __init__(self, limit_usd: float | None, already_spent_usd: float = 0.0):
        self.limit_usd = limit_usd
        self.spent_usd = already_spent_usd

    @property
    def exhausted(self) -> bool:
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd

    def add(self, cost_usd: float | None) -> None:
        self.spent_usd += cost_usd or 0.0


class CircuitBreaker:
    """Stops calling a model after ``threshold`` consecutive transient failures.

    The circuit stays open for ``cooldown_s`` seconds; then one request may try again
    (half-open) and a success closes it.
    """

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic):
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures: dict[str, int] = {}
        self.open_until: dict[str, float] = {}

    def is_open(self, model: str) -> bool:
        return self.clock() < self.open_until.get(model, float("-inf"))

    def record(self, model: str, transient_failure: bool) -> None:
        if not transient_failure:
            self.failures[model] = 0
            return
        self.failures[model] = self.failures.get(model, 0) + 1
        if self.failures[model] >= self.threshold:
            self.open_until[model] = self.clock() + self.cooldown_s
            self.failures[model] = 0


class ProviderUnavailable(RuntimeError):
    """Every model's circuit is open: the provider is treated as down for now."""


class BudgetExhausted(RuntimeError):
    """The run's (or day's) budget is spent: no new request may start."""


class LLMClient:
    """Asynchronous structured-output calls through LiteLLM.

    One client per run: it owns the concurrency semaphore and the rate limiter.
    """

    def __init__(self, settings: LLMSettings, already_spent_usd: float = 0.0,
                 daily_limit_usd: float | None = None):
        self.settings = settings
        self._semaphore: asyncio.Semaphore | None = None
        self._bucket: TokenBucket | None = None
        self.budget = Budget(settings.budget_usd)
        #: the day's cap across runs, pre-charged with spend already stored today
        self.daily_budget = Budget(daily_limit_usd, already_spent_usd)
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown_s)

    def _throttles(self) -> tuple[asyncio.Semaphore, TokenBucket | None]:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(max(1, self.settings.max_concurrency))
            if self.settings.requests_per_minute:
                self._bucket = TokenBucket(self.settings.requests_per_minute)
        return self._semaphore, self._bucket

    def _response_format(self, model: str, schema: type[BaseModel]) -> dict[str, Any]:
        litellm = import_litellm()
        try:
            supports_schema = model.startswith("offline/") or litellm.supports_response_schema(model=model)
        except Exception:  # noqa: BLE001 - unknown model: fall back to JSON mode
            supports_schema = False
        if supports_schema:
            return {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
            }
        return {"type": "json_object"}

    def _cost(self, response: Any, model: str) -> float | None:
        litellm = import_litellm()
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        s = self.settings
        if s.input_cost_per_token is not None or s.output_cost_per_token is not None:
            return prompt_tokens * (s.input_cost_per_token or 0.0) + completion_tokens * (s.output_cost_per_token or 0.0)
        try:
            return float(litellm.completion_cost(completion_response=response, model=model))
        except Exception:  # noqa: BLE001 - model without a known price
            return None

    def _wait(self) -> Callable[[RetryCallState], float]:
        backoff = wait_random_exponential(multiplier=self.settings.backoff_initial_s,
                                          max=self.settings.backoff_max_s)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hinted = retry_after_seconds(exc) if exc else None
            return hinted if hinted is not None else backoff(state)

        return wait

    async def _request(self, model: str, messages: list[dict[str, str]], task: str,
                       schema: type[BaseModel], result: CallResult) -> Any:
        """One logical request with transient-error retries; updates ``result`` counters."""
        litellm = import_litellm()
        semaphore, bucket = self._throttles()
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "timeout": s.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
            "response_format": self._response_format(model, schema),
        }
        if task in s.temperature:
            kwargs["temperature"] = s.temperature[task]
        if s.api_base and not model.startswith("offline/"):
            kwargs["api_base"] = s.api_base
        if s.api_key and not model.startswith("offline/"):
            kwargs["api_key"] = s.api_key
        retrying = AsyncRetrying(
            stop=stop_after_attempt(1 + max(0, s.max_retries)),
            wait=self._wait(),
            retry=retry_if_exception(is_transient),
            before_sleep=lambda state: result.waits_s.append(state.next_action.sleep),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with semaphore:
                    if self.budget.exhausted or self.daily_budget.exhausted:
                        raise BudgetExhausted(self.budget_message())
                    if self.breaker.is_open(model):
                        raise ProviderUnavailable(f"circuit open for {model} after repeated transient failures")
                    if bucket is not None:
                        await bucket.acquire()
                    result.attempts += 1
                    if attempt.retry_state.attempt_number > 1:
                        result.retries += 1
                    started = time.perf_counter()
                    try:
                        response = await litellm.acompletion(**kwargs)
                    except Exception as exc:
                        self.breaker.record(model, is_transient(exc))
                        raise
                    finally:
                        result.latency_ms += (time.perf_counter() - started) * 1000.0
                    self.breaker.record(model, False)
                usage = getattr(response, "usage", None)
                result.input_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                result.output_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                cost = self._cost(response, model)
                self.budget.add(cost)
                self.daily_budget.add(cost)
                result.cost_usd = None if (cost is None or result.cost_usd is None) else result.cost_usd + cost
                result.model_used = getattr(response, "model", None) or model
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    def budget_message(self) -> str:
        """Which budget is spent, with limit and spend (for logs and stored reasons)."""
        if self.budget.exhausted:
            return f"run budget of ${self.budget.limit_usd:.4f} reached (spent ${self.budget.spent_usd:.4f})"
        if not self.daily_budget.exhausted:
            return f"within budget (spent ${self.budget.spent_usd:.4f} this run)"
        return (f"daily budget of ${self.daily_budget.limit_usd:.4f} reached "
                f"(spent ${self.daily_budget.spent_usd:.4f} today, UTC)")

    async def complete_structured(self, messages: list[dict[str, str]], schema: type[T],
                                  task: str = "profile") -> CallResult:
        """Ask for a ``schema`` object; repair turns on validation errors; fallbacks on failure.

        The primary model is tried first; when it fails (after its transient retries, or
        with invalid output after the repair turns) each fallback model is tried in order.
        Models whose circuit is open are skipped. When the run's or the day's budget is
        spent, no request starts and the result has ``budget_exhausted`` set. Never raises
        for model errors: the :class:`CallResult` carries the failure.
        """
        s = self.settings
        result = CallResult(model_requested=s.model)
        for model in [s.model, *s.fallback_models]:
            if self.breaker.is_open(model):
                result.error_class = "ProviderUnavailable"
                result.error = f"provider_unavailable: circuit open for {model}"
                continue
            convo = list(messages)
            for turn in range(1 + max(0, s.repair_turns)):
                try:
                    response = await self._request(model, convo, task, schema, result)
                except BudgetExhausted as exc:
                    result.error_class, result.error, result.budget_exhausted = "BudgetExhausted", str(exc), True
                    return result
                except Exception as exc:  # noqa: BLE001 - stored as the failure
                    result.error_class = type(exc).__name__
                    result.error = redact(str(exc), [s.api_key])[:2000]
                    if isinstance(exc, ProviderUnavailable):
                        result.error = f"provider_unavailable: {result.error}"
                    break
                text = response.choices[0].message.content or ""
                try:
                    result.value = parse_structured(text, schema)
                    result.error = result.error_class = result.raw_output = None
                    return result
                except StructuredOutputError as exc:
                    result.error_class = "StructuredOutputError"
                    result.error = str(exc)[:2000]
                    result.raw_output = exc.raw
                    if turn < s.repair_turns:
                        convo = convo + [
                            {"role": "assistant", "content": text},
                            {"role": "user", "content": (
                                "Your answer did not validate against the required JSON schema:\n- "
                                + "\n- ".join(exc.errors)
                                + "\nAnswer again with one corrected JSON object and nothing else."
                            )},
                        ]
        return result
