"""Which listings a run sends to the model, and what that would cost (issue 12).

Pure planning, no Dagster and no writes: the profile stage
(:func:`enrichment_assets.pipeline.profiles.profile_organization`) and ``enrichment run
--dry-run`` / ``--limit`` all decide with :func:`decide_listings`, so a dry run shows exactly
what a run would send.

Selection rules
---------------
- A listing is *sent* when it needs a profile (:func:`is_up_to_date` is false: new or changed
  content, prompt version or requested model, a ``failed``/``budget_exhausted`` attempt, or an
  answer from a fallback model, or a ``rejected`` attempt: a reviewer's rejection is not a final
  status, so the listing is sent once more although its content hash is unchanged), or always
  with ``force``. Listings that are not dogs or whose
  usable description is too short are *skipped* with their status (never sent, even with
  ``force``). The rest are *reused*.
- ``--limit N`` (:func:`allocate_limit`): the listings to send of all selected organizations
  are taken round-robin: organizations in name order, within an organization in external-id
  order; the first of every organization, then the second of every organization, ... until N
  are taken. Each organization's share is its *quota*: its run sends the first ``quota`` of
  its listings to send (external-id order) and leaves the others as they are for the next run.

Estimates (:func:`estimate_plan`)
---------------------------------
- Input tokens: ``litellm.token_counter(model=<configured model>, messages=<rendered prompt>)``
  per listing (the structured-output schema sent as ``response_format`` is not counted).
- Expected output tokens per listing: the mean ``output_tokens`` of the ledger's ``ok`` profile
  calls of this model and prompt version (``llm_calls``; repair turns and retries included), or
  of this model with any prompt version, else ``ENRICHMENT_LLM_ESTIMATE_OUTPUT_TOKENS``
  (default 600). The source is printed.
- Cost: tokens times the price the client would charge (price file, configured price,
  LiteLLM's map; ``offline/`` and ``ollama/`` are free). No known price: cost ``None``
  (printed ``unknown``), never 0.
- Listings of scrape files still pending in the landing folder are included (parsed and
  normalized in memory); removals a pending full scrape would make are not (an upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from enrichment_assets.domain.grounding import assess_source, find_boilerplate
from enrichment_assets.domain.models import NormalizedListing, ProfileStatus
from enrichment_assets.llm.prompts import PromptConfig

#: Statuses that stand until the listing, the prompt or the model changes.
FINAL_STATUSES = frozenset({ProfileStatus.OK, ProfileStatus.QUARANTINED,
                            ProfileStatus.INSUFFICIENT_SOURCE, ProfileStatus.NOT_A_DOG})

SEND, REUSE, SKIP = "send", "reuse", "skip"


def is_up_to_date(stored: dict[str, Any] | None, listing: NormalizedListing,
                  prompt_version: str, model: str) -> bool:
    """True when ``stored`` (a profile row) still stands for ``listing``: no call needed.

    An answer written by a fallback model is not up to date: the requested model is asked
    again on the next run.
    """
    if (stored is None or stored["status"] not in FINAL_STATUSES
            or stored["content_hash"] != listing.content_hash
            or stored["prompt_version"] != prompt_version or stored["model_requested"] != model):
        return False
    answered = stored.get("model_answered")
    return stored["status"] not in (ProfileStatus.OK, ProfileStatus.QUARANTINED) or answered in (None, model)


@dataclass
class Decision:
    """What the profile stage does with one listing: ``action`` is ``send``, ``reuse`` or
    ``skip``; ``status``/``reason`` are the stored status of a skip (or the reused row's
    status); ``usable_text`` is the description sent to the model (``send`` only)."""

    listing: NormalizedListing
    action: str
    status: str | None = None
    reason: str | None = None
    usable_text: str | None = None


def decide_listings(listings: list[NormalizedListing], stored: dict[str, dict[str, Any]], config: PromptConfig,
                    model: str, force: bool = False) -> list[Decision]:
    """One :class:`Decision` per listing, in the order of ``listings`` (external-id order
    when they come from :func:`~enrichment_assets.pipeline.normalize.load_listings`).

    ``stored`` maps external id to its profile row (``llm_profiles``); ``force`` sends
    listings that are up to date too (skips stay skips).
    """
    boilerplate = list(config.boilerplate) + find_boilerplate([l.description for l in listings])
    out: list[Decision] = []
    for listing in listings:
        previous = stored.get(listing.external_id)
        if not force and is_up_to_date(previous, listing, config.prompt_version, model):
            out.append(Decision(listing, REUSE, status=previous["status"]))
            continue
        if listing.species not in ("dog", "unknown"):
            out.append(Decision(listing, SKIP, ProfileStatus.NOT_A_DOG.value, f"species is {listing.species!r}"))
            continue
        assessment = assess_source(listing, boilerplate, config.min_source_chars)
        if not assessment.sufficient:
            out.append(Decision(listing, SKIP, ProfileStatus.INSUFFICIENT_SOURCE.value, assessment.reason))
        else:
            out.append(Decision(listing, SEND, usable_text=assessment.usable_text))
    return out


def allocate_limit(to_send: dict[str, int], limit: int | None) -> dict[str, int | None]:
    """Quota per organization for ``--limit`` (see the module docstring: round-robin over
    organizations in name order). ``to_send`` maps organization to how many listings it
    would send; ``limit`` None gives every organization ``None`` (no limit).

    The quotas add up to ``min(limit, sum(to_send))``.

    Raises:
        ValueError: for a negative limit.
    """
    if limit is None:
        return {org: None for org in to_send}
    if limit < 0:
        raise ValueError(f"--limit must be >= 0, not {limit}")
    quota = {org: 0 for org in to_send}
    left = limit
    orgs = sorted(to_send)
    while left > 0:
        progressed = False
        for org in orgs:
            if left and quota[org] < to_send[org]:
                quota[org] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return quota


def organization_listings(engine: sa.Engine, landing: Path, organization: str) -> list[NormalizedListing]:
    """The listings a run of ``organization`` would see: the stored normalized listings with
    the accepted records of its pending scrape files (oldest scrape first) normalized in
    memory on top; external-id order. Reads only; records that fail normalization are left out.
    """
    from datetime import datetime

    from enrichment_assets.domain.normalize import NormalizationError, normalize_record
    from enrichment_assets.pipeline.normalize import load_listings
    from enrichment_assets.pipeline.raw import parse_scrape, pending_scrape_files, read_scraped_at

    by_id = {l.external_id: l for l in load_listings(engine, organization)}
    pending = [(read_scraped_at(f), f) for f in pending_scrape_files(engine, landing, organization, record_stats=False)]
    pending.sort(key=lambda item: (item[0] is None, item[0] or datetime.min, item[1].path.name))
    for scraped_at, scrape in pending:
        try:
            parsed = parse_scrape(scrape)
        except OSError:
            continue
        for line in parsed.accepted:
            payload = line.record.model_dump(mode="json", exclude_none=True)
            try:
                by_id[line.record.external_id] = normalize_record(organization, payload, scraped_at)
            except NormalizationError:
                continue
    return [by_id[k] for k in sorted(by_id)]


@dataclass
class OrganizationPlan:
    """The dry-run figures of one organization.

    ``send``: listings that would be sent (after ``--limit``), ``deferred``: listings that
    need a profile but are over the limit; ``input_tokens`` (LiteLLM's token counter),
    ``output_tokens`` (expected: ``send`` times the per-listing figure), ``cost_usd`` (None
    when the price is unknown).
    """

    organization: str
    listings: int = 0
    send: list[str] = field(default_factory=list)
    deferred: int = 0
    reused: int = 0
    skipped: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    prompt_version: str = ""


@dataclass
class RunPlan:
    """The dry run of ``enrichment run``: per organization plans and the totals.

    ``output_tokens_per_listing`` and ``output_source`` say where the expected output figure
    comes from (``ledger: model+prompt``, ``ledger: model`` or ``default``); ``price_known``
    is False when the model has no price (costs are then None).
    """

    model: str
    organizations: list[OrganizationPlan]
    output_tokens_per_listing: dict[str, float]
    output_source: dict[str, str]
    price_known: bool

    @property
    def send(self) -> int:
        return sum(len(o.send) for o in self.organizations)

    @property
    def input_tokens(self) -> int:
        return sum(o.input_tokens for o in self.organizations)

    @property
    def output_tokens(self) -> int:
        return sum(o.output_tokens for o in self.organizations)

    @property
    def cost_usd(self) -> float | None:
        if not self.price_known:
            return None
        return sum(o.cost_usd or 0.0 for o in self.organizations)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``cost_usd`` None when unknown)."""
        return {"model": self.model, "price_known": self.price_known, "send": self.send,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "cost_usd": self.cost_usd,
                "organizations": [{**o.__dict__} for o in self.organizations]}


def expected_output_tokens(engine: sa.Engine, model: str, prompt_version: str, default: int) -> tuple[float, str]:
    """Expected output tokens of one profile call and where the figure comes from (see the
    module docstring): ``(tokens, "ledger: model+prompt (n calls)" | "ledger: model (n calls)" | "default")``."""
    from enrichment_assets.storage.schema import llm_calls

    c = llm_calls.c
    base = sa.select(sa.func.avg(c.output_tokens), sa.func.count()).where(
        c.task == "profile", c.status == "ok", c.model_requested == model, c.output_tokens > 0)
    with engine.connect() as conn:
        mean, n = conn.execute(base.where(c.prompt_version == prompt_version)).one()
        if n:
            return float(mean), f"ledger: model+prompt ({n} calls)"
        mean, n = conn.execute(base).one()
        if n:
            return float(mean), f"ledger: model ({n} calls)"
    return float(default), "default"


def count_tokens(model: str, messages: list[dict[str, str]]) -> int:
    """Input tokens of ``messages`` for ``model`` by ``litellm.token_counter`` (its default
    tokenizer, tiktoken cl100k, for models it has no tokenizer for)."""
    from enrichment_assets.llm.client import import_litellm

    return int(import_litellm().token_counter(model=model, messages=messages))


def plan_run(engine: sa.Engine, landing: Path, organizations: list[str], client, configs: dict[str, PromptConfig],
             force: bool = False, limit: int | None = None, default_output_tokens: int = 600) -> RunPlan:
    """What ``enrichment run`` would send and spend (reads only; no model call).

    ``client`` is an :class:`~enrichment_assets.llm.client.LLMClient` (only its model and
    :meth:`price` are used); ``configs`` maps each organization to its prompt config.
    """
    from enrichment_assets.llm.prompts import render_profile_messages
    from enrichment_assets.pipeline.profiles import load_profile_rows

    model = client.settings.model
    price = client.price(model)
    decisions: dict[str, list[Decision]] = {}
    for org in sorted(organizations):
        listings = organization_listings(engine, landing, org)
        decisions[org] = decide_listings(listings, load_profile_rows(engine, org), configs[org], model, force)
    quotas = allocate_limit({o: sum(d.action == SEND for d in ds) for o, ds in decisions.items()}, limit)
    per_listing: dict[str, float] = {}
    sources: dict[str, str] = {}
    plans = []
    for org, ds in decisions.items():
        config = configs[org]
        if config.prompt_version not in per_listing:
            per_listing[config.prompt_version], sources[config.prompt_version] = expected_output_tokens(
                engine, model, config.prompt_version, default_output_tokens)
        plan = OrganizationPlan(org, listings=len(ds), prompt_version=config.prompt_version)
        sending = [d for d in ds if d.action == SEND]
        quota = quotas[org]
        chosen = sending if quota is None else sending[:quota]
        plan.deferred = len(sending) - len(chosen)
        plan.reused = sum(d.action == REUSE for d in ds)
        plan.skipped = sum(d.action == SKIP for d in ds)
        for d in chosen:
            messages = render_profile_messages(d.listing, config, description=d.usable_text)
            plan.send.append(d.listing.external_id)
            plan.input_tokens += count_tokens(model, messages)
        plan.output_tokens = round(per_listing[config.prompt_version] * len(chosen))
        plan.cost_usd = (None if price is None else
                         plan.input_tokens * price.input_per_token + plan.output_tokens * price.output_per_token)
        plans.append(plan)
    return RunPlan(model=model, organizations=plans, output_tokens_per_listing=per_listing,
                   output_source=sources, price_known=price is not None)


def run_quotas(engine: sa.Engine, landing: Path, organizations: list[str], model: str,
               configs: dict[str, PromptConfig], force: bool, limit: int | None) -> dict[str, int | None]:
    """Per organization quota of listings to send for ``enrichment run --limit`` (None: no
    limit), computed from the state before the run (reads only)."""
    from enrichment_assets.pipeline.profiles import load_profile_rows

    if limit is None:
        return {org: None for org in organizations}
    counts = {}
    for org in sorted(organizations):
        listings = organization_listings(engine, landing, org)
        ds = decide_listings(listings, load_profile_rows(engine, org), configs[org], model, force)
        counts[org] = sum(d.action == SEND for d in ds)
    return allocate_limit(counts, limit)
