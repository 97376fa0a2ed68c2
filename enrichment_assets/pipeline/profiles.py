"""Stage 3, ``llm_profiles``: one profile (or one explicit status) per listing.

Incremental: a listing is sent to a model only when its content hash, the prompt version
or the requested model changed since its latest attempt, when that attempt is a
``failed``/``budget_exhausted`` one, or when a fallback model (not the requested one) wrote
it. Listings that are not dogs, or whose usable description is shorter than
``min_source_chars``, are stored with their status and never sent. Failures are stored as
failures: no placeholder text, ever.

Answers are stored as they arrive, one small transaction each (row, ledger row and
violations together), so a crash loses at most the calls in flight. Each row keeps the
latest attempt apart from the published profile (issue 10): a new ``ok`` answer is checked
with :func:`enrichment_assets.domain.hallucination.check_profile` at once; one that breaks
an ERROR rule is stored ``quarantined`` (its violations under target ``attempt``) and never
published; a clean one is published as a new version (``profile_versions``). A failed,
budget-stopped or quarantined attempt never touches the published profile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from enrichment_assets.domain.hallucination import check_profile
from enrichment_assets.domain.models import DogProfile, NormalizedListing, ProfileStatus
from enrichment_assets.llm.client import CallResult, LLMClient
from enrichment_assets.llm.prompts import PromptConfig, render_profile_messages
from enrichment_assets.pipeline.calls import (
    NO_CALL, CallPlan, call_accounting, call_status, ledger_row, record_calls, run_pooled, with_db_retry,
)
from enrichment_assets.pipeline.normalize import load_listings
from enrichment_assets.pipeline.planning import (  # noqa: F401 - re-exported
    FINAL_STATUSES, SEND, SKIP, decide_listings, is_up_to_date,
)
from enrichment_assets.storage.database import rows_by_organization, upsert, utcnow
from enrichment_assets.storage.schema import llm_profiles, profile_versions, violations

#: ``violations.target`` of a quarantined attempt's findings (``profile``: the published one's).
ATTEMPT_TARGET = "attempt"
#: Columns of a row's published profile.
PUBLISHED_COLUMNS = ("published_profile", "published_version", "published_at", "published_content_hash",
                     "published_prompt_version", "published_model")


@dataclass
class ProfileResult:
    """What one ``llm_profiles`` materialization did for one organization.

    ``statuses`` counts the latest attempt of every listing (adds up to ``listings``
    minus ``interrupted``); ``published`` the listings with a published profile afterwards;
    ``models`` the configured models that answered in this run (the model mix);
    ``failure_classes`` the error classes of the failed calls; ``deferred`` the listings
    that needed a profile but were over the run's ``--limit`` (left for the next run).
    """

    organization: str
    listings: int = 0
    reused: int = 0
    calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    models: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    written: int = 0
    newly_published: int = 0
    published: int = 0
    interrupted: int = 0
    deferred: int = 0
    failures: list[str] = field(default_factory=list)
    failure_classes: dict[str, int] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)


def _base_row(organization: str, listing: NormalizedListing, prompt_version: str, model: str) -> dict[str, Any]:
    return {
        "organization": organization, "external_id": listing.external_id, "status": None,
        "profile": None, "reason": None, "error_class": None, "raw_output": None,
        "content_hash": listing.content_hash, "prompt_version": prompt_version,
        "model_requested": model, **NO_CALL, "updated_at": utcnow(),
    }


def load_profile_rows(engine: sa.Engine, organization: str) -> dict[str, dict[str, Any]]:
    """Stored profile rows of ``organization`` keyed by external id."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(llm_profiles).where(llm_profiles.c.organization == organization)).mappings()
        return {row["external_id"]: dict(row) for row in rows}


def load_published_profiles(engine: sa.Engine, organization: str) -> dict[str, dict[str, Any]]:
    """Published profiles of ``organization`` keyed by external id.

    Each value: ``profile`` (a :class:`DogProfile` dict), ``version``, ``content_hash`` (of
    the listing it was written for), ``prompt_version``, ``model`` and ``published_at``.
    What translations, quality scores and the published-profile rules read.
    """
    return load_published_profiles_many(engine, [organization])[organization]


