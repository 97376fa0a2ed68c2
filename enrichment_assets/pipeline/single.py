"""One listing end to end (``enrichment profile ORG EXTERNAL_ID``, issue 12).

:func:`profile_listing` renders the prompt, calls the model, parses the profile, applies every
hallucination rule, scores it with the rubric and translates it into the organization's
target languages, and returns everything in a :class:`ListingReport` for printing.

Without ``save`` nothing is written: the listing comes from the database or, when its scrape
file is still pending, from the landing folder (normalized in memory); the ledger gets no
row. With ``save`` the organization's pending scrape files are ingested and normalized first
and the listing goes through the stage functions a run uses
(:func:`~enrichment_assets.pipeline.profiles.profile_organization` with ``only`` and
``force``, the profile rules, the rubric of the organization, and
:func:`~enrichment_assets.pipeline.translations.translate_organization` with ``only``), so
the rows (profile, published version, violations, quality score, translations, ledger) are
the ones a run would store. The next ``enrichment run`` finds it up to date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from enrichment_assets.llm.client import CallResult, LLMClient
from enrichment_assets.llm.prompts import PromptConfig


class ListingNotFound(LookupError):
    """No listing with that external id in the database or the pending scrape files."""


@dataclass
class ListingReport:
    """What happened to one listing.

    ``action``: ``send`` (the model was asked) or ``skip`` (``status``/``reason`` say why:
    ``not_a_dog``, ``insufficient_source``). ``status`` after a call: ``ok``,
    ``quarantined`` (an ERROR rule; not published, not translated), ``failed`` or
    ``budget_exhausted``. ``answer``: the validated answer as JSON (the raw text on a
    failure). ``violations``: ``{"field", "rule", "evidence", "severity"}`` dicts.
    ``quality``: ``{"score", "components", "needs_review", "reasons"}`` or None.
    ``translations``: language -> ``{"status", "tagline", "description", "reason", "violations"}``.
    ``call``: tokens, cost (USD, None when unknown), latency, attempts, models.
    """

    organization: str
    external_id: str
    model: str
    prompt_version: str
    action: str
    status: str | None = None
    reason: str | None = None
    messages: list[dict[str, str]] | None = None
    answer: str | None = None
    profile: dict[str, Any] | None = None
    violations: list[dict[str, str]] = field(default_factory=list)
    quality: dict[str, Any] | None = None
    translations: dict[str, dict[str, Any]] = field(default_factory=dict)
    call: dict[str, Any] = field(default_factory=dict)
    saved: bool = False


def _call_summary(call: CallResult) -> dict[str, Any]:
    return {"model_answered": call.model_answered, "model_used": call.model_used, "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens, "cost_usd": call.cost_usd, "latency_ms": round(call.latency_ms, 1),
            "attempts": call.attempts, "format_mode": call.format_mode, "error_class": call.error_class,
            "error": call.error}


def _answer(call: CallResult) -> str | None:
    return call.value.model_dump_json(indent=2) if call.value is not None else call.raw_output


def profile_listing(engine: sa.Engine, landing: Path, organization: str, external_id: str, client: LLMClient,
                    config: PromptConfig, save: bool = False) -> ListingReport:
    """Run ``external_id`` of ``organization`` through every stage (see the module docstring).

    Raises:
        ListingNotFound: no such listing (stored or pending).
    """
    if save:
        return _profile_and_save(engine, landing, organization, external_id, client, config)
    return _profile_in_memory(engine, landing, organization, external_id, client, config)


def _profile_in_memory(engine: sa.Engine, landing: Path, organization: str, external_id: str, client: LLMClient,
                       config: PromptConfig) -> ListingReport:
    from enrichment_assets.domain.hallucination import check_profile, check_translation
    from enrichment_assets.domain.models import DogProfile, TranslatedProfileText
    from enrichment_assets.domain.quality import repeated_sentences, score_profile
    from enrichment_assets.llm.prompts import render_profile_messages, render_translation_messages
    from enrichment_assets.pipeline.calls import call_status, run_structured_calls
    from enrichment_assets.pipeline.planning import SEND, decide_listings, organization_listings
    from enrichment_assets.pipeline.profiles import load_published_profiles
    from enrichment_assets.pipeline.translations import PROFILE_LANGUAGE

    listings = organization_listings(engine, landing, organization)
    decisions = {d.listing.external_id: d for d in decide_listings(listings, {}, config, client.settings.model,
                                                                   force=True)}
    decision = decisions.get(external_id)
    if decision is None:
        raise ListingNotFound(f"{organization}: no listing {external_id!r} in the database or the landing folder")
    report = ListingReport(organization, external_id, client.settings.model, config.prompt_version, decision.action,
                           status=decision.status, reason=decision.reason)
    if decision.action != SEND:
        return report
    listing = decision.listing
    report.messages = render_profile_messages(listing, config, description=decision.usable_text)
    call = run_structured_calls(client, [report.messages], DogProfile, "profile")[0]
    report.call = _call_summary(call)
    report.answer = _answer(call)
    report.status = call_status(call)
    if call.value is None:
        report.reason = call.error
        return report
    profile: DogProfile = call.value  # type: ignore[assignment]
    report.profile = profile.model_dump(mode="json")
    found = check_profile(listing, profile)
    report.violations = [v.as_dict() for v in found]
    errors = sorted({v.rule for v in found if v.severity == "error"})
    others = [DogProfile.model_validate(p["profile"]) for eid, p in load_published_profiles(engine, organization).items()
              if eid != external_id]
    score = score_profile(listing, profile, violations=found, cliches=config.cliches,
                          repeated=repeated_sentences([*others, profile]))
    report.quality = score.model_dump()
    languages = [lang for lang in config.metadata.target_languages if lang != PROFILE_LANGUAGE]
    if errors:
        report.status = "quarantined"
        report.reason = "quarantined for review: breaks ERROR rule(s) " + ", ".join(errors)
        report.translations = {lang: {"status": "blocked_by_check", "reason": report.reason} for lang in languages}
        return report
    conversations = [render_translation_messages(profile, listing, lang, config) for lang in languages]
    for lang, done in zip(languages, run_structured_calls(client, conversations, TranslatedProfileText,
                                                          "translation")):
        value: TranslatedProfileText | None = done.value  # type: ignore[assignment]
        entry: dict[str, Any] = {"status": call_status(done), "tagline": None, "description": None,
                                 "reason": done.error, "violations": []}
        if value is not None:
            entry.update(tagline=value.tagline, description=value.description, reason=None)
            entry["violations"] = [v.as_dict() for v in check_translation(
                listing, profile, value.language, value.tagline, value.description, lang)]
        report.translations[lang] = entry
    return report


def _profile_and_save(engine: sa.Engine, landing: Path, organization: str, external_id: str, client: LLMClient,
                      config: PromptConfig) -> ListingReport:
    from enrichment_assets.domain.hallucination import check_profile
    from enrichment_assets.pipeline.hallucination import evaluate_profiles, evaluate_translations
    from enrichment_assets.pipeline.normalize import normalize_organization
    from enrichment_assets.pipeline.profiles import load_profile_rows, profile_organization
    from enrichment_assets.pipeline.quality import score_organization
    from enrichment_assets.pipeline.raw import ingest_organization
    from enrichment_assets.pipeline.translations import translate_organization
    from enrichment_assets.storage.locks import exclusive
    from enrichment_assets.storage.schema import quality_scores, translations, violations

    ingest_organization(engine, landing, organization)
    normalize_organization(engine, organization)
    seen: dict[str, Any] = {}

    def observe(listing, messages, call: CallResult) -> None:
        seen.update(listing=listing, messages=messages, call=call)

    # the lock the llm_profiles asset takes: a run of this organization and this command
    # never write the same listing at once
    with exclusive(engine, f"model-stage:{organization}", wait_s=client.settings.deadline_s):
        result = profile_organization(engine, organization, client, config, force=True, only={external_id},
                                      observer=observe)
    if result.listings == 0:
        raise ListingNotFound(f"{organization}: no listing {external_id!r} in the database or the landing folder")
    row = load_profile_rows(engine, organization)[external_id]
    report = ListingReport(organization, external_id, client.settings.model, config.prompt_version,
                           "send" if seen else "skip", status=row["status"], reason=row["reason"], saved=True)
    if not seen:
        return report
    call: CallResult = seen["call"]
    report.messages, report.call, report.answer = seen["messages"], _call_summary(call), _answer(call)
    if call.value is None:
        return report
    report.profile = call.value.model_dump(mode="json")
    report.violations = [v.as_dict() for v in check_profile(seen["listing"], call.value)]  # type: ignore[arg-type]
    evaluate_profiles(engine, organization)
    score_organization(engine, organization, config.cliches)
    translate_organization(engine, organization, client, config, only={external_id})
    evaluate_translations(engine, organization)
    with engine.connect() as conn:
        scored = conn.execute(sa.select(quality_scores).where(
            quality_scores.c.organization == organization, quality_scores.c.external_id == external_id)
        ).mappings().first()
        rows = conn.execute(sa.select(translations).where(
            translations.c.organization == organization, translations.c.external_id == external_id)
        ).mappings().all()
        found = conn.execute(sa.select(violations).where(
            violations.c.organization == organization, violations.c.external_id == external_id)).mappings().all()
    if scored is not None and row["status"] == "ok":
        report.quality = {k: scored[k] for k in ("score", "components", "needs_review", "reasons")}
    for t in rows:
        report.translations[t["language"]] = {
            "status": t["status"], "tagline": t["tagline"], "description": t["description"], "reason": t["reason"],
            "violations": [{k: v[k] for k in ("field", "rule", "evidence", "severity")}
                           for v in found if v["target"] == t["language"]]}
    return report
