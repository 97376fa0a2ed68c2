"""Tables of the application database (SQLAlchemy Core).

Every table is keyed by ``organization`` first, so a partition's rows are one index range.
Timestamps are naive UTC. JSON columns are ``JSONB`` on PostgreSQL (comparable) and JSON
text on SQLite. Alembic migrations in ``enrichment_assets/migrations`` create exactly these
tables; a test compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def _org_key() -> sa.Column:
    return sa.Column("organization", sa.String(64), primary_key=True)


def _call_accounting() -> list[sa.Column]:
    """What every model-written row records: prompt version, requested model, the
    configured model that answered (``model_answered``: the primary or a fallback) and the
    name its server gave (``model_used``), tokens, cost (USD; NULL when the price is
    unknown, never 0), latency (ms) and attempts (requests sent)."""
    return [
        sa.Column("prompt_version", sa.String(100), nullable=False),
        sa.Column("model_requested", sa.String(200), nullable=False),
        sa.Column("model_answered", sa.String(200)),
        sa.Column("model_used", sa.String(200)),
        sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Float),
        sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    ]


#: One row per processed scrape file of an organization (the same bytes may arrive for two
#: organizations). ``status``: ``applied`` (trusted; a full scrape's removals applied),
#: ``quarantined`` (header invalid, no accepted listing, accepted share below the floor,
#: or the database refused a listing: its accepted listings are stored but it marks nothing
#: removed; ``reason`` says why), ``held`` (a full scrape whose removals would drop more than
#: the contract's share of the active listings: ``held_removals`` lists them until an
#: operator confirms). ``cut``: listings stored with a field cut to its maximum length.
scrape_files = sa.Table(
    "scrape_files",
    metadata,
    _org_key(),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    # the file's stat when it was processed (NULL before 0008): a file at ``path`` with the
    # same size and mtime is not read again (sources.landing.scan_landing)
    sa.Column("size", sa.BigInteger),
    sa.Column("mtime_ns", sa.BigInteger),
    sa.Column("scrape_id", sa.String(200)),
    sa.Column("full_scrape", sa.Boolean, nullable=False),
    sa.Column("scraped_at", sa.DateTime),
    sa.Column("lines", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("cut", sa.Integer, nullable=False, server_default="0"),
    sa.Column("removed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False, server_default="applied", index=True),
    sa.Column("reason", sa.Text),
    sa.Column("held_removals", JSONType),
    sa.Column("run_id", sa.String(64)),
    sa.Column("processed_at", sa.DateTime, nullable=False),
    sa.Column("confirmed_at", sa.DateTime),
)

raw_records = sa.Table(
    "raw_records",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("scrape_sha256", sa.String(64), nullable=False),
    sa.Column("scraped_at", sa.DateTime),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("removed_at", sa.DateTime),
    # why a field of the stored payload was cut (scrape contract maximum), else NULL
    sa.Column("cut_reason", sa.Text),
)

rejected_records = sa.Table(
    "rejected_records",
    metadata,
    _org_key(),
    sa.Column("stage", sa.String(32), primary_key=True),
    sa.Column("record_ref", sa.String(300), primary_key=True),
    sa.Column("external_id", sa.String(200)),
    sa.Column("scrape_sha256", sa.String(64)),
    sa.Column("line_no", sa.Integer),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("rejected_at", sa.DateTime, nullable=False),
)

normalized_records = sa.Table(
    "normalized_records",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("species", sa.String(16), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("listing", JSONType, nullable=False),
    # what the row was normalized from (NULL before 0008): the raw record's payload_hash and
    # pipeline.normalize.normalizer_version(); both equal -> the listing is not normalized again
    sa.Column("raw_hash", sa.String(64)),
    sa.Column("normalizer_version", sa.String(100)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

#: One row per listing holding two things apart (issue 10): the *latest attempt*
#: (``status``, ``profile``, ``reason``, ..., call accounting: what the last run got) and
#: the *published* profile (``published_*``: the last clean ``ok`` profile, or one rolled
#: back to). A failed or quarantined attempt never touches the published columns.
llm_profiles = sa.Table(
    "llm_profiles",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("profile", JSONType),
    sa.Column("reason", sa.Text),
    sa.Column("error_class", sa.String(100)),
    sa.Column("raw_output", sa.Text),
    sa.Column("content_hash", sa.String(64), nullable=False),
    *_call_accounting(),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("published_profile", JSONType),
    sa.Column("published_version", sa.Integer),
    sa.Column("published_at", sa.DateTime),
    sa.Column("published_content_hash", sa.String(64)),
    sa.Column("published_prompt_version", sa.String(100)),
    sa.Column("published_model", sa.String(200)),
)

#: Every profile ever published, per listing (``version`` 1, 2, ...): what
#: ``enrichment rollback`` publishes again.
profile_versions = sa.Table(
    "profile_versions",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("profile", JSONType, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("prompt_version", sa.String(100), nullable=False),
    sa.Column("model_answered", sa.String(200)),
    sa.Column("published_at", sa.DateTime, nullable=False),
)

#: The daily cap's counter (issue 10): one row per UTC day, ``spent_usd`` settled and
#: ``reserved_usd`` held by requests in flight. A request reserves with one conditional
#: UPDATE (atomic on SQLite and PostgreSQL, across processes).
llm_spend_days = sa.Table(
    "llm_spend_days",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("spent_usd", sa.Float, nullable=False),
    sa.Column("reserved_usd", sa.Float, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

quality_scores = sa.Table(
    "quality_scores",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("profile_hash", sa.String(64), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("components", JSONType, nullable=False),
    sa.Column("needs_review", sa.Boolean, nullable=False),
    sa.Column("reasons", JSONType, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # what the score was computed from (NULL before 0010): pipeline.quality.score_input_hash()
    # and rubric_version(); both equal -> the stored score stands, the profile is not scored again
    sa.Column("input_hash", sa.String(64)),
    sa.Column("rubric_version", sa.String(100)),
)

translations = sa.Table(
    "translations",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("language", sa.String(8), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("source_hash", sa.String(64), nullable=False),
    sa.Column("tagline", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("error_class", sa.String(100)),
    sa.Column("raw_output", sa.Text),
    *_call_accounting(),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

#: Columns a re-run may change without the row's content changing.
VOLATILE_COLUMNS = frozenset({"updated_at", "last_seen_at", "processed_at", "rejected_at", "detected_at"})

#: Append-only ledger: one row per model call (a listing's profile or one translation,
#: all attempts and repair turns included), written in the same transaction as the answer.
#: ``cost_usd`` is NULL when the price is unknown.
llm_calls = sa.Table(
    "llm_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("organization", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(200), nullable=False),
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("model_requested", sa.String(200), nullable=False),
    sa.Column("model_answered", sa.String(200)),
    sa.Column("model_used", sa.String(200)),
    sa.Column("prompt_version", sa.String(100), nullable=False),
    sa.Column("input_tokens", sa.Integer, nullable=False),
    sa.Column("output_tokens", sa.Integer, nullable=False),
    sa.Column("cost_usd", sa.Float),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error_class", sa.String(100)),
    sa.Column("called_at", sa.DateTime, nullable=False, index=True),
)

#: Alerts from failed asset checks and failed runs. ``dedupe_key`` makes each alert
#: unique (check execution record id, or run id); ``delivered_to`` lists sha256 prefixes
#: of the notification URLs that accepted it (URLs may hold tokens: never stored).
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("check_name", sa.String(200)),
    sa.Column("asset", sa.String(200)),
    sa.Column("partition", sa.String(64)),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("delivered_to", JSONType, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
)

#: Review decisions (issue 12): one row per decision, never updated. ``decision`` is
#: ``approved`` or ``rejected``; ``reviewer`` the OS user (or ``--reviewer``), ``note`` why,
#: ``decided_at`` naive UTC. ``attempt_status`` is the latest attempt's status when decided
#: (``quarantined`` or ``ok``), ``content_hash`` / ``prompt_version`` the reviewed attempt's,
#: and ``published_version`` the profile version the decision is about (an approval holds only
#: while that version is the published one).
review_decisions = sa.Table(
    "review_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("organization", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(200), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("attempt_status", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("prompt_version", sa.String(100), nullable=False),
    sa.Column("published_version", sa.Integer),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Index("ix_review_decisions_listing", "organization", "external_id"),
)

#: Hallucination-rule violations of the current profiles (and translations): one row per
#: (listing, target, rule, field). ``target`` is ``profile`` or a translation language.
#: Replaced as a set per organization each time the rules run.
#: One row per item the hallucination rules last checked (issue 13): ``input_hash`` of what
#: was checked (listing, profile and, for a translation, its text) and ``rules_version``
#: (pipeline.hallucination.rules_version()). Both equal -> the stored violations stand and
#: the item is not checked again. ``target``: ``profile`` or a language code.
rule_checks = sa.Table(
    "rule_checks",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(16), primary_key=True),
    sa.Column("input_hash", sa.String(64), nullable=False),
    sa.Column("rules_version", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

violations = sa.Table(
    "violations",
    metadata,
    _org_key(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(16), primary_key=True),
    sa.Column("rule", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("detected_at", sa.DateTime, nullable=False),
)

#: The inputs of each organization's last complete and clean ``enrichment run`` (issue 11):
#: ``fingerprint`` (sha256 hex, :func:`enrichment_assets.pipeline.freshness.fingerprints`),
#: the Dagster ``run_id`` and ``recorded_at`` (naive UTC). A run whose fingerprint is this one
#: is skipped; commands that change an organization outside a run delete its row.
run_fingerprints = sa.Table(
    "run_fingerprints",
    metadata,
    _org_key(),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
)
