"""Running a batch of structured model calls, storing answers as they arrive, the call
ledger, and the daily cap's atomic reservation in the database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from enrichment_assets.llm.client import CallResult, LLMClient, run_calls
from enrichment_assets.storage.database import utcnow
from enrichment_assets.storage.schema import llm_calls, llm_spend_days

R = TypeVar("R")


def run_structured_calls(
    client: LLMClient,
    conversations: Sequence[list[dict[str, str]]],
    schema: type[BaseModel],
    task: str,
    on_progress: Callable[[int], None] | None = None,
    on_result: Callable[[int, CallResult], None] | None = None,
    echo_markers: Sequence[str] | None = None,
) -> list[CallResult]:
    """Run one structured call per conversation concurrently (bounded by the client).

    ``on_result(index, result)`` runs in this thread as each call finishes (store the
    answer there: a crash then loses at most the calls in flight). Returns results in the
    order of ``conversations``. Each answer is checked against ``echo_markers`` (default:
    the delimiters and instruction lines of the first conversation's prompt,
    :func:`enrichment_assets.llm.prompts.echo_markers`).
    """

    def done(index: int, result: CallResult) -> None:
        if on_result is not None:
            on_result(index, result)
        if on_progress:
            on_progress(1)

    return run_calls(client, conversations, schema, task, done, echo_markers=echo_markers)


@dataclass
class CallPlan(Generic[R]):
    """One organization's share of a model stage (profiles or translations): the
    conversations still to send, ``store(index, call)`` for each finished call (``index``
    into ``conversations``; stores the answer) and ``finish()`` that returns the
    organization's result after its last call."""

    organization: str
    conversations: list[list[dict[str, str]]]
    store: Callable[[int, CallResult], None]
    finish: Callable[[], R]


class StoreFailures(RuntimeError):
    """Answers of some organizations of a pooled stage could not be stored (a fault of their
    data or of the code, not of the database): ``failures`` maps organization -> (answers not
    stored, the first exception). The other organizations' answers were stored."""

    def __init__(self, task: str, failures: dict[str, tuple[int, BaseException]]):
        self.failures = failures
        super().__init__(f"{task}: answers of {len(failures)} organization(s) could not be stored: " + "; ".join(
            f"{org}: {count} answer(s), first {type(exc).__name__}: {exc}"
            for org, (count, exc) in sorted(failures.items())))


def run_pooled(
    client: LLMClient,
    plans: Sequence[CallPlan[R]],
    schema: type[BaseModel],
    task: str,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, R]:
    """Send the conversations of every plan through one :func:`run_structured_calls`, so
    all organizations of a run share ``client``'s one concurrency limit, rate limiter and
    run budget: 300 organizations of 2 listings keep the configured concurrency as busy as
    one organization of 600. Each finished call goes to its own plan's ``store`` (a call
    that failed is stored as that organization's failure; the other organizations' calls go
    on). Returns organization -> ``finish()``, in ``plans`` order.

    Every answer is checked against the echo markers of every plan's prompt (organizations
    may have prompts of their own).

    A ``store`` that raises stops only its organization's share: the other organizations'
    answers are still stored as they arrive (and finished), then :class:`StoreFailures`
    names the organizations whose answers were not stored. A database that refuses writes
    (``OperationalError`` / ``InterfaceError``, after :func:`with_db_retry`'s patience)
    stops the whole pool at once instead (the calls not finished are cancelled: no
    organization's answers could be stored).

    Raises:
        StoreFailures: some organizations' answers could not be stored.
        sqlalchemy.exc.OperationalError: the database refuses writes.
    """
    from enrichment_assets.llm.prompts import echo_markers

    owners = [(plan, index) for plan in plans for index in range(len(plan.conversations))]
    failures: dict[str, tuple[int, BaseException]] = {}

    def store(index: int, call: CallResult) -> None:
        plan, local = owners[index]
        try:
            plan.store(local, call)
        except (sa.exc.OperationalError, sa.exc.InterfaceError):
            raise
        except Exception as exc:  # noqa: BLE001 - one organization's fault stops only its share
            count, first = failures.get(plan.organization, (0, exc))
            failures[plan.organization] = (count + 1, first)

    # organizations can have prompts of their own: no answer may echo any of the pool's prompts
    markers = tuple(dict.fromkeys(m for plan in plans if plan.conversations
                                  for m in echo_markers(plan.conversations[0])))
    run_structured_calls(client, [plan.conversations[i] for plan, i in owners], schema, task, on_progress,
                         on_result=store, echo_markers=markers or None)
    results = {plan.organization: plan.finish() for plan in plans if plan.organization not in failures}
    if failures:
        raise StoreFailures(task, failures)
    return results


def call_status(call: CallResult) -> str:
    """``ok``, ``budget_exhausted`` or ``failed`` for a finished call."""
    if call.ok:
        return "ok"
    return "budget_exhausted" if call.budget_exhausted else "failed"


NO_CALL = {"model_answered": None, "model_used": None, "input_tokens": 0, "output_tokens": 0,
           "cost_usd": 0.0, "latency_ms": 0.0, "attempts": 0}
"""Call-accounting columns of a row for which no request was sent (nothing spent: $0)."""


