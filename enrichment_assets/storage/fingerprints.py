"""SQL of skipping unchanged organizations (issue 11): ``run_fingerprints`` rows and the
per-organization facts a fingerprint or a skip depends on, for all organizations at once."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

import sqlalchemy as sa

from enrichment_assets.storage.schema import llm_profiles, review_decisions, run_fingerprints, translations

#: Latest-attempt statuses that mean an organization's last run left work for the next one.
INCOMPLETE_STATUSES = ("failed", "budget_exhausted")


def review_marks(engine: sa.Engine) -> dict[str, tuple[int, int]]:
    """organization -> (number of review decisions, highest decision id); organizations
    without a decision are absent."""
    r = review_decisions.c
    query = sa.select(r.organization, sa.func.count(), sa.func.max(r.id)).group_by(r.organization)
    with engine.connect() as conn:
        return {org: (int(n), int(top)) for org, n, top in conn.execute(query)}


def incomplete_organizations(engine: sa.Engine) -> set[str]:
    """Organizations with a listing profile or translation whose latest status is in
    :data:`INCOMPLETE_STATUSES`."""
    queries = [sa.select(t.c.organization).where(t.c.status.in_(INCOMPLETE_STATUSES)).distinct()
               for t in (llm_profiles, translations)]
    with engine.connect() as conn:
        return {org for query in queries for (org,) in conn.execute(query)}


def recorded_fingerprints(engine: sa.Engine) -> dict[str, tuple[str, str, datetime]]:
    """organization -> (fingerprint, run_id, recorded_at naive UTC) of every stored row."""
    c = run_fingerprints.c
    with engine.connect() as conn:
        return {org: (fp, run_id, at) for org, fp, run_id, at in
                conn.execute(sa.select(c.organization, c.fingerprint, c.run_id, c.recorded_at))}


def forget_fingerprints(engine: sa.Engine, organizations: Collection[str]) -> None:
    """Delete the rows of ``organizations``: their next run runs whatever the inputs."""
    if not organizations:
        return
    orgs = sorted(organizations)
    with engine.begin() as conn:
        for start in range(0, len(orgs), 500):
            conn.execute(sa.delete(run_fingerprints).where(
                run_fingerprints.c.organization.in_(orgs[start:start + 500])))


def record_fingerprints(engine: sa.Engine, rows: Mapping[str, tuple[str, str]], at: datetime) -> None:
    """Store organization -> (fingerprint, run_id) recorded at ``at`` (naive UTC), replacing
    earlier rows of those organizations."""
    if not rows:
        return
    forget_fingerprints(engine, rows.keys())
    with engine.begin() as conn:
        conn.execute(sa.insert(run_fingerprints), [
            {"organization": org, "fingerprint": fp, "run_id": run_id, "recorded_at": at}
            for org, (fp, run_id) in sorted(rows.items())])
