"""``LLMResource``: every model call goes through LiteLLM with these settings."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from enrichment_assets.llm.client import LLMClient, LLMSettings

DEFAULT_MODEL = "offline/rules"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


class LLMResource(dg.ConfigurableResource):
    """LiteLLM model settings; unset fields fall back to environment variables.

    | field                 | environment variable             | default          |
    |-----------------------|----------------------------------|------------------|
    | model                 | ENRICHMENT_LLM_MODEL             | ``offline/rules`` |
    | fallback_models       | ENRICHMENT_LLM_FALLBACK_MODELS   | none (comma list)|
    | api_base              | ENRICHMENT_LLM_API_BASE          | provider default |
    | api_key               | ENRICHMENT_LLM_API_KEY           | provider variable (e.g. GEMINI_API_KEY) |
    | max_concurrency       | ENRICHMENT_LLM_MAX_CONCURRENCY   | 4                |
    | requests_per_minute   | ENRICHMENT_LLM_RPM               | unlimited        |

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

    def llm_settings(self) -> LLMSettings:
        """Effective settings: config first, then environment, then defaults."""
        fallbacks = self.fallback_models
        if fallbacks is None:
            fallbacks = [m.strip() for m in (_env("ENRICHMENT_LLM_FALLBACK_MODELS") or "").split(",") if m.strip()]
        concurrency = self.max_concurrency or int(_env("ENRICHMENT_LLM_MAX_CONCURRENCY") or 4)
        rpm = self.requests_per_minute or (float(_env("ENRICHMENT_LLM_RPM")) if _env("ENRICHMENT_LLM_RPM") else None)
        return LLMSettings(
            model=self.model or _env("ENRICHMENT_LLM_MODEL") or DEFAULT_MODEL,
            fallback_models=fallbacks,
            api_base=self.api_base or _env("ENRICHMENT_LLM_API_BASE"),
            api_key=self.api_key or _env("ENRICHMENT_LLM_API_KEY"),
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_concurrency=concurrency,
            requests_per_minute=rpm,
            temperature={"profile": self.profile_temperature, "translation": self.translation_temperature},
            input_cost_per_token=self.input_cost_per_token,
            output_cost_per_token=self.output_cost_per_token,
        )

    def client(self) -> LLMClient:
        """A new client (own semaphore and rate limiter) for one materialization."""
        return LLMClient(self.llm_settings())

    @property
    def effective_model(self) -> str:
        return self.llm_settings().model
