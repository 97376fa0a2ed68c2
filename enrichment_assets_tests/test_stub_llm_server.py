"""The stub model server's own helpers (used by tests and benchmarks)."""

from __future__ import annotations

from enrichment_assets.domain.models import DogProfile
from enrichment_assets_tests.stub_llm_server import warm_model_like_responder


def test_warm_up_answers_a_profile_request_with_a_valid_profile() -> None:
    reply = warm_model_like_responder()
    assert reply.status == 200 and reply.model == "stub-llm-1"
    profile = DogProfile.model_validate_json(reply.content)
    assert "Rex" in profile.description
