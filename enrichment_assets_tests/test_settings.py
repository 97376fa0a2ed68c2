"""The one settings object: declared once, documented once, read nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest
from click.testing import CliRunner

from enrichment_assets import settings as settings_module
from enrichment_assets.cli import main
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.settings import Settings, get_settings, settings_table_markdown

PACKAGE = Path(settings_module.__file__).resolve().parent
README = PACKAGE.parent / "README.md"


def test_readme_table_is_the_generated_one():
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- settings-table:start -->", 1)[1].split("<!-- settings-table:end -->", 1)[0]
    assert block.strip() == settings_table_markdown().strip()
    documented = set(re.findall(r"\| `([A-Z_]+)` \|", block))
    declared = {settings_module.env_name(f) for f in Settings.model_fields}
    assert documented == declared


def test_no_module_reads_the_environment_but_settings():
    readers = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)|environ\.get\(")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py":
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if readers.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{no}: {line.strip()}")
    assert offenders == []


def test_environment_values_reach_resources(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("ENRICHMENT_LLM_FALLBACK_MODELS", "gemini/a, ollama/b")
    monkeypatch.setenv("ENRICHMENT_LLM_RPM", "120")
    monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", "k-not-a-real-key-123")
    monkeypatch.setenv("ENRICHMENT_MIN_SUCCESS_RATE", "0.5")
    assert LLMResource().llm_settings().litellm_http_handler is False, "LiteLLM's experimental handler is opt-in"
    monkeypatch.setenv("ENRICHMENT_LLM_LITELLM_HTTP_HANDLER", "true")
    llm = LLMResource().llm_settings()
    assert llm.litellm_http_handler is True
    assert llm.model == "openai/gpt-4o-mini"
    assert [e.model for e in llm.fallback_models] == ["gemini/a", "ollama/b"]
    assert llm.requests_per_minute == 120
    assert llm.api_key == "k-not-a-real-key-123"
    assert CheckThresholds().value("min_success_rate") == 0.5
    # resource config wins over the environment
    assert LLMResource(model="ollama/llama3").llm_settings().model == "ollama/llama3"
    assert CheckThresholds(min_success_rate=0.9).value("min_success_rate") == 0.9


def test_secrets_never_show(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", "k-not-a-real-key-123")
    monkeypatch.setenv("ENRICHMENT_ALERT_URLS", "json://127.0.0.1/hook?token=zz-secret-token")
    shown = settings_module.effective_settings_metadata()
    assert shown["ENRICHMENT_LLM_API_KEY"] == "(set)"
    assert "zz-secret-token" not in repr(get_settings()) + str(shown)
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert "k-not-a-real-key-123" not in result.output and "zz-secret-token" not in result.output
    assert "ENRICHMENT_LLM_MODEL" in result.output


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENRICHMENT_LLM_RPM", "fast")
    with pytest.raises(pydantic.ValidationError, match="llm_rpm"):
        get_settings()


def test_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "")
    monkeypatch.setenv("ENRICHMENT_LLM_RPM", "")
    assert get_settings().llm_model == "offline/rules"
    assert get_settings().llm_rpm is None