def load_published_profiles_many(engine: sa.Engine, organizations: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`load_published_profiles` of each of ``organizations`` (organization -> its
    profiles), one query per 500 organizations."""
    p = llm_profiles
    with engine.connect() as conn:
        grouped = rows_by_organization(
            conn, sa.select(p.c.organization, p.c.external_id, *[p.c[c] for c in PUBLISHED_COLUMNS])
            .where(p.c.published_profile.is_not(None)), p.c.organization, organizations)
    return {org: {r["external_id"]: {"profile": r["published_profile"], "version": r["published_version"],
                                     "content_hash": r["published_content_hash"],
                                     "prompt_version": r["published_prompt_version"], "model": r["published_model"],
                                     "published_at": r["published_at"]} for r in rows}
            for org, rows in grouped.items()}


def _latest_versions(engine: sa.Engine, organization: str) -> dict[str, int]:
    v = profile_versions
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(v.c.external_id, sa.func.max(v.c.version))
                                 .where(v.c.organization == organization).group_by(v.c.external_id)).all())


def publication(organization: str, external_id: str, version: int, profile: dict[str, Any], content_hash: str,
                prompt_version: str, model_answered: str | None, now) -> tuple[dict[str, Any], dict[str, Any]]:
    """How a profile is published as ``version``: the ``published_*`` column values of its
    ``llm_profiles`` row and its ``profile_versions`` row. The one definition of publishing,
    used by the profile stage (a clean ``ok`` answer) and by ``enrichment review approve``
    (a quarantined attempt a reviewer approved)."""
    columns = {"published_profile": profile, "published_version": version, "published_at": now,
               "published_content_hash": content_hash, "published_prompt_version": prompt_version,
               "published_model": model_answered}
    version_row = {"organization": organization, "external_id": external_id, "version": version,
                   "profile": profile, "content_hash": content_hash, "prompt_version": prompt_version,
                   "model_answered": model_answered, "published_at": now}
    return columns, version_row


def latest_version(conn: sa.Connection, organization: str, external_id: str) -> int:
    """The highest published version of a listing in ``profile_versions`` (0 when none)."""
    v = profile_versions
    return conn.execute(sa.select(sa.func.max(v.c.version)).where(
        v.c.organization == organization, v.c.external_id == external_id)).scalar() or 0


def _attempt_violation_rows(organization: str, external_id: str, found) -> list[dict[str, Any]]:
    from enrichment_assets.pipeline.hallucination import violation_rows

    return violation_rows(organization, external_id, ATTEMPT_TARGET, found)


def profile_organization(
    engine: sa.Engine,
    organization: str,
    client: LLMClient,
    config: PromptConfig,
    on_progress: Callable[[int], None] | None = None,
    force: bool = False,
    limit: int | None = None,
    only: set[str] | None = None,
    observer: Callable[[NormalizedListing, list[dict[str, str]], CallResult], None] | None = None,
) -> ProfileResult:
    """Profile every listing of ``organization`` that needs it; store each answer as it arrives.

    Which listings are sent: :func:`~enrichment_assets.pipeline.planning.decide_listings`
    (``force`` sends up-to-date listings too). ``limit`` sends at most that many (the first in
    external-id order); the others that need a profile are left untouched for the next run
    (counted in ``deferred``). ``only`` restricts the stage to those external ids (other
    listings are neither sent nor counted). ``observer(listing, messages, call)`` sees each
    finished call before it is stored (``enrichment profile``).

    Returns counts per status, calls, retries, tokens, cost, latencies and the model mix of
    the calls made in this run. Every call that sent a request is appended to the
    ``llm_calls`` ledger in the transaction that stores its answer. Calls that never
    started because a stop was requested are not stored (``interrupted``).

    Raises:
        sqlalchemy.exc.OperationalError: when the database refuses writes for longer than
            ``ENRICHMENT_DB_WRITE_RETRY_S``; the answers stored before stay.
    """
    plan = plan_profiles(engine, organization, client, config, on_progress, force=force, limit=limit, only=only,
                         observer=observer)
    return run_pooled(client, [plan], DogProfile, "profile", on_progress)[organization]


ProfilePlan = CallPlan[ProfileResult]
"""One organization's share of a profile stage (:class:`~enrichment_assets.pipeline.calls.CallPlan`)."""


def profile_organizations(
    engine: sa.Engine,
    organizations: list[str],
    client: LLMClient,
    configs: dict[str, PromptConfig],
    on_progress: Callable[[int], None] | None = None,
    force: bool = False,
    limits: dict[str, int | None] | None = None,
) -> dict[str, ProfileResult]:
    """:func:`profile_organization` for many organizations at once, sharing ``client``: every
    organization is planned first, then all their conversations go through one pool
    (:func:`~enrichment_assets.pipeline.calls.run_pooled`: one concurrency limit, one rate
    limiter, one run budget). ``limits``: organization -> at most that many listings sent
    (missing or ``None``: no limit). Returns organization -> result, in ``organizations`` order.

    Raises what :func:`profile_organization` raises.
    """
    plans = [plan_profiles(engine, org, client, configs[org], on_progress, force=force,
                           limit=(limits or {}).get(org)) for org in organizations]
    return run_pooled(client, plans, DogProfile, "profile", on_progress)


def plan_profiles(
    engine: sa.Engine,
    organization: str,
    client: LLMClient,
    config: PromptConfig,
    on_progress: Callable[[int], None] | None = None,
    force: bool = False,
    limit: int | None = None,
    only: set[str] | None = None,
    observer: Callable[[NormalizedListing, list[dict[str, str]], CallResult], None] | None = None,
) -> ProfilePlan:
    """Decide and store what needs no call for ``organization`` (as :func:`profile_organization`
    documents) and return the :class:`ProfilePlan` of the calls still to make."""
    from enrichment_assets.pipeline.hallucination import record_profile_check  # imports this module
    from enrichment_assets.settings import get_settings

    patience_s = get_settings().db_write_retry_s
    listings = load_listings(engine, organization)
    stored = load_profile_rows(engine, organization)
    versions = _latest_versions(engine, organization)
    prompt_version = config.prompt_version
    model = client.settings.model
    decisions = decide_listings(listings, stored, config, model, force=force)  # boilerplate: all listings
    if only is not None:
        decisions = [d for d in decisions if d.listing.external_id in only]
    result = ProfileResult(organization=organization, listings=len(decisions))
    rows: list[dict[str, Any]] = []
    to_call: list[tuple[NormalizedListing, dict[str, Any], str]] = []
    statuses: Counter[str] = Counter()
    for decision in decisions:
        listing = decision.listing
        if decision.action == SEND:
            if limit is not None and len(to_call) >= limit:
                result.deferred += 1
                previous = stored.get(listing.external_id)
                if previous is not None:
                    statuses[previous["status"]] += 1
                if on_progress:
                    on_progress(1)
                continue
            to_call.append((listing, _base_row(organization, listing, prompt_version, model), decision.usable_text))
            continue
        if decision.action != SKIP:
            result.reused += 1
            statuses[decision.status] += 1
            if on_progress:
                on_progress(1)
            continue
        row = _base_row(organization, listing, prompt_version, model)
        row.update(status=decision.status, reason=decision.reason)
        statuses[row["status"]] += 1
        rows.append(row)
        if on_progress:
            on_progress(1)
    if rows:
        with_db_retry(engine, lambda conn: upsert(conn, llm_profiles, rows), patience_s)
        result.written += len(rows)

    models: Counter[str] = Counter()
    failure_classes: Counter[str] = Counter()

    conversations = [render_profile_messages(l, config, description=text) for l, _, text in to_call]

    def store(index: int, call: CallResult) -> None:
        listing, row, _ = to_call[index]
        if observer is not None:
            observer(listing, conversations[index], call)
        if call.interrupted:
            result.interrupted += 1
            return
        row.update(call_accounting(call))
        now = utcnow()
        row["updated_at"] = now
        attempt_rows: list[dict[str, Any]] = []
        publish = None
        status = call_status(call)
        if status == "ok":
            profile: DogProfile = call.value  # type: ignore[assignment]
            found = check_profile(listing, profile)
            errors = sorted({v.rule for v in found if v.severity == "error"})
            data = profile.model_dump(mode="json")
            if errors:
                status = ProfileStatus.QUARANTINED.value
                row.update(status=status, profile=data,
                           reason="quarantined for review: breaks ERROR rule(s) " + ", ".join(errors))
                attempt_rows = _attempt_violation_rows(organization, listing.external_id, found)
            else:
                version = versions.get(listing.external_id, 0) + 1
                published, publish = publication(organization, listing.external_id, version, data,
                                                 listing.content_hash, prompt_version, call.model_answered, now)
                row.update(status=status, profile=data, **published)
        else:
            row.update(status=status, reason=call.error, error_class=call.error_class, raw_output=call.raw_output)
        ledger = ledger_row(organization, listing.external_id, "profile", prompt_version, call, status)

        def work(conn: sa.Connection) -> None:
            upsert(conn, llm_profiles, [row])
            if publish is not None:
                upsert(conn, profile_versions, [publish])
                record_profile_check(conn, organization, listing, data, found)
            if status in ("ok", ProfileStatus.QUARANTINED.value):
                conn.execute(sa.delete(violations).where(
                    violations.c.organization == organization, violations.c.external_id == listing.external_id,
                    violations.c.target == ATTEMPT_TARGET))
                if attempt_rows:
                    conn.execute(sa.insert(violations), attempt_rows)
            record_calls(conn, [ledger])

        with_db_retry(engine, work, patience_s)
        if publish is not None:
            versions[listing.external_id] = publish["version"]
            result.newly_published += 1
        result.written += 1
        rows.append(row)
        statuses[status] += 1
        result.calls += call.attempts
        result.retries += call.retries
        result.rate_limited += call.rate_limited
        result.input_tokens += call.input_tokens
        result.output_tokens += call.output_tokens
        if call.cost_usd is None:
            result.cost_unknown += 1
        else:
            result.cost_usd += call.cost_usd
        result.latencies_ms.append(call.latency_ms)
        if call.model_answered:
            models[call.model_answered] += 1
        if status == "failed":
            failure_classes[call.error_class or "unknown"] += 1
            result.failures.append(f"{listing.external_id}: {call.error_class}: {call.error}")

    def finish() -> ProfileResult:
        result.statuses = dict(statuses)
        result.models = dict(models)
        result.failure_classes = dict(failure_classes)
        with engine.connect() as conn:
            result.published = conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
                llm_profiles.c.organization == organization,
                llm_profiles.c.published_profile.is_not(None))).scalar_one()
        for row in rows[:10]:
            result.preview.append({
                "external_id": row["external_id"], "status": row["status"],
                "tagline": (row["profile"] or {}).get("tagline"), "reason": row["reason"],
            })
        return result

    return CallPlan(organization, conversations, store, finish)


