"""``enrichment doctor`` (issue 12): passes offline, fails on a closed port, a missing price,
a missing key and a bad alert URL; never prints a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets_tests.servers import free_port
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer

KEY = "sk-doctor-secret-0123456789"


def _doctor(*args: str):
    result = CliRunner().invoke(main, ["doctor", "--json", *args])
    return result, json.loads(result.output[result.output.index("{"):])


def _status(report: dict, suffix: str) -> str:
    (check,) = [c for c in report["checks"] if c["name"].endswith(suffix)]
    return check["status"]


@pytest.fixture
def demo(enrichment_home: Path) -> Path:
    assert CliRunner().invoke(main, ["import", "demo"]).exit_code == 0
    return enrichment_home


def test_doctor_passes_offline(demo: Path) -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    for name in ("database", "dagster instance", "landing folder", "prompt files", "offline/rules: reachable",
                 "offline/rules: price", "offline/rules: structured output", "alert URLs"):
        assert f"PASS {name}" in result.output, name


def test_doctor_fails_on_a_closed_port(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/stub-model")
    monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", KEY)
    monkeypatch.setenv("ENRICHMENT_LLM_INPUT_COST_PER_MTOK", "0.1")
    monkeypatch.setenv("ENRICHMENT_LLM_OUTPUT_COST_PER_MTOK", "0.4")
    result, report = _doctor()
    assert result.exit_code == 1
    assert _status(report, ": reachable") == "fail" and not report["ok"]
    assert _status(report, ": price") == "pass" and _status(report, ": key") == "pass"
    assert KEY not in result.output


def test_doctor_fails_on_a_missing_price_and_passes_with_one(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with StubLLMServer(default=Reply("OK")) as server:
        monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/stub-model")
        monkeypatch.setenv("ENRICHMENT_LLM_API_BASE", server.api_base)
        monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", KEY)
        result, report = _doctor()
        assert result.exit_code == 1
        assert _status(report, ": reachable") == "pass" and _status(report, ": price") == "fail"
        assert server.requests and server.requests[0]["body"]["max_tokens"] == 1
        assert KEY not in result.output
        # structured output: LiteLLM does not know this model, so the JSON-mode fallback is named
        (structured,) = [c for c in report["checks"] if c["name"].endswith("structured output")]
        assert "json_object" in structured["detail"]

        monkeypatch.setenv("ENRICHMENT_LLM_INPUT_COST_PER_MTOK", "0.1")
        monkeypatch.setenv("ENRICHMENT_LLM_OUTPUT_COST_PER_MTOK", "0.4")
        result, report = _doctor()
        assert result.exit_code == 0, result.output
        assert report["ok"] and all(c["status"] != "fail" for c in report["checks"])


def test_doctor_fails_on_missing_key_bad_alert_url_and_no_landing(enrichment_home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/stub-model")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ENRICHMENT_ALERT_URLS", "notascheme://token-abc-123456,json://127.0.0.1:9/hook")
    result, report = _doctor("--no-ping")
    assert result.exit_code == 1
    assert _status(report, ": key") == "fail" and "OPENAI_API_KEY" in result.output
    assert _status(report, "alert URLs") == "fail" and "token-abc-123456" not in result.output
    assert _status(report, "landing folder") == "fail"
    assert _status(report, "database") == "pass"
