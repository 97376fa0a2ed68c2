"""Running a batch of structured model calls and recording them in the call ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, time

import sqlalchemy as sa
from pydantic import BaseModel

from enrichment_assets.llm.client import CallResult, LLMClient
from enrichment_assets.storage.database import utcnow
from enrichment_assets.storage.schema import llm_calls


def run_structured_calls(
    client: LLMClient,
    conversations: Sequence[list[dict[str, str]]],
    schema: type[BaseModel],
    task: str,
    on_progress: Callable[[int], None] | None = None,
) -> list[CallResult]:
    """Run one structured call per conversation concurrently (bounded by the client).

    Returns results in the order of ``conversations``.
    """
    if not conversations:
        return []

    async def one(messages: list[dict[str, str]]) -> CallResult:
        result = await client.complete_structured(messages, schema, task=task)
        if on_progress:
            on_progress(1)
        return result

    async def run_all() -> list[CallResult]:
        return await asyncio.gather(*(one(m) for m in conversations))

    return asyncio.run(run_all())


def call_status(call: CallResult) -> str:
    """``ok``, ``budget_exhausted`` or ``failed`` for a finished call."""
    if call.ok:
        return "ok"
    return "budget_exhausted" if call.budget_exhausted else "failed"


NO_CALL = {"model_used": None, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
           "latency_ms": 0.0, "attempts": 0}
"""Call-accounting columns of a row for which no request was sent."""


def call_accounting(call: CallResult) -> dict:
    """The call-accounting columns a model-written row stores: answering model, tokens,
    cost (USD; an unknown price counts 0), latency (ms) and attempts (requests sent)."""
    return {"model_used": call.model_used, "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens, "cost_usd": call.cost_usd or 0.0,
            "latency_ms": round(call.latency_ms, 3), "attempts": call.attempts}


def ledger_row(organization: str, external_id: str, task: str, prompt_version: str,
               call: CallResult) -> dict:
    """One ``llm_calls`` row for a call that sent at least one request."""
    return {
        "organization": organization, "external_id": external_id, "task": task,
        "status": call_status(call), "model_requested": call.model_requested,
        "prompt_version": prompt_version, **call_accounting(call),
        "error_class": call.error_class, "called_at": utcnow(),
    }


def record_calls(conn: sa.Connection, rows: Sequence[dict]) -> None:
    """Append ledger rows (calls that sent no request are not recorded)."""
    rows = [r for r in rows if r["attempts"] > 0]
    if rows:
        conn.execute(sa.insert(llm_calls), list(rows))


def spent_today_usd(engine: sa.Engine, now: datetime | None = None) -> float:
    """USD spent on model calls since 00:00 UTC of the current day, across all runs."""
    now = now or utcnow()
    midnight = datetime.combine(now.date(), time.min)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(llm_calls.c.cost_usd), 0.0))
                             .where(llm_calls.c.called_at >= midnight)).scalar_one()
    return float(total)


