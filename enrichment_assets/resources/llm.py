"""``LLMResource``: every model call goes through LiteLLM with these settings.

One :class:`~enrichment_assets.llm.client.LLMClient` per run: the resource creates it on
first use in a run (``setup_for_execution`` resets it per run) and every asset step of the
run shares it, so one concurrency limit, one run budget (USD and tokens) and one set of
breakers cover every model call of the run, profiles and translations, all partitions. A
process that runs several Dagster runs as one user-visible run (``enrichment run``) wraps
them in :func:`run_scope`, which shares one client across those runs. The rate limiter is
per process (``llm/client.py``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from enrichment_assets.llm.client import LLMClient, LLMSettings, ModelEndpoint, Price
from enrichment_assets.settings import Settings, environment_secret, get_settings

DEFAULT_MODEL = Settings.model_fields["llm_model"].default

_SCOPE: dict[str, LLMClient | None] = {"client": None}


@contextlib.contextmanager
def run_scope(client: LLMClient | None = None) -> Iterator[dict[str, LLMClient | None]]:
    """Share one client (given, or the first one a resource creates) across every run
    started inside the ``with`` block, in this process."""
    previous = _SCOPE["client"]
    _SCOPE["client"] = client
    _SCOPE["active"] = True  # type: ignore[assignment]
    try:
        yield _SCOPE
    finally:
        _SCOPE["client"] = previous
        _SCOPE.pop("active", None)


def parse_fallback(entry: str, primary_base: str | None, primary_key: str | None) -> ModelEndpoint:
    """A fallback entry: ``model`` (the primary's api_base and key) or
    ``model|api_base|KEY_ENV`` (its own; an empty api_base means the provider's default,
    ``KEY_ENV`` names the environment variable holding its key).

    Raises:
        ValueError: for an empty model or an unset ``KEY_ENV`` variable.
    """
    parts = [p.strip() for p in entry.split("|")]
    if not parts[0]:
        raise ValueError(f"fallback entry {entry!r}: the model is empty (use model|api_base|KEY_ENV)")
    if len(parts) == 1:
        return ModelEndpoint(parts[0], primary_base, primary_key)
    key = None
    if len(parts) > 2 and parts[2]:
        key = environment_secret(parts[2])
        if key is None:
            raise ValueError(f"fallback entry for {parts[0]}: environment variable {parts[2]} is not set")
    return ModelEndpoint(parts[0], parts[1] or None, key)


def load_price_file(path: Path) -> dict[str, Price]:
    """``{model: Price}`` from a YAML or JSON file ``{model: {input_per_mtok, output_per_mtok}}``.

    Raises:
        ValueError: naming the file and model whose entry is not two non-negative numbers.
    """
    import yaml

    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must map model names to prices")
    prices = {}
    for model, entry in data.items():
        try:
            inp, out = float(entry["input_per_mtok"]), float(entry["output_per_mtok"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {model}: needs input_per_mtok and output_per_mtok numbers") from exc
        if inp < 0 or out < 0:
            raise ValueError(f"{path}: {model}: prices must not be negative")
        prices[str(model)] = Price(inp / 1e6, out / 1e6)
    return prices


class LLMResource(dg.ConfigurableResource):
    """LiteLLM model settings; unset fields fall back to the settings object (environment:
    ``ENRICHMENT_LLM_*``, see the README's configuration table).

    ``offline/rules`` is a deterministic rule-based provider (not an LLM) that needs no
    network and no key. API keys are never logged or stored.
    """

    model: str | None = Field(default=None, description="LiteLLM model string, e.g. gemini/gemini-2.5-flash")
    fallback_models: list[str] | None = Field(default=None, description="model or model|api_base|KEY_ENV entries, tried in order")
    api_base: str | None = None
    api_key: str | None = Field(default=None, description="Optional; provider variables keep working")
    timeout_s: float | None = None
    max_retries: int | None = Field(default=None, description="Retries of transient errors per request")
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    profile_temperature: float = 0.2
    translation_temperature: float = 0.0
    input_cost_per_token: float | None = Field(default=None, description="USD, for models LiteLLM has no price for")
    output_cost_per_token: float | None = None
    budget_usd: float | None = Field(default=None, description="Spend limit per run (USD)")
    token_budget: int | None = Field(default=None, description="Token limit per run")
    daily_budget_usd: float | None = Field(default=None, description="Spend limit per UTC day across runs (USD)")
    breaker_cooldown_s: float | None = None

    _client: LLMClient | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = None

    def llm_settings(self) -> LLMSettings:
        """Effective settings: config first, then environment, then defaults."""
        env = get_settings()
        env_key = env.llm_api_key.get_secret_value() if env.llm_api_key else None
        api_base = self.api_base or env.llm_api_base
        api_key = self.api_key or env_key
        entries = self.fallback_models if self.fallback_models is not None else env.llm_fallback_models
        inp = self.input_cost_per_token
        out = self.output_cost_per_token
        if inp is None and env.llm_input_cost_per_mtok is not None:
            inp = env.llm_input_cost_per_mtok / 1e6
        if out is None and env.llm_output_cost_per_mtok is not None:
            out = env.llm_output_cost_per_mtok / 1e6

        def pick(value, default):
            return default if value is None else value

        return LLMSettings(
            model=self.model or env.llm_model,
            fallback_models=[parse_fallback(e, api_base, api_key) for e in entries],
            api_base=api_base,
            api_key=api_key,
            timeout_s=pick(self.timeout_s, env.llm_timeout_s),
            max_retries=pick(self.max_retries, env.llm_max_retries),
            max_concurrency=self.max_concurrency or env.llm_max_concurrency,
            requests_per_minute=self.requests_per_minute or env.llm_rpm,
            rpm_burst=env.llm_rpm_burst,
            temperature={"profile": self.profile_temperature, "translation": self.translation_temperature},
            input_cost_per_token=inp,
            output_cost_per_token=out,
            prices=load_price_file(env.llm_price_file) if env.llm_price_file else {},
            backoff_initial_s=env.llm_backoff_initial_s,
            backoff_max_s=env.llm_backoff_max_s,
            budget_usd=pick(self.budget_usd, env.llm_budget_usd),
            token_budget=pick(self.token_budget, env.llm_token_budget),
            breaker_failure_rate=env.llm_breaker_failure_rate,
            breaker_min_requests=env.llm_breaker_min_requests,
            breaker_window_s=env.llm_breaker_window_s,
            breaker_cooldown_s=pick(self.breaker_cooldown_s, env.llm_breaker_cooldown_s),
            deadline_s=env.llm_run_deadline_s,
            structured_output=env.llm_structured_output,
            reserve_output_tokens=env.llm_reserve_output_tokens,
            litellm_http_handler=env.llm_litellm_http_handler,
        )

    @property
    def effective_daily_budget_usd(self) -> float | None:
        if self.daily_budget_usd is not None:
            return self.daily_budget_usd
        return get_settings().llm_daily_budget_usd

    def client_for_run(self, engine) -> LLMClient:
        """The run's client (created on first use; shared by the run's steps, and by every
        run inside :func:`run_scope`). With a daily cap, requests reserve their cost in the
        database first (atomic across runs and processes).

        Raises:
            BudgetConfigError: a USD budget with a model of unknown price and no token budget.
        """
        if _SCOPE.get("active") and _SCOPE["client"] is not None:
            return _SCOPE["client"]
        if self._client is None:
            from enrichment_assets.pipeline.calls import DatabaseDailyCap

            daily = self.effective_daily_budget_usd
            cap = DatabaseDailyCap(engine, daily) if daily is not None else None
            self._client = LLMClient(self.llm_settings(), daily_cap=cap)
            if _SCOPE.get("active"):
                _SCOPE["client"] = self._client
        return self._client

    def client(self, spent_today_usd: float = 0.0) -> LLMClient:
        """A new client without database (tests, benchmarks); ``spent_today_usd`` is
        charged against the daily cap."""
        return LLMClient(self.llm_settings(), already_spent_usd=spent_today_usd,
                         daily_limit_usd=self.effective_daily_budget_usd)

    def describe(self) -> dict[str, object]:
        """Effective settings for the Dagster UI (keys only as set / unset)."""
        s = self.llm_settings()
        return {"model": s.model,
                "fallback_models": [f"{e.model}@{e.api_base or 'default'}" for e in s.endpoints()[1:]],
                "api_base": s.api_base, "api_key": "(set)" if s.api_key else "(unset)", "timeout_s": s.timeout_s,
                "max_retries": s.max_retries, "max_concurrency": s.max_concurrency,
                "requests_per_minute": s.requests_per_minute, "budget_usd": s.budget_usd,
                "token_budget": s.token_budget, "daily_budget_usd": self.effective_daily_budget_usd,
                "structured_output": s.structured_output}

    @property
    def effective_model(self) -> str:
        return self.llm_settings().model
