"""Issue 11: translations of all organizations of a run share one pool of model calls (as
the profile stage does), results land on their own organization, a failing organization does
not stop the others, and a failed attempt never replaces a good stored translation.

Pure pipeline functions, no Dagster: twenty organizations of one demo listing each, profiled
by the offline model, translated through the local stub model with a fixed latency.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from enrichment_assets.llm.client import LLMClient, LLMSettings
from enrichment_assets.llm.prompts import PROFILE_TAG, load_prompt_config, parse_data_block
from enrichment_assets.pipeline.normalize import load_listings, normalize_organization
from enrichment_assets.pipeline.profiles import load_published_profiles, profile_organizations
from enrichment_assets.pipeline.raw import ingest_organization
from enrichment_assets.pipeline.translations import translate_organizations
from enrichment_assets.sources.demo import demo_data_dir
from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
from enrichment_assets.storage.schema import llm_calls, translations
from enrichment_assets_tests.fault_matrix import _settings, bumped
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer, model_like_responder


def _split_demo(landing: Path, count: int | None = None) -> list[str]:
    """One organization per demo listing (``pool-00`` ...), each a full scrape of one line;
    ``count`` organizations when given, cycling through the demo listings (default: each once)."""
    lines = []
    for path in sorted(demo_data_dir().glob("*/*.jsonl")):
        header, *listings = path.read_text(encoding="utf-8").splitlines()
        lines += [(path.name, header, line) for line in listings]
    orgs: list[str] = []
    for index in range(len(lines) if count is None else count):
        name, header, line = lines[index % len(lines)]
        org = f"pool-{index:02d}"
        (landing / org).mkdir(parents=True)
        (landing / org / name).write_text(f"{header}\n{line}\n", encoding="utf-8")
        orgs.append(org)
    return orgs


def prepare_pool(folder: Path, count: int | None = None) -> tuple[Path, list[str]]:
    """(database file, organizations) in ``folder``: :func:`_split_demo` organizations
    ingested, normalized and profiled (offline model); no translations yet."""
    orgs = _split_demo(folder / "landing", count)
    engine = create_db_engine(f"sqlite:///{folder / 'app.db'}")
    upgrade_to_head(engine)
    for org in orgs:
        ingest_organization(engine, folder / "landing", org)
        normalize_organization(engine, org)
    profile_organizations(engine, orgs, LLMClient(LLMSettings(model="offline/rules")),
                          {org: load_prompt_config(org) for org in orgs})
    engine.dispose()
    return folder / "app.db", orgs


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return prepare_pool(tmp_path_factory.mktemp("pool"))


@pytest.fixture
def engine(base, tmp_path: Path):
    shutil.copy(base[0], tmp_path / "app.db")
    eng = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    yield eng
    eng.dispose()


class CountingModel:
    """The stub's responder: a model-like answer after ``latency_s``, counting the requests in
    flight (``peak``); a 400 for every request about a dog named in ``failing``."""

    def __init__(self, latency_s: float = 0.3, failing: set[str] | None = None):
        self.latency_s, self.failing = latency_s, failing or set()
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __call__(self, body: dict) -> Reply:
        text = next(m["content"] for m in body["messages"] if m["role"] == "user")
        name = parse_data_block(text, PROFILE_TAG)["name"]
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.latency_s)
            if name in self.failing:
                return Reply(status=400, content="model not found")
            return model_like_responder(body)
        finally:
            with self.lock:
                self.now -= 1


def _names(engine: sa.Engine, orgs: list[str]) -> dict[str, str]:
    """organization -> name of the dog of its one published listing (organizations without one left out)."""
    names = {}
    for org in orgs:
        published = load_published_profiles(engine, org)
        if published:
            (external_id,) = published
            names[org] = next(l.name for l in load_listings(engine, org) if l.external_id == external_id)
    return names


def _rows(engine: sa.Engine) -> dict[tuple[str, str, str], dict]:
    with engine.connect() as conn:
        return {(r["organization"], r["external_id"], r["language"]): dict(r)
                for r in conn.execute(sa.select(translations)).mappings()}


def _translate(engine, orgs, model: CountingModel, configs, **progress) -> dict:
    with StubLLMServer(responder=model) as server:
        return translate_organizations(engine, orgs, LLMClient(_settings(server.api_base, max_concurrency=16)),
                                       configs, **progress)


def test_calls_overlap_across_organizations_and_land_on_their_own(engine, base) -> None:
    orgs = base[1]
    names = _names(engine, orgs)
    assert len(names) >= 10, names
    failing_org = sorted(names)[0]
    model = CountingModel(failing={names[failing_org]})
    configs = {org: load_prompt_config(org) for org in orgs}
    events: list[tuple[str, int]] = []
    results = _translate(engine, orgs, model, configs, on_planned=lambda n: events.append(("planned", n)),
                         on_progress=lambda n: events.append(("done", n)))

    assert list(results) == orgs
    per_org_calls = {org: r.requested for org, r in results.items()}
    # the progress total is announced once, before any request, and counts requests
    assert events[0] == ("planned", sum(per_org_calls.values()))
    assert events[1:] == [("done", 1)] * sum(per_org_calls.values())
    assert max(per_org_calls.values()) == 3, per_org_calls  # one listing, three target languages
    assert model.peak > max(per_org_calls.values()), (model.peak, per_org_calls)  # overlap across organizations
    rows = _rows(engine)
    for org, name in names.items():
        mine = [row for key, row in rows.items() if key[0] == org]
        assert len(mine) == 3 and {row["language"] for row in mine} == {"de", "fr", "es"}
        if org == failing_org:
            assert all(row["status"] == "failed" and row["tagline"] is None for row in mine)
            assert results[org].statuses == {"failed": 3} and len(results[org].failures) == 3
        else:
            assert all(row["status"] == "ok" for row in mine), mine
            assert all(name in row["tagline"] + row["description"] for row in mine), (name, mine)
            assert results[org].statuses == {"ok": 3} and results[org].calls == 3
    assert not any(key[0] not in names for key in rows), "no translation for an organization without a profile"


def test_a_failed_attempt_keeps_the_good_stored_translation(engine, base) -> None:
    orgs = base[1]
    names = _names(engine, orgs)
    configs = {org: load_prompt_config(org) for org in orgs}
    _translate(engine, orgs, CountingModel(latency_s=0.0), configs)
    good = _rows(engine)
    assert good and all(row["status"] == "ok" for row in good.values())

    failing_org = sorted(names)[1]
    model = CountingModel(latency_s=0.05, failing={names[failing_org]})
    results = _translate(engine, orgs, model, {org: bumped(c, "pool-2") for org, c in configs.items()})
    after = _rows(engine)

    assert set(after) == set(good)
    for key, row in after.items():
        assert row["status"] == "ok", row
        if key[0] == failing_org:
            assert row == good[key], "a failed attempt replaced a good translation"
        else:
            assert row["source_hash"] != good[key]["source_hash"], "the other organizations went on"
    failed = results[failing_org]
    assert failed.statuses == {"failed": 3} and failed.kept_previous == 3 and failed.written == 0
    with engine.connect() as conn:
        ledger = conn.execute(sa.select(llm_calls.c.status).where(
            llm_calls.c.organization == failing_org, llm_calls.c.task == "translation")).scalars().all()
    assert ledger.count("failed") == 3, "the failed attempts are in the ledger"
    # the next run asks again for the kept ones (their source hash is old) and replaces them when it succeeds
    again = _translate(engine, [failing_org], CountingModel(latency_s=0.0),
                       {failing_org: bumped(configs[failing_org], "pool-2")})
    assert again[failing_org].statuses == {"ok": 3} and again[failing_org].written == 3
    assert json.dumps(sorted(_rows(engine)[k]["source_hash"] for k in good if k[0] == failing_org)) != json.dumps(
        sorted(good[k]["source_hash"] for k in good if k[0] == failing_org))


def test_a_store_fault_of_one_organization_stops_only_its_share(engine, base, monkeypatch) -> None:
    """An answer that cannot be stored for a reason of one organization (here a fault raised
    while building its ledger rows) stops neither the pool nor the other organizations: their
    answers are stored, then the stage fails naming that organization."""
    from enrichment_assets.pipeline import translations as stage
    from enrichment_assets.pipeline.calls import StoreFailures

    orgs = base[1]
    names = _names(engine, orgs)
    broken = sorted(names)[2]
    real = stage.ledger_row

    def ledger_row(organization, *args, **kwargs):
        if organization == broken:
            raise ValueError("a fault only this organization's data reaches")
        return real(organization, *args, **kwargs)

    monkeypatch.setattr(stage, "ledger_row", ledger_row)
    with pytest.raises(StoreFailures) as raised:
        _translate(engine, orgs, CountingModel(latency_s=0.05), {org: load_prompt_config(org) for org in orgs})
    assert set(raised.value.failures) == {broken} and raised.value.failures[broken][0] == 3
    assert broken in str(raised.value) and "ValueError" in str(raised.value)
    rows = _rows(engine)
    assert not any(key[0] == broken for key in rows)
    for org in set(names) - {broken}:
        mine = [row for key, row in rows.items() if key[0] == org]
        assert len(mine) == 3 and all(row["status"] == "ok" for row in mine), (org, mine)


def test_no_answer_may_echo_the_prompt_of_any_organization_in_the_pool(engine, base) -> None:
    """Organizations can have prompts of their own; an answer that repeats its own
    organization's instruction line is caught although another organization's prompt
    (without that line) comes first in the pool."""
    orgs = base[1]
    names = _names(engine, orgs)
    own = sorted(names)[-1]
    assert own != orgs[0]
    line = "Never tell the adopter about the kennel's opening hours or its fees."
    configs = {org: load_prompt_config(org) for org in orgs}
    configs[own] = configs[own].model_copy(
        update={"translation_prompt": configs[own].translation_prompt + "\n" + line + "\n"})

    def echoing(body: dict) -> Reply:
        reply = model_like_responder(body)
        text = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if parse_data_block(text, PROFILE_TAG)["name"] == names[own]:
            answer = json.loads(reply.content)
            answer["description"] += " " + line
            reply.content = json.dumps(answer)
        return reply

    with StubLLMServer(responder=echoing) as server:
        results = translate_organizations(engine, orgs, LLMClient(_settings(server.api_base, max_concurrency=16)),
                                          configs)
    assert "ok" not in results[own].statuses, results[own]
    assert all(results[org].statuses == {"ok": 3} for org in names if org != own)