@dataclass
class RollbackResult:
    """Listings whose published profile went back one version, and those that had none before."""

    rolled_back: list[str] = field(default_factory=list)
    without_previous: list[str] = field(default_factory=list)


def rollback_published(engine: sa.Engine, organization: str, external_ids: list[str] | None = None) -> RollbackResult:
    """Publish again, for each listing (all of ``organization`` by default), the version
    before the one published now. A listing without an earlier version keeps its profile.

    Translations and quality scores follow on the next run (their source hash changes).
    The latest attempt is left as it is, so an unchanged listing is not re-profiled.

    Raises:
        ValueError: naming external ids that have no profile row.
    """
    p, v = llm_profiles, profile_versions
    result = RollbackResult()
    with engine.begin() as conn:
        query = sa.select(p.c.external_id, p.c.published_version).where(p.c.organization == organization)
        if external_ids:
            query = query.where(p.c.external_id.in_(external_ids))
        current = dict(conn.execute(query).all())
        missing = sorted(set(external_ids or []) - set(current))
        if missing:
            raise ValueError(f"{organization}: no profile rows for external_id(s) {', '.join(missing)}")
        for external_id, version in sorted(current.items()):
            if not version:
                continue
            previous = conn.execute(sa.select(v).where(
                v.c.organization == organization, v.c.external_id == external_id, v.c.version < version)
                .order_by(v.c.version.desc()).limit(1)).mappings().first()
            if previous is None:
                result.without_previous.append(external_id)
                continue
            conn.execute(sa.update(p).where(p.c.organization == organization, p.c.external_id == external_id).values(
                published_profile=previous["profile"], published_version=previous["version"],
                published_at=utcnow(), published_content_hash=previous["content_hash"],
                published_prompt_version=previous["prompt_version"], published_model=previous["model_answered"]))
            result.rolled_back.append(external_id)
    return result