def call_accounting(call: CallResult) -> dict:
    """The call-accounting columns a model-written row stores: the configured model that
    answered, the server's model name, tokens, cost (USD; ``None`` when the price is
    unknown), latency (ms) and attempts (requests sent)."""
    return {"model_answered": call.model_answered, "model_used": call.model_used,
            "input_tokens": call.input_tokens, "output_tokens": call.output_tokens,
            "cost_usd": call.cost_usd if call.attempts else 0.0,
            "latency_ms": round(call.latency_ms, 3), "attempts": call.attempts}


def ledger_row(organization: str, external_id: str, task: str, prompt_version: str,
               call: CallResult, status: str | None = None) -> dict:
    """One ``llm_calls`` row for a call that sent at least one request.

    ``status``: the status stored for the result (e.g. ``quarantined``, or ``failed`` for
    a translation in the wrong language); default :func:`call_status`.
    """
    return {
        "organization": organization, "external_id": external_id, "task": task,
        "status": status or call_status(call), "model_requested": call.model_requested,
        "prompt_version": prompt_version, **call_accounting(call),
        "error_class": call.error_class, "called_at": utcnow(),
    }


def record_calls(conn: sa.Connection, rows: Sequence[dict]) -> None:
    """Append ledger rows (calls that sent no request are not recorded)."""
    rows = [r for r in rows if r["attempts"] > 0]
    if rows:
        conn.execute(sa.insert(llm_calls), list(rows))


def with_db_retry(engine: sa.Engine, work: Callable[[sa.Connection], R], patience_s: float | None = None) -> R:
    """Run ``work(conn)`` in one transaction, retried while the database refuses connections.

    A paid answer must not be lost to a database blip: ``OperationalError`` /
    ``InterfaceError`` (connection refused or dropped) are retried with backoff for up to
    ``patience_s`` seconds (default ``ENRICHMENT_DB_WRITE_RETRY_S``); then re-raised.
    """
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

    if patience_s is None:
        from enrichment_assets.settings import get_settings

        patience_s = get_settings().db_write_retry_s
    retrying = Retrying(stop=stop_after_delay(patience_s), reraise=True,
                        wait=wait_exponential(multiplier=0.1, max=2.0),
                        retry=retry_if_exception_type((sa.exc.OperationalError, sa.exc.InterfaceError)))
    for attempt in retrying:
        with attempt:
            with engine.begin() as conn:
                return work(conn)
    raise AssertionError("unreachable")  # pragma: no cover


def spent_today_usd(engine: sa.Engine, now: datetime | None = None) -> float:
    """USD spent on model calls since 00:00 UTC of the current day, across all runs
    (from the ledger; calls with an unknown price count 0)."""
    now = now or utcnow()
    midnight = datetime.combine(now.date(), time.min)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(llm_calls.c.cost_usd), 0.0))
                             .where(llm_calls.c.called_at >= midnight)).scalar_one()
    return float(total)


class DatabaseDailyCap:
    """The day's spend cap, enforced by atomic reservations in ``llm_spend_days``.

    Before each request :meth:`reserve` runs one conditional UPDATE
    (``spent + reserved + amount <= limit``): the database serialises it across runs and
    processes (a row lock on PostgreSQL, the write lock on SQLite), so two concurrent runs
    cannot both spend up to the cap. :meth:`settle` swaps the reservation for the actual
    cost. The day's row starts from the ledger's spend so far. A request whose actual cost
    exceeds its estimate can overshoot by that difference; a process killed mid-request
    leaves its reservation held until the day ends (the cap errs on the safe side).
    """

    def __init__(self, engine: sa.Engine, limit_usd: float, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.limit_usd = limit_usd
        self.clock = clock

    def _day(self) -> date:
        return self.clock().date()

    def _ensure_row(self, conn: sa.Connection, day: date) -> None:
        if conn.execute(sa.select(llm_spend_days.c.day).where(llm_spend_days.c.day == day)).first():
            return
        midnight = datetime.combine(day, time.min)
        spent = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(llm_calls.c.cost_usd), 0.0))
                             .where(llm_calls.c.called_at >= midnight)).scalar_one()
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(llm_spend_days).values(day=day, spent_usd=float(spent), reserved_usd=0.0,
                                                   updated_at=utcnow()).on_conflict_do_nothing())

    def reserve(self, amount_usd: float) -> bool:
        day = self._day()
        t = llm_spend_days

        def work(conn: sa.Connection) -> bool:
            self._ensure_row(conn, day)
            done = conn.execute(sa.update(t).where(
                t.c.day == day, t.c.spent_usd + t.c.reserved_usd + amount_usd <= self.limit_usd,
            ).values(reserved_usd=t.c.reserved_usd + amount_usd, updated_at=utcnow()))
            return bool(done.rowcount)

        return with_db_retry(self.engine, work)

    def settle(self, reserved_usd: float, actual_usd: float | None) -> None:
        day = self._day()
        t = llm_spend_days
        with_db_retry(self.engine, lambda conn: conn.execute(sa.update(t).where(t.c.day == day).values(
            reserved_usd=sa.func.max(t.c.reserved_usd - reserved_usd, 0.0) if conn.dialect.name == "sqlite"
            else sa.func.greatest(t.c.reserved_usd - reserved_usd, 0.0),
            spent_usd=t.c.spent_usd + (actual_usd or 0.0), updated_at=utcnow())))

    def spent_usd(self) -> float:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(llm_spend_days.c.spent_usd).where(
                llm_spend_days.c.day == self._day())).scalar()
        return float(value or 0.0)

