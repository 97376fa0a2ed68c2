"""Stage 3, ``llm_profiles``: one profile (or one explicit status) per listing.

Incremental: a listing is sent to a model only when its content hash, the prompt version
or the requested model changed since its stored result, or when the stored result is a
``failed``/``budget_exhausted`` one (those are attempted again). Listings that are not
dogs, or whose usable description is shorter than ``min_source_chars``, are stored with
their status and never sent. Failures are stored as failures: no placeholder text, ever.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from enrichment_assets.domain.grounding import assess_source, find_boilerplate
from enrichment_assets.domain.models import DogProfile, NormalizedListing, ProfileStatus
from enrichment_assets.llm.client import CallResult, LLMClient
from enrichment_assets.llm.prompts import PromptConfig, render_profile_messages
from enrichment_assets.pipeline.calls import (
    NO_CALL, call_accounting, call_status, ledger_row, record_calls, run_structured_calls,
)
from enrichment_assets.pipeline.normalize import load_listings
from enrichment_assets.storage.database import sync_rows, utcnow
from enrichment_assets.storage.schema import llm_profiles

#: Statuses that stand until the listing, the prompt or the model changes.
FINAL_STATUSES = frozenset({ProfileStatus.OK, ProfileStatus.INSUFFICIENT_SOURCE, ProfileStatus.NOT_A_DOG})


@dataclass
class ProfileResult:
    """What one ``llm_profiles`` materialization did for one organization."""

    organization: str
    listings: int = 0
    reused: int = 0
    calls: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    models: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    written: int = 0
    failures: list[str] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)


def is_up_to_date(stored: dict[str, Any] | None, listing: NormalizedListing,
                  prompt_version: str, model: str) -> bool:
    """True when ``stored`` (a profile row) still stands for ``listing``: no call needed."""
    return (
        stored is not None
        and stored["status"] in FINAL_STATUSES
        and stored["content_hash"] == listing.content_hash
        and stored["prompt_version"] == prompt_version
        and stored["model_requested"] == model
    )


def _base_row(organization: str, listing: NormalizedListing, prompt_version: str, model: str) -> dict[str, Any]:
    return {
        "organization": organization, "external_id": listing.external_id, "status": None,
        "profile": None, "reason": None, "error_class": None, "raw_output": None,
        "content_hash": listing.content_hash, "prompt_version": prompt_version,
        "model_requested": model, **NO_CALL, "updated_at": utcnow(),
    }


def _call_row(row: dict[str, Any], call: CallResult) -> dict[str, Any]:
    row.update(call_accounting(call))
    status = call_status(call)
    if status == "ok":
        row.update(status=ProfileStatus.OK.value, profile=call.value.model_dump(mode="json"))
    else:
        row.update(status=status, reason=call.error, error_class=call.error_class,
                   raw_output=call.raw_output)
    return row


def load_profile_rows(engine: sa.Engine, organization: str) -> dict[str, dict[str, Any]]:
    """Stored profile rows of ``organization`` keyed by external id."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(llm_profiles).where(llm_profiles.c.organization == organization)).mappings()
        return {row["external_id"]: dict(row) for row in rows}


def profile_organization(
    engine: sa.Engine,
    organization: str,
    client: LLMClient,
    config: PromptConfig,
    on_progress: Callable[[int], None] | None = None,
) -> ProfileResult:
    """Profile every listing of ``organization`` that needs it and store one row each.

    Returns counts per status (adding up to the number of listings), calls, retries,
    tokens, cost, latencies and the model mix of the calls made in this run. Every call
    that sent a request is appended to the ``llm_calls`` ledger.
    """
    listings = load_listings(engine, organization)
    stored = load_profile_rows(engine, organization)
    prompt_version = config.prompt_version
    model = client.settings.model
    boilerplate = list(config.boilerplate) + find_boilerplate([l.description for l in listings])
    result = ProfileResult(organization=organization, listings=len(listings))
    rows: list[dict[str, Any]] = []
    to_call: list[tuple[NormalizedListing, dict[str, Any], str]] = []
    statuses: Counter[str] = Counter()
    for listing in listings:
        previous = stored.get(listing.external_id)
        if is_up_to_date(previous, listing, prompt_version, model):
            result.reused += 1
            statuses[previous["status"]] += 1
            if on_progress:
                on_progress(1)
            continue
        row = _base_row(organization, listing, prompt_version, model)
        if listing.species not in ("dog", "unknown"):
            row.update(status=ProfileStatus.NOT_A_DOG.value, reason=f"species is {listing.species!r}")
        else:
            assessment = assess_source(listing, boilerplate, config.min_source_chars)
            if not assessment.sufficient:
                row.update(status=ProfileStatus.INSUFFICIENT_SOURCE.value, reason=assessment.reason)
            else:
                to_call.append((listing, row, assessment.usable_text))
                continue
        statuses[row["status"]] += 1
        rows.append(row)
        if on_progress:
            on_progress(1)

    calls = run_structured_calls(
        client, [render_profile_messages(l, config, description=text) for l, _, text in to_call],
        DogProfile, "profile", on_progress)
    models: Counter[str] = Counter()
    ledger = []
    for (listing, row, _), call in zip(to_call, calls):
        rows.append(_call_row(row, call))
        ledger.append(ledger_row(organization, listing.external_id, "profile", prompt_version, call))
        statuses[row["status"]] += 1
        result.calls += call.attempts
        result.retries += call.retries
        result.input_tokens += call.input_tokens
        result.output_tokens += call.output_tokens
        if call.cost_usd is None:
            result.cost_unknown += 1
        else:
            result.cost_usd += call.cost_usd
        result.latencies_ms.append(call.latency_ms)
        if call.model_used:
            models[call.model_used] += 1
        if not call.ok and not call.budget_exhausted:
            result.failures.append(f"{listing.external_id}: {call.error_class}: {call.error}")
    with engine.begin() as conn:
        result.written = sync_rows(conn, llm_profiles, rows).written
        record_calls(conn, ledger)
    result.statuses = dict(statuses)
    result.models = dict(models)
    for row in rows[:10]:
        result.preview.append({
            "external_id": row["external_id"], "status": row["status"],
            "tagline": (row["profile"] or {}).get("tagline"), "reason": row["reason"],
        })
    return result
