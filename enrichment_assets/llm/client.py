"""Calls to any LiteLLM model: throttling, retries, circuit breaking, structured output, cost.

No Dagster here; :class:`enrichment_assets.resources.llm.LLMResource` builds one
:class:`LLMClient` per run. Rules, from ``../shared/FACTS.md`` and issues 10, 13 and 14:

- LiteLLM's own retries are off (``num_retries=0``, ``max_retries=0``): its ``num_retries``
  multiplies requests and retries 400/401 too. Every request carries ``timeout=``.
- Every model call of a process runs on one background event loop (:func:`call_loop`),
  so the rate limiter (:func:`shared_limiter`) is shared by every call of the process,
  whichever asset, organization or run makes it.
- A 429 is back-pressure: the whole limiter pauses for ``Retry-After`` (or a backoff), the
  request waits for the limiter again, and it never counts as a breaker failure or as a
  retry. Only the wait deadline (``deadline_s`` from the first wait) ends the waiting.
- Transient errors (5xx, timeouts, connection errors) are retried with exponential backoff
  and jitter (tenacity's wait functions) up to ``max_retries`` while the provider looks
  healthy. The :class:`CircuitBreaker` opens on a sustained failure *rate*; while it is open
  calls wait for the half-open probe instead of failing, bounded by ``deadline_s`` from the
  request's first wait (``ENRICHMENT_LLM_RUN_DEADLINE_S``).
- Structured output degrades ``json_schema`` -> ``json_object`` -> prompt-only per model
  on the provider's "unsupported parameter" answer, remembered for the run.
- ``litellm`` is imported once per process, lazily (the first request, or a USD budget's
  price check at set-up), with ``LITELLM_LOCAL_MODEL_COST_MAP`` and its debug banner off.
  JSON schemas are built once per schema class.
- ``litellm_http_handler`` (opt-in) sends ``openai/...`` requests through LiteLLM's own HTTP
  handler instead of the OpenAI SDK (:func:`use_litellm_http_handler`): LiteLLM's per-call
  CPU, not ours, is what bounds one process (``benchmarks/llm_client_throughput.py``).
- Keys are redacted (:class:`Redactor`) from every error, raw output and answer text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from tenacity.wait import wait_exponential_jitter

from enrichment_assets.llm.parsing import StructuredOutputError, parse_structured, schema_json

T = TypeVar("T", bound=BaseModel)

#: Structured-output modes, strongest first.
FORMAT_MODES = ("json_schema", "json_object", "prompt")
#: Model prefixes whose calls cost nothing (a known price of 0).
FREE_PREFIXES = ("offline/", "ollama/", "ollama_chat/")

_LITELLM = None
_LITELLM_LOCK = threading.Lock()


def import_litellm():
    """Import litellm once per process: local cost map, no banner, quiet loggers, offline provider."""
    global _LITELLM
    if _LITELLM is not None:
        return _LITELLM
    with _LITELLM_LOCK:
        if _LITELLM is None:
            import os

            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            from enrichment_assets.llm.offline import register_offline_provider

            litellm.suppress_debug_info = True  # the "Give Feedback / Get Help" banner
            litellm.set_verbose = False
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            register_offline_provider()
            _LITELLM = litellm
    return _LITELLM


#: LiteLLM's switch, read on every request, that sends ``openai/...`` chat completions
#: through its own HTTP handler (``base_llm_http_handler``, the one most providers use)
#: instead of the OpenAI SDK
LITELLM_HTTP_HANDLER_ENV = "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"


def use_litellm_http_handler() -> None:
    """Send this process's ``openai/...`` requests through LiteLLM's own HTTP handler.

    Process-wide and not undone (LiteLLM reads the variable on every request; the call loop
    and the limiter are the process's too). Measured with
    ``benchmarks/llm_client_throughput.py``: about 30% fewer instructions per call (18.2 M ->
    12.9 M under callgrind), the OpenAI SDK's request transform, its httpx client and
    response parsing left out. LiteLLM names the switch experimental and does not document
    it: hence opt-in (``ENRICHMENT_LLM_LITELLM_HTTP_HANDLER``); ``test_llm_client.py`` passes
    with it on (429s with Retry-After, error classes, tokens, cost, the answering model).
    """
    import os

    os.environ[LITELLM_HTTP_HANDLER_ENV] = "True"


# -- error classes -----------------------------------------------------------------------

def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_rate_limit(exc: BaseException) -> bool:
    """True for a 429 (the provider's back-pressure)."""
    litellm = import_litellm()
    return isinstance(exc, litellm.RateLimitError) or status_of(exc) == 429


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
    status = status_of(exc)
    return status is not None and (status == 429 or status >= 500)


_UNSUPPORTED = re.compile(
    r"(response_format|json_schema|json_object|structured output|response format).{0,80}"
    r"(not supported|unsupported|invalid|not allowed|unknown|unrecognized)"
    r"|(unsupported|not supported|unknown|unrecognized).{0,40}(response_format|json_schema|parameter)",
    re.IGNORECASE | re.DOTALL)


def is_unsupported_format(exc: BaseException) -> bool:
    """True when the provider rejects the ``response_format`` parameter (400/422 saying so)."""
    litellm = import_litellm()
    if isinstance(exc, getattr(litellm, "UnsupportedParamsError", ())):
        return True
    return status_of(exc) in (400, 422) and bool(_UNSUPPORTED.search(str(exc)))


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


# -- secrets -----------------------------------------------------------------------------

_KEY_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,}|gsk_[A-Za-z0-9]{10,}|xai-[A-Za-z0-9]{10,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{6,}|(?i:(?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,})")


class Redactor:
    """Replaces every known secret and anything key-shaped with ``***``.

    Secrets: the configured keys plus the values of every environment variable whose name
    looks like a key (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ...; see
    :func:`enrichment_assets.settings.secret_environment_values`), so a key without a
    known prefix taken from e.g. ``OPENAI_API_KEY`` is found too.
    """

    def __init__(self, secrets: Sequence[str | None] = ()):
        from enrichment_assets.settings import secret_environment_values

        values = {s for s in secrets if s and len(s) >= 6} | set(secret_environment_values())
        self.secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return _KEY_SHAPES.sub("***", text)


def redact(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` with the given secrets, secret environment values and key shapes replaced."""
    return Redactor(secrets)(text) or ""


# -- the process-wide call loop and rate limiter -------------------------------------------

class CallLoop:
    """One asyncio loop in a daemon thread that runs every model call of the process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="model-calls", daemon=True)
        self.thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


_CALL_LOOP: CallLoop | None = None
_CALL_LOOP_LOCK = threading.Lock()


def call_loop() -> CallLoop:
    """The process's model-call loop (started on first use)."""
    global _CALL_LOOP
    with _CALL_LOOP_LOCK:
        if _CALL_LOOP is None:
            _CALL_LOOP = CallLoop()
        return _CALL_LOOP


class RateLimiter:
    """Requests-per-minute limit that no 60 s window exceeds, with a small burst.

    A leaky bucket (``aiolimiter.AsyncLimiter``) of capacity ``burst`` that drains at
    ``(rpm - burst) / 60 * 0.97`` per second: any window of ``T`` seconds admits at most
    ``burst + rate * T`` requests, which for ``T = 60`` is below ``rpm`` (the 3% margin
    absorbs about 1.8 s of delay between taking a token and the request reaching the
    provider, as on a busy machine; 1% was measured too little). The burst is
    ``min(burst, 5% of rpm)`` and at least 1, so the sustained rate stays >= 90% of
    ``rpm / 60`` for rpm >= 20. A 429's ``Retry-After`` pauses every caller (:meth:`pause`).
    Lives on the call loop; never rejects, only waits. ``period_s`` (default 60) scales the
    window for tests: ``rpm`` requests per ``period_s`` seconds.
    """

    def __init__(self, rpm: float, burst: int = 5, period_s: float = 60.0):
        from aiolimiter import AsyncLimiter

        self.rpm = float(rpm)
        self.burst = max(1, min(int(burst), int(self.rpm * 0.05)))
        rate = max(self.rpm - self.burst, 1.0) / period_s * 0.97
        self.rate_per_s = rate
        self._limiter = AsyncLimiter(self.burst, self.burst / rate)
        self.paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now (a 429's Retry-After)."""
        self.paused_until = max(self.paused_until, time.monotonic() + max(0.0, seconds))

    async def acquire(self) -> None:
        while (wait := self.paused_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        await self._limiter.acquire()


_LIMITERS: dict[tuple, RateLimiter] = {}


def shared_limiter(key: str, rpm: float | None, burst: int = 5) -> RateLimiter | None:
    """The process's limiter for ``key`` (the provider endpoint) at ``rpm``, or None if unlimited."""
    if not rpm:
        return None
    index = (key, float(rpm), int(burst))
    if index not in _LIMITERS:
        _LIMITERS[index] = RateLimiter(rpm, burst)
    return _LIMITERS[index]


# -- circuit breaker -----------------------------------------------------------------------

class ProviderUnavailable(RuntimeError):
    """A model's circuit stayed open until the run's deadline."""


class CircuitBreaker:
    """Closed / open / half-open breaker of one model endpoint, on a failure *rate*.

    Closed: outcomes of the last ``window_s`` seconds are kept; when at least
    ``min_requests`` are held and the share of transient failures reaches
    ``failure_rate``, the circuit opens for ``cooldown_s``. Open: callers wait
    (:meth:`wait_ready`) instead of failing. After the cool-down one probe request goes out
    (half-open): success closes the circuit (window cleared), failure opens it again.
    429s and non-transient errors are not recorded (the provider is answering).
    Hand-written because pybreaker counts consecutive failures and raises while open, and
    LiteLLM's router cool-downs reject instead of waiting (FACTS.md).
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, failure_rate: float = 0.8, min_requests: int = 10, window_s: float = 60.0,
                 cooldown_s: float = 15.0, clock: Callable[[], float] = time.monotonic):
        self.failure_rate = failure_rate
        self.min_requests = max(1, min_requests)
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.state = self.CLOSED
        self.opened_at = 0.0
        self.outcomes: deque[tuple[float, bool]] = deque()
        #: transient failures held in ``outcomes`` (kept as a count: summing the window per
        #: request cost O(window) CPU, about 12,000 entries at 200 calls/s)
        self.failures = 0
        self.probe_in_flight = False
        self.last_error: str | None = None
        self.last_error_class: str | None = None
        self.times_opened = 0

    def _trim(self) -> None:
        horizon = self.clock() - self.window_s
        while self.outcomes and self.outcomes[0][0] < horizon:
            self.failures -= self.outcomes.popleft()[1]

    def record(self, failed: bool, exc: BaseException | None = None, message: str | None = None) -> None:
        """Record one request's outcome (``failed``: a transient failure)."""
        if failed and exc is not None:
            self.last_error_class, self.last_error = type(exc).__name__, message or str(exc)
        if self.state == self.HALF_OPEN:
            self.probe_in_flight = False
            if failed:
                self._open()
            else:
                self.state = self.CLOSED
                self.outcomes.clear()
                self.failures = 0
            return
        self.outcomes.append((self.clock(), failed))
        self.failures += failed
        self._trim()
        if (self.state == self.CLOSED and len(self.outcomes) >= self.min_requests
                and self.failures / len(self.outcomes) >= self.failure_rate):
            self._open()

    def _open(self) -> None:
        self.state = self.OPEN
        self.opened_at = self.clock()
        self.outcomes.clear()
        self.failures = 0
        self.times_opened += 1

    @property
    def closed(self) -> bool:
        return self.state == self.CLOSED

    def looks_down(self) -> bool:
        """True while the circuit is not closed, or the failure share of the last
        ``min_requests`` outcomes is already at the threshold (an outage the window has not
        yet opened on, e.g. because it still holds the successes from before). A request
        whose retries are used up keeps waiting while the provider looks down."""
        if not self.closed:
            return True
        self._trim()
        recent = [self.outcomes[-i] for i in range(min(self.min_requests, len(self.outcomes)), 0, -1)]
        if len(recent) < self.min_requests:
            return False
        return sum(1 for _, f in recent if f) / len(recent) >= self.failure_rate

    def ready(self) -> bool:
        """True when a request may go out now (closed, or the probe slot is free)."""
        if self.state == self.CLOSED:
            return True
        if self.state == self.OPEN and self.clock() >= self.opened_at + self.cooldown_s:
            self.state = self.HALF_OPEN
        if self.state == self.HALF_OPEN and not self.probe_in_flight:
            self.probe_in_flight = True
            return True
        return False

    async def wait_ready(self, deadline: float, stop: threading.Event | None = None) -> None:
        """Wait until a request may go out; raise :class:`ProviderUnavailable` at ``deadline``."""
        while not self.ready():
            now = self.clock()
            if now >= deadline:
                raise ProviderUnavailable(
                    f"provider still unavailable at the run's deadline; last error: "
                    f"{self.last_error_class}: {self.last_error}")
            if stop is not None and stop.is_set():
                raise Interrupted("stop requested")
            pause = self.opened_at + self.cooldown_s - now if self.state == self.OPEN else 0.05
            await asyncio.sleep(min(max(pause, 0.01), deadline - now, 0.5))


# -- budgets ---------------------------------------------------------------------------------

class BudgetExhausted(RuntimeError):
    """The run's (or day's) budget is spent: no new request may start."""


class BudgetConfigError(ValueError):
    """A budget is set for a model whose price is unknown, and no token budget is set."""


class Interrupted(RuntimeError):
    """A stop was requested (SIGTERM/SIGINT): no new request starts."""


class Budget:
    """Spend limit of one run: USD (``limit_usd``) and/or tokens (``limit_tokens``).

    Once either is reached no new request starts; requests in flight still finish, so a run
    may overshoot by at most ``max_concurrency`` requests.
    """

    def __init__(self, limit_usd: float | None, already_spent_usd: float = 0.0, limit_tokens: int | None = None):
        self.limit_usd = limit_usd
        self.spent_usd = already_spent_usd
        self.limit_tokens = limit_tokens
        self.tokens = 0

    @property
    def exhausted(self) -> bool:
        return ((self.limit_usd is not None and self.spent_usd >= self.limit_usd)
                or (self.limit_tokens is not None and self.tokens >= self.limit_tokens))

    def add(self, cost_usd: float | None, tokens: int = 0) -> None:
        self.spent_usd += cost_usd or 0.0
        self.tokens += tokens


class DailyCap(Protocol):
    """Atomic reservation of spend against the day's cap (see ``pipeline/calls.py``).

    ``reserve(amount_usd)`` returns True when the amount fits under the cap (and holds it);
    ``settle(reserved_usd, actual_usd)`` replaces the reservation by the actual cost.
    """

    limit_usd: float

    def reserve(self, amount_usd: float) -> bool: ...

    def settle(self, reserved_usd: float, actual_usd: float | None) -> None: ...

    def spent_usd(self) -> float: ...


# -- settings, results ----------------------------------------------------------------------

@dataclass(frozen=True)
class ModelEndpoint:
    """A model with where to reach it: ``api_base`` and key (None: the provider's defaults)."""

    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.model}@{self.api_base or 'default'}"


@dataclass
class Price:
    """USD per token, input and output."""

    input_per_token: float
    output_per_token: float


@dataclass
class LLMSettings:
    """Plain settings of :class:`LLMClient` (environment names: see ``settings.py``).

    ``fallback_models`` entries are model strings or ``model|api_base|KEY_ENV`` (parsed by
    the resource into :class:`ModelEndpoint`); a bare model string uses the primary's
    ``api_base`` and key. ``prices`` maps a model to its :class:`Price`;
    ``input_cost_per_token``/``output_cost_per_token`` apply to any model not in it.
    """

    model: str = "offline/rules"
    fallback_models: list[Any] = field(default_factory=list)
    api_base: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 6
    max_concurrency: int = 4
    requests_per_minute: float | None = None
    rpm_burst: int = 5
    temperature: dict[str, float] = field(default_factory=lambda: {"profile": 0.2, "translation": 0.0})
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    prices: dict[str, Price] = field(default_factory=dict)
    repair_turns: int = 2
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    budget_usd: float | None = None
    token_budget: int | None = None
    breaker_failure_rate: float = 0.8
    breaker_min_requests: int = 10
    breaker_window_s: float = 60.0
    breaker_cooldown_s: float = 15.0
    deadline_s: float = 900.0
    structured_output: str = "auto"
    reserve_output_tokens: int = 2000
    #: :func:`use_litellm_http_handler` (process-wide once any client asks)
    litellm_http_handler: bool = False

    def endpoints(self) -> list[ModelEndpoint]:
        """The primary then each fallback, each with its api_base and key."""
        out = [ModelEndpoint(self.model, self.api_base, self.api_key)]
        for entry in self.fallback_models:
            out.append(entry if isinstance(entry, ModelEndpoint)
                       else ModelEndpoint(str(entry), self.api_base, self.api_key))
        return out


@dataclass
class CallResult:
    """Outcome of one structured call (all attempts, repair turns and fallbacks).

    ``value`` is the validated object or ``None``; on failure ``error`` and
    ``error_class`` say why (the last real error, redacted) and ``raw_output`` keeps the
    last completion text (redacted), if any. ``model_answered`` is the configured model
    (primary or fallback) whose answer is in ``value``; ``model_used`` the name the server
    gave. Tokens and cost add up every request made; ``cost_usd`` is ``None`` when a model
    that answered has no known price. ``waits_s`` lists the backoff before each retry,
    ``rate_limited`` counts 429 answers.
    """

    value: BaseModel | None = None
    model_requested: str = ""
    model_used: str | None = None
    model_answered: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    latency_ms: float = 0.0
    attempts: int = 0
    retries: int = 0
    rate_limited: int = 0
    waits_s: list[float] = field(default_factory=list)
    budget_exhausted: bool = False
    interrupted: bool = False
    error: str | None = None
    error_class: str | None = None
    raw_output: str | None = None
    format_mode: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def fallback(self) -> bool:
        """True when a fallback model (not the primary) answered."""
        return self.ok and self.model_answered is not None and self.model_answered != self.model_requested


# -- schema caching ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _response_format(schema: type[BaseModel], mode: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": json.loads(schema_json(schema))}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


@functools.lru_cache(maxsize=256)
def _litellm_knows_schema(model: str) -> bool:
    litellm = import_litellm()
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:  # noqa: BLE001 - unknown model
        return False


@functools.lru_cache(maxsize=256)
def _litellm_price(model: str) -> Price | None:
    if model in _PRICES_REGISTERED:
        return None  # LiteLLM had no price: the one it holds now is a client's, not its own
    litellm = import_litellm()
    try:
        info = litellm.get_model_info(model=model)
    except Exception:  # noqa: BLE001 - unknown model
        return None
    inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not inp and not out:
        return None  # a $0 entry (e.g. openrouter/auto) is an unknown price, not a free model
    return Price(float(inp or 0.0), float(out or 0.0))


_PRICES_TAUGHT: set[str] = set()
#: models LiteLLM had no entry for that :func:`teach_litellm_price` registered
_PRICES_REGISTERED: set[str] = set()


def teach_litellm_price(model: str, price: Price | None) -> None:
    """Register ``price`` with LiteLLM for a ``model`` its cost map lacks (once per process).

    LiteLLM prices every response itself (``_hidden_params["response_cost"]``), whatever we
    do with it. For a model it has no entry for, that lookup runs its whole ladder of name
    generalizations and fails, on every response. Registered with the price we charge (a
    price file or the configured per-token cost), its figure equals ours and its lookup
    succeeds: py-spy against the zero-latency stub counted 8% fewer samples on the call
    loop (its cost calculator 20% fewer); LiteLLM's cost calculation itself (~0.8 ms per
    response here) has no switch. Models LiteLLM knows, free (``offline/``, local)
    models and unknown prices are left alone. Whether LiteLLM thinks the model supports
    ``json_schema`` is read before registering, so the structured-output mode stays the same,
    and :func:`_litellm_price` keeps answering "unknown" for it (another client of the
    process without a configured price must not charge this one's).
    """
    if price is None or model in _PRICES_TAUGHT or model.startswith(FREE_PREFIXES):
        return
    litellm = import_litellm()
    _litellm_knows_schema(model)
    _PRICES_TAUGHT.add(model)
    try:
        litellm.get_model_info(model=model)
        return  # known to LiteLLM: its own lookup is already the fast one
    except Exception:  # noqa: BLE001 - unmapped model
        pass
    try:
        provider = litellm.get_llm_provider(model=model)[1]
    except Exception:  # noqa: BLE001 - no provider prefix: LiteLLM fails the call itself
        return
    _PRICES_REGISTERED.add(model)
    litellm.register_model({model: {"input_cost_per_token": price.input_per_token,
                                    "output_cost_per_token": price.output_per_token,
                                    "litellm_provider": provider, "mode": "chat"}})


# -- the client ------------------------------------------------------------------------------

#: Set by the CLI's SIGTERM/SIGINT handler: no new request starts in this process.
STOP = threading.Event()


def request_stop() -> None:
    """Stop starting new model requests in this process (requests in flight finish)."""
    STOP.set()


class LLMClient:
    """Structured-output calls through LiteLLM for one run.

    Owns the run's concurrency limit, budget (USD and tokens), daily-cap reservations,
    breakers per model endpoint and remembered structured-output modes; the rate limiter
    is the process's (:func:`shared_limiter`). Calls run on :func:`call_loop`.

    Raises:
        BudgetConfigError: when a USD budget or daily cap is set, a model's price is
            unknown and no token budget is set.
    """

    def __init__(self, settings: LLMSettings, already_spent_usd: float = 0.0,
                 daily_limit_usd: float | None = None, daily_cap: DailyCap | None = None):
        self.settings = settings
        s = settings
        self.endpoints = s.endpoints()
        self.budget = Budget(s.budget_usd, limit_tokens=s.token_budget)
        #: the day's cap without a database (tests): pre-charged with today's stored spend
        self.daily_budget = Budget(daily_limit_usd, already_spent_usd)
        self.daily_cap = daily_cap
        self.redact = Redactor([e.api_key for e in self.endpoints])
        self.breakers = {e.key: CircuitBreaker(s.breaker_failure_rate, s.breaker_min_requests,
                                               s.breaker_window_s, s.breaker_cooldown_s)
                         for e in self.endpoints}
        self.format_modes: dict[str, str] = {}
        self.started = time.monotonic()
        self._semaphore: asyncio.Semaphore | None = None
        self.stats: dict[str, int] = {"requests": 0, "rate_limited": 0, "degraded": 0}
        self._backoff = wait_exponential_jitter(multiplier=s.backoff_initial_s, max=s.backoff_max_s,
                                                jitter=min(1.0, s.backoff_initial_s))
        if s.litellm_http_handler:
            use_litellm_http_handler()
        # Prices are looked up here only when a USD budget needs them: LiteLLM's price map
        # costs its import (3-7 s of CPU), which a run that sends no request never pays;
        # otherwise litellm is imported by the first request (:meth:`_request`).
        capped = s.budget_usd is not None or daily_limit_usd is not None or daily_cap is not None
        unknown = ([e.model for e in self.endpoints if self.price(e.model) is None]
                   if capped and s.token_budget is None else [])
        if unknown:
            raise BudgetConfigError(
                f"a USD budget is set but the price of {', '.join(unknown)} is unknown: set "
                "ENRICHMENT_LLM_INPUT_COST_PER_MTOK and ENRICHMENT_LLM_OUTPUT_COST_PER_MTOK, a price file "
                "(ENRICHMENT_LLM_PRICE_FILE), or a token budget (ENRICHMENT_LLM_TOKEN_BUDGET)")

    # -- prices and formats ----------------------------------------------------------------

    def price(self, model: str) -> Price | None:
        """USD per token of ``model``: price file, then configured prices, then LiteLLM's map."""
        s = self.settings
        if model in s.prices:
            return s.prices[model]
        if s.input_cost_per_token is not None or s.output_cost_per_token is not None:
            return Price(s.input_cost_per_token or 0.0, s.output_cost_per_token or 0.0)
        if model.startswith(FREE_PREFIXES):
            return Price(0.0, 0.0)
        return _litellm_price(model)

    def format_mode(self, model: str) -> str:
        """The structured-output mode to use for ``model`` now (remembered for the run)."""
        if model not in self.format_modes:
            declared = self.settings.structured_output
            if declared != "auto":
                self.format_modes[model] = declared
            elif model.startswith("offline/") or _litellm_knows_schema(model):
                self.format_modes[model] = "json_schema"
            else:
                self.format_modes[model] = "json_object"
        return self.format_modes[model]

    def _degrade(self, model: str, used: str) -> bool:
        """Step ``model`` down from the mode ``used`` by a rejected request; False at the end."""
        mode = self.format_mode(model)
        if mode != used:
            return True  # another request degraded it already: retry with the current mode
        index = FORMAT_MODES.index(mode)
        if index + 1 >= len(FORMAT_MODES):
            return False
        self.format_modes[model] = FORMAT_MODES[index + 1]
        self.stats["degraded"] += 1
        return True

    def _cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        return prompt_tokens * price.input_per_token + completion_tokens * price.output_per_token

    def _estimate(self, model: str, messages: list[dict[str, str]]) -> float:
        price = self.price(model) or Price(0.0, 0.0)
        chars = sum(len(m.get("content") or "") for m in messages)
        return (chars / 3.0) * price.input_per_token + self.settings.reserve_output_tokens * price.output_per_token

    # -- budgets -------------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        return self.budget.exhausted or self.daily_budget.exhausted

    def budget_message(self) -> str:
        """Which budget is spent, with limit and spend (for logs and stored reasons)."""
        b = self.budget
        if b.limit_usd is not None and b.spent_usd >= b.limit_usd:
            return f"run budget of ${b.limit_usd:.4f} reached (spent ${b.spent_usd:.4f})"
        if b.limit_tokens is not None and b.tokens >= b.limit_tokens:
            return f"run token budget of {b.limit_tokens} reached ({b.tokens} tokens)"
        if self.daily_cap is not None:
            return (f"daily budget of ${self.daily_cap.limit_usd:.4f} reached "
                    f"(spent ${self.daily_cap.spent_usd():.4f} today, UTC)")
        if self.daily_budget.exhausted:
            return (f"daily budget of ${self.daily_budget.limit_usd:.4f} reached "
                    f"(spent ${self.daily_budget.spent_usd:.4f} today, UTC)")
        return f"within budget (spent ${b.spent_usd:.4f} this run)"

    # -- one request with its retries -------------------------------------------------------

    def _kwargs(self, endpoint: ModelEndpoint, messages, task: str, schema: type[BaseModel]) -> dict[str, Any]:
        s = self.settings
        kwargs: dict[str, Any] = {"model": endpoint.model, "messages": messages, "timeout": s.timeout_s,
                                  "num_retries": 0, "max_retries": 0}
        response_format = _response_format(schema, self.format_mode(endpoint.model))
        if response_format is not None:
            kwargs["response_format"] = response_format
        if task in s.temperature:
            kwargs["temperature"] = s.temperature[task]
        if not endpoint.model.startswith("offline/"):
            if endpoint.api_base:
                kwargs["api_base"] = endpoint.api_base
            if endpoint.api_key:
                kwargs["api_key"] = endpoint.api_key
        return kwargs

    async def _request(self, endpoint: ModelEndpoint, messages: list[dict[str, str]], task: str,
                       schema: type[BaseModel], result: CallResult) -> Any:
        """One logical request: waits (limiter, breaker, 429), retries transient errors."""
        litellm = import_litellm()
        s = self.settings
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(max(1, s.max_concurrency))
        limiter = shared_limiter(endpoint.api_base or endpoint.model.split("/", 1)[0],
                                 s.requests_per_minute, s.rpm_burst)
        breaker = self.breakers[endpoint.key]
        teach_litellm_price(endpoint.model, self.price(endpoint.model))
        backoff = self._backoff  # tenacity's wait strategy: stateless, one per client
        failures = 0
        #: how long this request may still wait for the provider: ``deadline_s`` from the
        #: first time it had to wait (a 429, a transient failure, an open circuit)
        deadline: float | None = None
        while True:
            if STOP.is_set():
                raise Interrupted("stop requested before the request started")
            if self.exhausted:
                raise BudgetExhausted(self.budget_message())
            if not breaker.closed and self._alternative(endpoint):
                raise _Failed("ProviderUnavailable", f"circuit open ({breaker.last_error_class}: "
                                                     f"{breaker.last_error}); a fallback can answer")
            if not breaker.closed and deadline is None:
                deadline = time.monotonic() + s.deadline_s
            await breaker.wait_ready(deadline or time.monotonic() + s.deadline_s, STOP)
            wait = 0.0
            async with self._semaphore:
                if limiter is not None:
                    await limiter.acquire()
                if self.exhausted or STOP.is_set():
                    if breaker.state == breaker.HALF_OPEN:
                        breaker.probe_in_flight = False
                    if STOP.is_set():
                        raise Interrupted("stop requested before the request started")
                    raise BudgetExhausted(self.budget_message())
                reserved = 0.0
                if self.daily_cap is not None:
                    reserved = self._estimate(endpoint.model, messages)
                    if not self.daily_cap.reserve(reserved):
                        if breaker.state == breaker.HALF_OPEN:
                            breaker.probe_in_flight = False
                        raise BudgetExhausted(self.budget_message())
                kwargs = self._kwargs(endpoint, messages, task, schema)
                mode_used = self.format_mode(endpoint.model)
                result.attempts += 1
                self.stats["requests"] += 1
                started = time.perf_counter()
                try:
                    response = await litellm.acompletion(**kwargs)
                except Exception as exc:  # noqa: BLE001 - classified below
                    result.latency_ms += (time.perf_counter() - started) * 1000.0
                    if deadline is None:
                        deadline = time.monotonic() + s.deadline_s
                    if self.daily_cap is not None:
                        self.daily_cap.settle(reserved, 0.0)
                    message = self.redact(str(exc))[:2000]
                    if is_rate_limit(exc):
                        result.rate_limited += 1
                        self.stats["rate_limited"] += 1
                        if breaker.state == breaker.HALF_OPEN:
                            breaker.probe_in_flight = False
                        wait = retry_after_seconds(exc)
                        if wait is None:
                            wait = backoff_for(backoff, result.rate_limited)
                        if limiter is not None:
                            limiter.pause(wait)
                        result.waits_s.append(wait)
                        if time.monotonic() + wait >= deadline:
                            raise _Failed(type(exc).__name__, message) from None
                    elif is_unsupported_format(exc) and self._degrade(endpoint.model, mode_used):
                        breaker.record(False)
                        continue
                    elif is_transient(exc):
                        breaker.record(True, exc, message)
                        failures += 1
                        if time.monotonic() >= deadline or (
                                failures > s.max_retries and (not breaker.looks_down() or self._alternative(endpoint))):
                            raise _Failed(type(exc).__name__, message) from None
                        wait = backoff_for(backoff, failures)
                        result.waits_s.append(wait)
                        result.retries += 1
                    else:
                        breaker.record(False)
                        raise _Failed(type(exc).__name__, message) from None
                else:
                    result.latency_ms += (time.perf_counter() - started) * 1000.0
                    breaker.record(False)
                    usage = getattr(response, "usage", None)
                    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
                    result.input_tokens += prompt_tokens
                    result.output_tokens += completion_tokens
                    cost = self._cost(endpoint.model, prompt_tokens, completion_tokens)
                    self.budget.add(cost, prompt_tokens + completion_tokens)
                    self.daily_budget.add(cost)
                    if self.daily_cap is not None:
                        self.daily_cap.settle(reserved, cost)
                    result.cost_usd = None if (cost is None or result.cost_usd is None) else result.cost_usd + cost
                    result.model_used = getattr(response, "model", None) or endpoint.model
                    result.format_mode = self.format_mode(endpoint.model)
                    return response
            if wait:
                await asyncio.sleep(min(wait, max(0.0, (deadline or 0.0) - time.monotonic())))

    # -- the public call ----------------------------------------------------------------------

    async def complete_structured(self, messages: list[dict[str, str]], schema: type[T],
                                  task: str = "profile", echo_markers: Sequence[str] = ()) -> CallResult:
        """Ask for a ``schema`` object; repair turns on validation errors; fallbacks on failure.

        The primary model is tried first; when it fails (after its retries, or with invalid
        output after the repair turns) each fallback endpoint is tried in order; a model whose
        circuit is open is passed over while another can answer. ``echo_markers``: strings an
        answer may not contain (the prompt's delimiters and instructions; see
        :func:`enrichment_assets.llm.parsing.parse_structured`). When a budget is spent, no
        request starts and the result has ``budget_exhausted``; after :func:`request_stop`
        it has ``interrupted``. Never raises for model errors.
        """
        s = self.settings
        result = CallResult(model_requested=s.model)
        endpoints = self._ordered_endpoints()
        for endpoint in endpoints:
            convo = list(messages)
            for turn in range(1 + max(0, s.repair_turns)):
                try:
                    response = await self._request(endpoint, convo, task, schema, result)
                except BudgetExhausted as exc:
                    result.error_class, result.error, result.budget_exhausted = "BudgetExhausted", str(exc), True
                    return result
                except Interrupted as exc:
                    result.error_class, result.error, result.interrupted = "Interrupted", str(exc), True
                    return result
                except ProviderUnavailable as exc:
                    result.error_class = "ProviderUnavailable"
                    result.error = self.redact(f"{endpoint.model}: {exc}")[:2000]
                    break
                except _Failed as exc:
                    result.error_class, result.error = exc.error_class, f"{endpoint.model}: {exc.message}"[:2000]
                    break
                text = self.redact(response.choices[0].message.content or "")
                try:
                    result.value = parse_structured(text, schema, echo_markers)
                    result.error = result.error_class = result.raw_output = None
                    result.model_answered = endpoint.model
                    return result
                except StructuredOutputError as exc:
                    result.error_class = "StructuredOutputError"
                    result.error = self.redact(f"{endpoint.model}: {exc}")[:2000]
                    result.raw_output = text
                    if turn < s.repair_turns:
                        convo = convo + [
                            {"role": "assistant", "content": text},
                            {"role": "user", "content": (
                                "Your answer did not validate against the required JSON schema:\n- "
                                + "\n- ".join(exc.errors)
                                + "\nAnswer again with one corrected JSON object and nothing else.")},
                        ]
        return result

    def _alternative(self, endpoint: ModelEndpoint) -> bool:
        """True when another endpoint with a closed circuit can take over from ``endpoint``."""
        return any(e.key != endpoint.key and self.breakers[e.key].closed for e in self.endpoints)

    def _ordered_endpoints(self) -> list[ModelEndpoint]:
        """Endpoints in order, those with an open circuit moved behind the ones that can answer."""
        if len(self.endpoints) == 1:
            return self.endpoints
        ready = [e for e in self.endpoints if self.breakers[e.key].closed]
        waiting = [e for e in self.endpoints if not self.breakers[e.key].closed]
        return ready + waiting if ready else list(self.endpoints)


class _Failed(Exception):
    """A request that gave up: ``error_class`` and the redacted ``message`` of the real error."""

    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class
        self.message = message


def backoff_for(wait: Callable[[Any], float], attempt: int) -> float:
    """The wait of tenacity's ``wait`` strategy before retry number ``attempt`` (1-based)."""
    state = type("RetryState", (), {"attempt_number": attempt})()
    return float(wait(state))


def run_calls(client: LLMClient, conversations: Sequence[list[dict[str, str]]], schema: type[BaseModel],
              task: str, on_result: Callable[[int, CallResult], None] | None = None,
              echo_markers: Sequence[str] | None = None) -> list[CallResult]:
    """Run one structured call per conversation on the process's call loop.

    ``echo_markers``: what no answer may contain; default the delimiters and instruction
    lines of the first conversation (:func:`enrichment_assets.llm.prompts.echo_markers`).

    ``on_result(index, result)`` is called in the calling thread as each call finishes
    (so answers can be stored as they arrive); returns the results in input order.
    If ``on_result`` raises, calls that have not finished are cancelled and the exception
    propagates.
    """
    import queue

    if not conversations:
        return []
    if echo_markers is None:
        from enrichment_assets.llm.prompts import echo_markers as markers_of

        echo_markers = markers_of(conversations[0])
    loop = call_loop()
    done: queue.Queue = queue.Queue()

    async def one(index: int, messages: list[dict[str, str]]) -> None:
        try:
            result = await client.complete_structured(messages, schema, task=task, echo_markers=echo_markers)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread
            done.put((index, exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        done.put((index, result))

    async def spawn() -> list[asyncio.Task]:
        return [asyncio.ensure_future(one(i, m)) for i, m in enumerate(conversations)]

    async def cancel(tasks: list[asyncio.Task]) -> None:
        for item in tasks:
            item.cancel()
        await asyncio.wait(tasks, timeout=60)

    # one hand-off to the call loop for the whole batch: a run_coroutine_threadsafe per
    # conversation costs the loop a self-pipe wake-up and a chained future each (~3% of
    # its CPU at saturation, py-spy)
    futures = loop.submit(spawn()).result()
    results: list[CallResult | None] = [None] * len(conversations)
    interrupt: BaseException | None = None
    pending = len(futures)
    try:
        while pending:
            try:
                index, item = done.get()
                pending -= 1
                if isinstance(item, BaseException):
                    raise item
                results[index] = item
                if on_result is not None:
                    # an answer being stored is stored whole; while this thread checks and
                    # stores it, the call loop gets the GIL back quickly
                    with _signals_deferred(), _gil_handed_back_often():
                        on_result(index, item)
            except BaseException as exc:  # noqa: BLE001 - a signal arrives here
                if interrupt is not None or not _is_interrupt(exc):
                    raise  # a second signal: stop at once
                # first SIGINT/SIGTERM (KeyboardInterrupt or Dagster's interrupt error): start
                # nothing new, keep storing the answers of the requests in flight
                interrupt = exc
                STOP.set()
    except BaseException:
        loop.submit(cancel(futures)).result(timeout=65)
        raise
    if interrupt is not None:
        raise interrupt
    return [r for r in results if r is not None]


#: The interpreter's switch interval (seconds) while a thread handles an answer (Python's
#: default: 0.005). See :func:`_gil_handed_back_often`.
ANSWER_SWITCH_INTERVAL_S = 0.0005
_SWITCH_LOCK = threading.Lock()
_SWITCH_STATE = {"users": 0, "saved": 0.005}


@contextlib.contextmanager
def _gil_handed_back_often() -> Iterator[None]:
    """Inside the block the interpreter's switch interval is at most
    :data:`ANSWER_SWITCH_INTERVAL_S` (process-wide; restored when the last thread using it
    leaves the block).

    Why: handling an answer (checking a profile, ~6-14 ms of pure-Python CPU, then storing it)
    holds the GIL while the call loop has the next request of the freed slot to send. Each
    time the call loop gives the GIL up around a syscall (a socket read or write, the
    executor LiteLLM hands every ``acompletion`` to) it waits up to one switch interval to get
    it back from the busy thread. Measured against benchmark 1's stub at C=4 (latency 0.25 s,
    one organization of 320 listings, load 0.4-1.8): from an answer written to the next
    request's arrival on that connection took 15.2-17.0 ms with the default 5 ms interval,
    12.4-13.8 ms with 0.5 ms (0.1 ms: within the noise of that); see benchmarks/README.md."""
    with _SWITCH_LOCK:
        if _SWITCH_STATE["users"] == 0:
            _SWITCH_STATE["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_SWITCH_STATE["saved"], ANSWER_SWITCH_INTERVAL_S))
        _SWITCH_STATE["users"] += 1
    try:
        yield
    finally:
        with _SWITCH_LOCK:
            _SWITCH_STATE["users"] -= 1
            if _SWITCH_STATE["users"] == 0:
                sys.setswitchinterval(_SWITCH_STATE["saved"])


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT/SIGTERM received inside the block stop new requests at once (:data:`STOP`)
    and are delivered, to the handlers installed before it (the CLI's, Dagster's), when it
    ends: storing an answer is never cut in half (a signal raised inside it left the paid
    answer unstored and failed the run). Only the main thread can swap handlers; elsewhere
    the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def defer(number: int, _frame: Any) -> None:
        STOP.set()  # no new request starts from now on, as with the signal itself
        received.append(number)

    previous = {signo: signal.getsignal(signo) for signo in (signal.SIGINT, signal.SIGTERM)}
    for signo in previous:
        signal.signal(signo, defer)
    try:
        yield
    finally:
        for signo, handler in previous.items():
            signal.signal(signo, handler)
        for signo in received:
            signal.raise_signal(signo)


def _is_interrupt(exc: BaseException) -> bool:
    """A SIGINT/SIGTERM as Python (``KeyboardInterrupt``) or Dagster raises it."""
    return isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "DagsterExecutionInterruptedError"
