"""``LLMResource``: every model call goes through LiteLLM with these settings."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from enrichment_assets.llm.client import LLMClient, LLMSettings
from enrichment_assets.settings import Settings, get_settings

DEFAULT_MODEL = Settings.model_fields["llm_model"].default


class LLMResource(dg.ConfigurableResource):
    """LiteLLM model settings; unset fields fall back to the settings object (environment).

    | field                 | environment variable             | default          |
    |-----------------------|----------------------------------|------------------|
    | model                 | ENRICHMENT_LLM_MODEL             | ``offline/rules`` |
    | fallback_models       | ENRICHMENT_LLM_FALLBACK_MODELS   | none (comma list)|
    | api_base              | ENRICHMENT_LLM_API_BASE          | provider default |
    | api_key               | ENRICHMENT_LLM_API_KEY           | provider variable (e.g. GEMINI_API_KEY) |
    | max_concurrency       | ENRICHMENT_LLM_MAX_CONCURRENCY   | 4                |
    | requests_per_minute   | ENRICHMENT_LLM_RPM               | unlimited        |
    | budget_usd            | ENRICHMENT_LLM_BUDGET_USD        | unlimited (per run) |
    | daily_budget_usd      | ENRICHMENT_LLM_DAILY_BUDGET_USD  | unlimited (per UTC day, all runs) |

    ``offline/rules`` is a deterministic rule-based provider (not an LLM) that needs no
    network and no key. The API key is never logged or stored.
    """

    model: str | None = Field(default=None, description="LiteLLM model string, e.g. gemini/gemini-2.5-flash")
    fallback_models: list[str] | None = Field(default=None, description="Tried in order when the model fails")
    api_base: str | None = None
    api_key: str | None = Field(default=None, description="Optional; provider variables keep working")
    timeout_s: float = 60.0
    max_retries: int = Field(default=4, description="Retries of transient errors per request (tenacity)")
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    profile_temperature: float = 0.2
    translation_temperature: float = 0.0
    input_cost_per_token: float | None = Field(default=None, description="USD, for models LiteLLM has no price for")
    output_cost_per_token: float | None = None
    budget_usd: float | None = Field(default=None, description="Spend limit per run (USD)")
    daily_budget_usd: float | None = Field(default=None, description="Spend limit per UTC day across runs (USD)")
    breaker_threshold: int = Field(default=5, description="Consecutive transient failures that open a model's circuit")
    breaker_cooldown_s: float = 60.0

    def llm_settings(self) -> LLMSettings:
        """Effective settings: config first, then environment, then defaults."""
        env = get_settings()
        fallbacks = self.fallback_models if self.fallback_models is not None else env.llm_fallback_models
        env_key = env.llm_api_key.get_secret_value() if env.llm_api_key else None
        return LLMSettings(
            model=self.model or env.llm_model,
            fallback_models=list(fallbacks),
            api_base=self.api_base or env.llm_api_base,
            api_key=self.api_key or env_key,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency or env.llm_max_concurrency,
            requests_per_minute=self.requests_per_minute or env.llm_rpm,
            temperature={"profile": self.profile_temperature, "translation": self.translation_temperature},
            input_cost_per_token=self.input_cost_per_token,
            output_cost_per_token=self.output_cost_per_token,
            budget_usd=self.budget_usd if self.budget_usd is not None else env.llm_budget_usd,
            breaker_threshold=self.breaker_threshold,
            breaker_cooldown_s=self.breaker_cooldown_s,
        )

    @property
    def effective_daily_budget_usd(self) -> float | None:
        if self.daily_budget_usd is not None:
            return self.daily_budget_usd
        return get_settings().llm_daily_budget_usd

    def client_for_run(self, engine) -> LLMClient:
        """A client for one materialization, charged with today's stored spend when a
        daily cap is set (so the cap holds across runs)."""
        from enrichment_assets.pipeline.calls import spent_today_usd

        return self.client(spent_today_usd(engine) if self.effective_daily_budget_usd else 0.0)

    def client(self, spent_today_usd: float = 0.0) -> LLMClient:
        """A new client (own semaphore, rate limiter, budget, breaker) for one materialization.

        ``spent_today_usd``: spend already recorded today, charged against the daily cap.
        """
        return LLMClient(self.llm_settings(), already_spent_usd=spent_today_usd,
                         daily_limit_usd=self.effective_daily_budget_usd)

    def describe(self) -> dict[str, object]:
        """Effective settings for the Dagster UI (the API key only as set / unset)."""
        s = self.llm_settings()
        return {"model": s.model, "fallback_models": s.fallback_models, "api_base": s.api_base,
                "api_key": "(set)" if s.api_key else "(unset)", "timeout_s": s.timeout_s,
                "max_retries": s.max_retries, "max_concurrency": s.max_concurrency,
                "requests_per_minute": s.requests_per_minute, "budget_usd": s.budget_usd,
                "daily_budget_usd": self.effective_daily_budget_usd}

    @property
    def effective_model(self) -> str:
        return self.llm_settings().model
