"""Alerts: stored once, delivered to every notification URL, retried until delivered.

Delivery goes through apprise, so any URL it understands works (``slack://``,
``mailto://``, ``json://`` webhooks, ...). Notification URLs often carry tokens, so they
are never stored or logged: rows keep sha256 prefixes of the URLs that accepted an alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, Field

from enrichment_assets.storage.database import utcnow
from enrichment_assets.storage.schema import alerts

#: Maximum delivery attempts before an alert is only kept (and shown) but no longer sent.
MAX_ATTEMPTS = 20


class Alert(BaseModel):
    """An alert as the sensors (and ``raw_records``) raise it (the alert boundary's contract).

    ``kind``: ``check`` (a failed asset check), ``run`` (a failed run), ``scrape_file`` (a
    scrape file quarantined or holding its removals, raised by the ingest itself).
    """

    dedupe_key: str = Field(min_length=1, max_length=200)
    kind: Literal["check", "run", "scrape_file"]
    severity: Literal["ERROR", "WARN"]
    summary: str = Field(min_length=1)
    check_name: str | None = None
    asset: str | None = None
    partition: str | None = None
    run_id: str | None = None

    @property
    def title(self) -> str:
        where = f"{self.asset}[{self.partition}]" if self.partition else (self.asset or "run")
        what = self.check_name or "run failed"
        return f"[{self.severity}] enrichment: {what} on {where}"


def alert_urls() -> list[str]:
    """Notification URLs from ``ENRICHMENT_ALERT_URLS`` (comma or whitespace separated)."""
    from enrichment_assets.settings import get_settings

    return list(get_settings().alert_urls)


def url_id(url: str) -> str:
    """A stable, secret-free identifier of a notification URL (12 hex of its sha256)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


def store_alerts(engine: sa.Engine, new_alerts: Sequence[Alert]) -> int:
    """Insert alerts not stored before (by ``dedupe_key``); return how many were new."""
    if not new_alerts:
        return 0
    with engine.begin() as conn:
        known = set(conn.execute(sa.select(alerts.c.dedupe_key).where(
            alerts.c.dedupe_key.in_([a.dedupe_key for a in new_alerts]))).scalars())
        rows = []
        for alert in new_alerts:
            if alert.dedupe_key in known:
                continue
            known.add(alert.dedupe_key)
            rows.append({**alert.model_dump(), "created_at": utcnow(), "delivered_to": [],
                         "attempts": 0, "delivered_at": None, "last_error": None})
        if rows:
            conn.execute(sa.insert(alerts), rows)
    return len(rows)


Notifier = Callable[[str, str, str], tuple[bool, str | None]]


def apprise_notify(url: str, title: str, body: str) -> tuple[bool, str | None]:
    """Send one notification with apprise; returns (accepted, error text)."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return False, f"notification URL {url_id(url)} is not understood by apprise"
    try:
        ok = sender.notify(title=title, body=body)
    except Exception as exc:  # noqa: BLE001 - a delivery failure is recorded and retried
        return False, f"{type(exc).__name__}: {exc}"[:500]
    return bool(ok), None if ok else f"notification URL {url_id(url)} refused the alert"


@dataclass
class DeliveryReport:
    """Counts of one :func:`deliver_pending` pass."""

    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_pending(engine: sa.Engine, urls: Sequence[str], notify: Notifier = apprise_notify) -> DeliveryReport:
    """Send every alert not yet accepted by every URL; record successes and failures.

    An alert counts as delivered when each configured URL accepted it once; a URL that
    failed is tried again on the next pass (up to :data:`MAX_ATTEMPTS`). With no URLs
    configured, alerts are only stored.
    """
    report = DeliveryReport()
    if not urls:
        return report
    ids = {url_id(u): u for u in urls}
    with engine.connect() as conn:
        pending = [dict(r) for r in conn.execute(
            sa.select(alerts).where(alerts.c.delivered_at.is_(None), alerts.c.attempts < MAX_ATTEMPTS)
            .order_by(alerts.c.id)).mappings()]
    for row in pending:
        alert = Alert.model_validate(row)
        delivered = list(row["delivered_to"] or [])
        errors = []
        for uid, url in ids.items():
            if uid in delivered:
                continue
            ok, error = notify(url, alert.title, _body(alert, row["created_at"]))
            if ok:
                delivered.append(uid)
            else:
                errors.append(error or "unknown delivery error")
        done = all(uid in delivered for uid in ids)
        with engine.begin() as conn:
            conn.execute(sa.update(alerts).where(alerts.c.id == row["id"]).values(
                delivered_to=delivered, attempts=row["attempts"] + 1,
                delivered_at=utcnow() if done else None, last_error="; ".join(errors) or None))
        if done:
            report.delivered += 1
        else:
            report.failed += 1
            report.errors.extend(errors)
    return report


def _body(alert: Alert, created_at: datetime) -> str:
    lines = [alert.summary, ""]
    for label, value in (("asset", alert.asset), ("partition", alert.partition), ("check", alert.check_name),
                         ("run", alert.run_id), ("raised", f"{created_at:%Y-%m-%d %H:%M:%S} UTC")):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def recent_alerts(engine: sa.Engine, limit: int = 50) -> pd.DataFrame:
    """The newest alerts first, as a table for ``enrichment alerts``."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(
            alerts.c.created_at, alerts.c.severity, alerts.c.kind, alerts.c.check_name, alerts.c.asset,
            alerts.c.partition, alerts.c.summary, alerts.c.delivered_at, alerts.c.attempts,
            alerts.c.last_error).order_by(alerts.c.id.desc()).limit(limit)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[
        "created_at", "severity", "kind", "check_name", "asset", "partition", "summary",
        "delivered_at", "attempts", "last_error"])
