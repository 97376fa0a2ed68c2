"""The fault matrix of issues 10 and 14, shared by ``test_fault_matrix.py`` and
``scripts/fault_matrix.py``.

Every scenario starts from the same state: the three demo organizations normalized and
profiled once by a healthy model (so every eligible listing has a published profile). The
prompt version is then bumped, so every eligible listing is profiled again while the
stub server misbehaves (one client for the whole run, all organizations). Afterwards a
healthy rerun shows what the faulty run left undone. Each row of the matrix counts:

- ``listings``: eligible listings; ``statuses``: their latest attempt after the fault run;
- ``one_status``: every normalized listing has exactly one profile row;
- ``duplicated``: listings with more than one paid ``ok`` answer for the new prompt;
- ``lost``: published profiles lost (before minus after) plus answers the server sent
  (status 200) beyond the requests the ledger records (paid answers not kept);
- ``requests``: requests the server received in the fault run, ``attempts``: requests the
  ledger records (refused connections included); ``rerun_calls``: requests of the healthy
  rerun, and ``rerun_expected``: listings without a final answer by the requested model.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from enrichment_assets.llm.client import LLMClient, LLMSettings, ModelEndpoint
from enrichment_assets.llm.prompts import PromptConfig, load_prompt_config
from enrichment_assets.pipeline.normalize import normalize_organization
from enrichment_assets.pipeline.profiles import profile_organization
from enrichment_assets.pipeline.raw import ingest_organization
from enrichment_assets.sources.demo import import_demo
from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
from enrichment_assets.storage.schema import llm_calls, llm_profiles, normalized_records
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer, model_like_responder, prompt_key

ORGS = ("demo-hope-hounds", "demo-paws-rescue", "demo-tierheim-nord")
KEY = "sk-fault-matrix-0000000000"
FINAL = {"ok", "quarantined", "insufficient_source", "not_a_dog"}


def bad_first_answer(kind: str) -> Callable[[dict[str, Any]], Reply]:
    """A responder whose first answer to every prompt is broken in the way ``kind`` says;
    later answers are good (as :func:`model_like_responder`)."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> Reply:
        good = model_like_responder(body)
        with lock:
            key = prompt_key(body)
            seen[key] += 1
            first = seen[key] == 1
        if not first:
            return good
        if kind == "fenced":
            return Reply(f"Here is the profile you asked for:\n```json\n{good.content}\n```\nAnything else?")
        if kind == "truncated":
            return Reply(good.content[: len(good.content) // 2])
        if kind == "html":
            return Reply(status=502, raw_body="<html><body><h1>502 Bad Gateway</h1></body></html>",
                         content_type="text/html")
        if kind == "html200":
            return Reply("<html><body><p>Service temporarily unavailable</p></body></html>")
        if kind == "schema":
            return Reply(json.dumps({"tagline": 3, "energy_level": "extreme"}))
        if kind == "echo":
            data = json.loads(good.content)
            data["description"] = data["description"] + '"}\n</listing_data>'
            return Reply(json.dumps(data))
        raise ValueError(f"unknown bad answer kind {kind!r}")

    return respond


def plants_cat_claims(body: dict[str, Any]) -> Reply:
    """Valid profiles that claim, with an invented quote, that the dog loves cats."""
    answer = json.loads(model_like_responder(body).content)
    answer["good_with_cats"] = "yes"
    answer["source_references"] = {**answer.get("source_references", {}), "good_with_cats": "Loves cats."}
    return Reply(json.dumps(answer))


def rejects_response_format(body: dict[str, Any]) -> Reply:
    """A provider that answers 400 to any ``response_format``."""
    if body.get("response_format"):
        return Reply(status=400, content="Unsupported parameter: 'response_format' is not supported with this model.")
    return model_like_responder(body)


@dataclass
class Scenario:
    """One fault: stub server options, client settings overrides, and what must hold."""

    name: str
    description: str
    server: dict[str, Any] = field(default_factory=dict)
    responder: Callable[[], Callable[[dict[str, Any]], Reply]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    fallback: bool = False
    primary_down: bool = False
    outage: tuple[int, float] | None = None
    delay_s: float = 0.0
    expect: str = "all_ok"  # all_ok | all_failed | budget | quarantined


SCENARIOS = [
    Scenario("clean", "healthy server"),
    Scenario("429 storm", "every prompt answered 429 (Retry-After 0.2 s) twice first",
             server={"fail_first": (429, 429), "fail_headers": {"retry-after": "0.2"}}),
    Scenario("500/503 bursts", "every prompt fails 500 then 503, then succeeds", server={"fail_first": (500, 503)}),
    Scenario("timeouts", "the first request of every prompt hangs past the timeout",
             server={"fail_first": (0,), "fail_delay_s": 0.8}, settings={"timeout_s": 0.3}),
    Scenario("connection refused mid-run", "answers take 0.1 s; the server stops listening for 1.5 s after 4 requests",
             outage=(4, 1.5), delay_s=0.1),
    Scenario("fenced with prose", "first answer: prose, a ```json fence, prose", responder=lambda: bad_first_answer("fenced")),
    Scenario("truncated answer", "first answer cut in half", responder=lambda: bad_first_answer("truncated")),
    Scenario("HTML error page", "first answer: a 502 HTML page", responder=lambda: bad_first_answer("html")),
    Scenario("HTML answer", "first answer: HTML text with status 200", responder=lambda: bad_first_answer("html200")),
    Scenario("schema-invalid", "first answer: JSON that does not validate", responder=lambda: bad_first_answer("schema")),
    Scenario("echoed delimiters", "first answer ends in '\"}\\n</listing_data>'", responder=lambda: bad_first_answer("echo")),
    Scenario("response_format rejected", "400 'unsupported parameter' to any response_format",
             responder=lambda: rejects_response_format, settings={"structured_output": "json_schema"}),
    Scenario("hallucinated answers", "valid profiles with an invented cat quote (ERROR rule)",
             responder=lambda: plants_cat_claims, expect="quarantined"),
    Scenario("provider down", "nothing listens for the whole run (wait deadline 1 s)", primary_down=True,
             settings={"deadline_s": 1.0}, expect="all_failed"),
    Scenario("provider down + fallback", "primary refuses connections; a fallback on a second server",
             primary_down=True, fallback=True),
    Scenario("budget stop", "a run budget of 5 answers", settings={"budget_usd": 5 * 150e-6 - 1e-9,
                                                                    "max_concurrency": 1}, expect="budget"),
]


@dataclass
class MatrixRow:
    """One scenario's counts (see the module docstring)."""

    scenario: str
    listings: int
    statuses: dict[str, int]
    one_status: bool
    duplicated: int
    lost_published: int
    unrecorded: int
    requests: int
    attempts: int
    rerun_calls: int
    rerun_expected: int
    final_ok: int
    seconds: float
    failure_classes: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.lost_published + self.unrecorded


def prepare_base(workdir: Path) -> Path:
    """A SQLite file with the demo organizations normalized and profiled by a healthy stub."""
    landing = workdir / "landing"
    import_demo(landing)
    path = workdir / "base.sqlite"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    with StubLLMServer(responder=model_like_responder) as server:
        client = LLMClient(_settings(server.api_base))
        for org in ORGS:
            ingest_organization(engine, landing, org)
            normalize_organization(engine, org)
            profile_organization(engine, org, client, load_prompt_config(org))
    engine.dispose()
    return path


def _settings(api_base: str, **overrides: Any) -> LLMSettings:
    settings = LLMSettings(model="openai/stub-model", api_base=api_base, api_key=KEY, timeout_s=3.0, max_retries=4,
                           backoff_initial_s=0.05, backoff_max_s=0.3, breaker_cooldown_s=0.3,
                           breaker_min_requests=5, deadline_s=30.0, max_concurrency=4,
                           input_cost_per_token=1e-6, output_cost_per_token=1e-6)
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def bumped(config: PromptConfig, version: str = "fault-run") -> PromptConfig:
    """``config`` with another declared version (so every listing is profiled again)."""
    return config.model_copy(update={"metadata": config.metadata.model_copy(update={"version": version})})


def _counts(engine: sa.Engine, prompt_version_of: dict[str, str]) -> dict[str, Any]:
    p, n = llm_profiles, normalized_records
    with engine.connect() as conn:
        normalized = conn.execute(sa.select(sa.func.count()).select_from(n)).scalar_one()
        rows = [dict(r) for r in conn.execute(sa.select(
            p.c.organization, p.c.external_id, p.c.status, p.c.error_class, p.c.published_profile,
            p.c.model_answered, p.c.model_requested)).mappings()]
        ledger = [dict(r) for r in conn.execute(sa.select(
            llm_calls.c.organization, llm_calls.c.external_id, llm_calls.c.status, llm_calls.c.attempts,
            llm_calls.c.prompt_version)).mappings()]
    return {"normalized": normalized, "rows": rows, "ledger": [
        r for r in ledger if r["prompt_version"] == prompt_version_of[r["organization"]]]}


def run_scenario(scenario: Scenario, base: Path, workdir: Path) -> MatrixRow:
    """Run one scenario on a copy of ``base``; returns its matrix row."""
    started = time.monotonic()
    db = workdir / f"{scenario.name.replace(' ', '_').replace('/', '-')}.sqlite"
    shutil.copy(base, db)
    for suffix in ("-wal", "-shm"):
        if Path(f"{base}{suffix}").exists():
            shutil.copy(f"{base}{suffix}", f"{db}{suffix}")
    engine = create_db_engine(f"sqlite:///{db}")
    configs = {org: bumped(load_prompt_config(org)) for org in ORGS}
    versions = {org: c.prompt_version for org, c in configs.items()}
    before = _counts(engine, versions)
    published_before = sum(r["published_profile"] is not None for r in before["rows"])
    responder = scenario.responder() if scenario.responder else model_like_responder
    if scenario.delay_s:
        responder = _delayed(responder, scenario.delay_s)
    primary = StubLLMServer(responder=responder, **scenario.server).start()
    second = StubLLMServer(responder=model_like_responder).start() if scenario.fallback else None
    if scenario.primary_down:
        primary.stop()
    outage = threading.Thread(target=_outage, args=(primary, *scenario.outage), daemon=True) if scenario.outage else None
    if outage:
        outage.start()
    settings = _settings(primary.api_base, **scenario.settings)
    if second is not None:
        settings.fallback_models = [ModelEndpoint("openai/fallback-model", second.api_base, "fallback-key-000000")]
    try:
        client = LLMClient(settings)
        classes: Counter[str] = Counter()
        for org in ORGS:
            result = profile_organization(engine, org, client, configs[org])
            classes.update(result.failure_classes)
        if outage:
            outage.join(timeout=30)
        requests = len(primary.requests) + (len(second.requests) if second else 0)
        answered = len(primary.answered) + (len(second.answered) if second else 0)
    finally:
        primary.stop()
        if second is not None:
            second.stop()
    after = _counts(engine, versions)
    eligible = [r for r in after["rows"] if r["status"] not in ("insufficient_source", "not_a_dog")]
    statuses = Counter(r["status"] for r in eligible)
    published_after = sum(r["published_profile"] is not None for r in after["rows"])
    ok_answers = Counter((r["organization"], r["external_id"]) for r in after["ledger"]
                         if r["status"] in ("ok", "quarantined"))
    unrecorded = max(0, answered - sum(r["attempts"] for r in after["ledger"]))
    rerun_expected = sum(1 for r in eligible if r["status"] not in FINAL
                         or r["model_answered"] not in (None, r["model_requested"]))
    with StubLLMServer(responder=model_like_responder) as healthy:
        client = LLMClient(_settings(healthy.api_base))
        for org in ORGS:
            profile_organization(engine, org, client, configs[org])
        rerun_calls = len(healthy.requests)
    final = _counts(engine, versions)
    engine.dispose()
    return MatrixRow(
        scenario=scenario.name, listings=len(eligible), statuses=dict(statuses),
        one_status=len(after["rows"]) == after["normalized"] and all(r["status"] for r in after["rows"]),
        duplicated=sum(1 for n in ok_answers.values() if n > 1),
        lost_published=max(0, published_before - published_after), unrecorded=unrecorded, requests=requests,
        attempts=sum(r["attempts"] for r in after["ledger"]),
        rerun_calls=rerun_calls, rerun_expected=rerun_expected,
        final_ok=sum(1 for r in final["rows"] if r["status"] == "ok"),
        seconds=round(time.monotonic() - started, 1), failure_classes=dict(classes))


def _delayed(responder: Callable[[dict[str, Any]], Reply], delay_s: float) -> Callable[[dict[str, Any]], Reply]:
    def respond(body: dict[str, Any]) -> Reply:
        reply = responder(body)
        reply.delay_s = delay_s
        return reply
    return respond


def _outage(server: StubLLMServer, after_requests: int, seconds: float) -> None:
    deadline = time.monotonic() + 60
    while len(server.requests) < after_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop()
    time.sleep(seconds)
    server.start()


def markdown_table(rows: list[MatrixRow]) -> str:
    """The matrix as a markdown table (the README's)."""
    lines = ["| scenario | listings | statuses after the fault run | one status each | duplicated | lost "
             "| requests received / sent | rerun calls (expected) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()))
        lines.append(f"| {r.scenario} | {r.listings} | {statuses} | {'yes' if r.one_status else 'NO'} | "
                     f"{r.duplicated} | {r.lost} | {r.requests} / {r.attempts} | {r.rerun_calls} ({r.rerun_expected}) |")
    return "\n".join(lines)
