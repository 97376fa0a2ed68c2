"""Stage 5, ``translations``: profile text into the organization's target languages.

Only published profiles are translated (a failed or quarantined attempt neither gets a
translation nor removes the published profile's). A translation is requested again only
when the published profile, the target language, the prompt version or the model changed
(``source_hash``), the stored one failed, or a fallback model wrote it. Each answer is
stored as it arrives, with its ledger row (same status as the stored row). A failed or
budget-stopped attempt never replaces a stored ``ok`` translation: the good one stays (it is
requested again on the next run, its ``source_hash`` being old) and the attempt is counted
and kept in the ledger only.

All organizations of a run share one pool of calls (:func:`translate_organizations`, as the
profile stage does): one concurrency limit, one rate limiter and one run budget.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from enrichment_assets.domain.models import DogProfile, NormalizedListing, TranslatedProfileText
from enrichment_assets.llm.client import LLMClient
from enrichment_assets.llm.prompts import PromptConfig, render_translation_messages
from enrichment_assets.pipeline.calls import (
    NO_CALL, CallPlan, call_accounting, call_status, ledger_row, record_calls, run_pooled, with_db_retry,
)
from enrichment_assets.pipeline.hallucination import load_violations
from enrichment_assets.pipeline.normalize import load_listings
from enrichment_assets.pipeline.profiles import load_published_profiles
from enrichment_assets.storage.review import approved_ids
from enrichment_assets.storage.database import stable_hash, sync_rows, upsert, utcnow
from enrichment_assets.storage.schema import translations

#: Language the profile stage writes in (the default prompt asks for English).
PROFILE_LANGUAGE = "en"


@dataclass
class TranslationResult:
    """What one ``translations`` materialization did for one organization."""

    organization: str
    languages: list[str] = field(default_factory=list)
    requested: int = 0
    reused: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    written: int = 0
    deleted: int = 0
    interrupted: int = 0
    rate_limited: int = 0
    models: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    kept_previous: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)


def translate_organization(
    engine: sa.Engine,
    organization: str,
    client: LLMClient,
    config: PromptConfig,
    on_progress: Callable[[int], None] | None = None,
    only: set[str] | None = None,
) -> TranslationResult:
    """Translate every published profile into each target language of ``config``.

    ``only``: restrict the stage to those external ids (``enrichment profile --save``);
    the other listings' translations are left as they are.

    Profiles that violate an ERROR hallucination rule are not translated: their rows are
    stored with status ``blocked_by_check`` and the rules named in the reason (unless a
    reviewer approved that published profile: ``enrichment review approve``).

    Returns counts per status of the translations wanted (a failed attempt that left a good
    stored one in place counts as ``failed`` and in ``kept_previous``), calls, tokens, cost
    and the model mix of this run's calls.
    """
    plan = plan_translations(engine, organization, client, config, on_progress, only=only)
    return run_pooled(client, [plan], TranslatedProfileText, "translation", on_progress)[organization]


def translate_organizations(
    engine: sa.Engine,
    organizations: list[str],
    client: LLMClient,
    configs: dict[str, PromptConfig],
    on_progress: Callable[[int], None] | None = None,
    on_planned: Callable[[int], None] | None = None,
) -> dict[str, TranslationResult]:
    """:func:`translate_organization` for many organizations at once, sharing ``client``:
    every organization is planned first, then all their translation requests go through one
    pool (:func:`~enrichment_assets.pipeline.calls.run_pooled`), so throughput does not
    depend on how listings are spread over organizations. A failed call is stored as that
    organization's failure; the other organizations go on. Returns organization -> result,
    in ``organizations`` order.

    Progress counts translation requests (one per listing and target language), not
    listings: ``on_planned(total)`` is called once every organization is planned, then
    ``on_progress(1)`` per finished request, ``total`` times in all.

    Raises:
        sqlalchemy.exc.OperationalError: the database refuses writes for longer than
            ``ENRICHMENT_DB_WRITE_RETRY_S`` (the answers stored before stay).
    """
    plans = [plan_translations(engine, org, client, configs[org]) for org in organizations]
    if on_planned is not None:
        on_planned(sum(len(plan.conversations) for plan in plans))
    return run_pooled(client, plans, TranslatedProfileText, "translation", on_progress)


def plan_translations(
    engine: sa.Engine,
    organization: str,
    client: LLMClient,
    config: PromptConfig,
    on_progress: Callable[[int], None] | None = None,
    only: set[str] | None = None,
) -> CallPlan[TranslationResult]:
    """Decide and store what needs no call for ``organization`` (reused and
    ``blocked_by_check`` rows, as :func:`translate_organization` documents) and return the
    :class:`~enrichment_assets.pipeline.calls.CallPlan` of the translation requests still
    to make; its ``finish()`` deletes the translations no longer wanted."""
    languages = [lang for lang in config.metadata.target_languages if lang != PROFILE_LANGUAGE]
    result = TranslationResult(organization=organization, languages=languages)
    listings = {l.external_id: l for l in load_listings(engine, organization)}
    with engine.connect() as conn:
        stored = {
            (r["external_id"], r["language"]): dict(r)
            for r in conn.execute(sa.select(translations).where(translations.c.organization == organization)).mappings()
            if only is None or r["external_id"] in only
        }
    from enrichment_assets.settings import get_settings

    patience_s = get_settings().db_write_retry_s
    model = client.settings.model
    now = utcnow()
    blocking = {eid: sorted({v.rule for v in found if v.severity == "error"})
                for eid, found in load_violations(engine, organization).items()}
    with engine.connect() as conn:
        approved = approved_ids(conn, organization)  # a reviewer approved the profile despite its rules
    blocking = {eid: rules for eid, rules in blocking.items() if rules and eid not in approved}
    jobs: list[tuple[NormalizedListing, DogProfile, str, dict[str, Any]]] = []
    rows: list[dict[str, Any]] = []
    statuses: Counter[str] = Counter()
    wanted: set[tuple[str, str]] = set()
    for external_id, published in sorted(load_published_profiles(engine, organization).items()):
        listing = listings.get(external_id)
        if listing is None or (only is not None and external_id not in only):
            continue
        for language in languages:
            wanted.add((external_id, language))
            result.requested += 1
            source_hash = stable_hash([published["profile"], published["content_hash"], language,
                                       config.prompt_version, model])
            previous = stored.get((external_id, language))
            row = {
                "organization": organization, "external_id": external_id, "language": language,
                "status": None, "source_hash": source_hash, "tagline": None, "description": None,
                "reason": None, "error_class": None, "raw_output": None,
                "prompt_version": config.prompt_version, "model_requested": model, **NO_CALL,
                "updated_at": now,
            }
            if external_id in blocking:
                row.update(status="blocked_by_check",
                           reason="profile violates ERROR rule(s): " + ", ".join(blocking[external_id]))
                rows.append(row)
                statuses["blocked_by_check"] += 1
                continue
            rows.append(row)
            if (previous and previous["status"] == "ok" and previous["source_hash"] == source_hash
                    and previous.get("model_answered") in (None, model)):
                result.reused += 1
                statuses["ok"] += 1
                if on_progress:
                    on_progress(1)
                continue
            jobs.append((listing, DogProfile.model_validate(published["profile"]), language, row))

    blocked = [r for r in rows if r["status"] == "blocked_by_check"]
    if blocked:
        with engine.begin() as conn:
            result.written += sync_rows(conn, translations, blocked).written
    models: Counter[str] = Counter()

    def store(index: int, call) -> None:
        listing, _, language, row = jobs[index]
        if call.interrupted:
            result.interrupted += 1
            return
        row.update(call_accounting(call), updated_at=utcnow())
        value = call.value
        if value is not None and value.language != language:
            row.update(status="failed", error_class="WrongLanguage",
                       reason=f"asked for {language!r}, answer says {value.language!r}",
                       raw_output=value.model_dump_json())
        elif value is not None:
            row.update(status="ok", tagline=value.tagline, description=value.description)
        else:
            row.update(status=call_status(call), reason=call.error, error_class=call.error_class,
                       raw_output=call.raw_output)
        if row["status"] == "failed":
            result.failures.append(f"{listing.external_id}/{language}: {row['error_class']}: {row['reason']}")
        ledger = ledger_row(organization, f"{listing.external_id}/{language}", "translation",
                            config.prompt_version, call, row["status"])
        previous = stored.get((listing.external_id, language))
        keep = row["status"] != "ok" and previous is not None and previous["status"] == "ok"

        def work(conn) -> None:
            if not keep:  # a failed attempt never replaces a good stored translation
                upsert(conn, translations, [row])
            record_calls(conn, [ledger])

        with_db_retry(engine, work, patience_s)
        if keep:
            result.kept_previous += 1
        else:
            result.written += 1
        statuses[row["status"]] += 1
        result.calls += call.attempts
        result.rate_limited += call.rate_limited
        result.input_tokens += call.input_tokens
        result.output_tokens += call.output_tokens
        result.cost_usd += call.cost_usd or 0.0
        if call.model_answered:
            models[call.model_answered] += 1

    conversations = [render_translation_messages(p, l, lang, config) for l, p, lang, _ in jobs]

    def finish() -> TranslationResult:
        with engine.begin() as conn:
            for external_id, language in sorted(set(stored) - wanted):
                result.deleted += conn.execute(sa.delete(translations).where(
                    translations.c.organization == organization, translations.c.external_id == external_id,
                    translations.c.language == language)).rowcount or 0
        result.models = dict(models)
        result.statuses = dict(statuses)
        result.preview = [{"external_id": r["external_id"], "language": r["language"], "status": r["status"],
                           "tagline": r["tagline"]} for r in rows[:10] if r["status"]]
        return result

    return CallPlan(organization, conversations, store, finish)
