"""Process-level faults of issues 10 and 14: SIGKILL and SIGTERM mid-run, two runs at once,
two processes on the daily cap (PostgreSQL), the database refusing connections, and keys
echoed by the provider."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.llm.client import LLMClient
from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.pipeline.normalize import normalize_organization
from enrichment_assets.pipeline.profiles import profile_organization
from enrichment_assets.pipeline.raw import ingest_organization
from enrichment_assets.sources.demo import import_demo
from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
from enrichment_assets.storage.schema import llm_calls, llm_profiles
from enrichment_assets_tests.fault_matrix import ORGS, _settings, bumped, prepare_base
from enrichment_assets_tests.servers import REPO_ROOT, wait_for
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer, model_like_responder, prompt_key

BIN = Path(sys.executable).parent
ORG = "demo-tierheim-nord"


def slow(delay_s: float):
    def respond(body):
        reply = model_like_responder(body)
        reply.delay_s = delay_s
        return reply
    return respond


def _ok_for(engine: sa.Engine, version_suffix: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
            llm_profiles.c.status == "ok", llm_profiles.c.prompt_version.like(f"{version_suffix}#%"))).scalar_one()


def _worker(db_url: str, api_base: str, version: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "enrichment_assets_tests.profile_worker", db_url, api_base,
                             version, *extra], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def test_sigkill_after_n_answers_then_rerun_sends_exactly_the_rest(tmp_path: Path) -> None:
    db = prepare_base(tmp_path)
    url = f"sqlite:///{db}"
    engine = create_db_engine(url)
    with StubLLMServer(responder=slow(0.25)) as server:
        proc = _worker(url, server.api_base, "killed", "--concurrency", "2")
        try:
            wait_for(lambda: _ok_for(engine, "killed") >= 5 or proc.poll() is not None, 120, "five stored answers",
                     interval_s=0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        answered = len(server.answered)
    stored = _ok_for(engine, "killed")
    eligible = 17
    assert 5 <= stored < eligible, "killed mid-organization"
    assert answered - stored <= 2, "a kill loses at most the calls in flight (concurrency 2)"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(llm_calls).where(
            llm_calls.c.prompt_version.like("killed#%"))).scalar_one() == stored, "each answer with its ledger row"
    with StubLLMServer(responder=model_like_responder) as server:
        client = LLMClient(_settings(server.api_base))
        for org in ORGS:
            profile_organization(engine, org, client, bumped(load_prompt_config(org), "killed"))
        assert len(server.requests) == eligible - stored, "the rerun sends exactly what has no stored answer"
    assert _ok_for(engine, "killed") == eligible
    engine.dispose()


def _cli_env(home: Path, api_base: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENRICHMENT_", "DAGSTER_"))}
    env.update(ENRICHMENT_HOME=str(home), ENRICHMENT_LLM_MODEL="openai/stub-model", ENRICHMENT_LLM_API_BASE=api_base,
               ENRICHMENT_LLM_API_KEY="k-cli-test-0000000000", ENRICHMENT_LLM_MAX_CONCURRENCY="2",
               ENRICHMENT_LLM_BACKOFF_INITIAL_S="0.05", ENRICHMENT_LLM_BREAKER_COOLDOWN_S="0.5",
               LITELLM_LOCAL_MODEL_COST_MAP="True", **extra)
    return env


def _cli(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "enrichment"), *args], cwd=REPO_ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _import_demo(home: Path) -> None:
    import_demo(home / "landing")


def test_sigterm_stops_cleanly_and_the_run_is_canceled(tmp_path: Path) -> None:
    import dagster as dg

    home = tmp_path / "home"
    _import_demo(home)
    with StubLLMServer(responder=slow(0.4)) as server:
        env = _cli_env(home, server.api_base)
        proc = _cli(env, "run", "--organization", ORG, log=tmp_path / "run.log")
        try:
            wait_for(lambda: len(server.answered) >= 2 or proc.poll() is not None, 180, "two answers", 0.05)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        output = (tmp_path / "run.log").read_text()
        answered = len(server.answered)
    assert code == 130, output
    assert "stopped by a signal" in output
    engine = create_db_engine(f"sqlite:///{home / 'enrichment.db'}")
    with engine.connect() as conn:
        attempts = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(llm_calls.c.attempts), 0))).scalar_one()
        stored_ok = conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
            llm_profiles.c.status == "ok")).scalar_one()
    assert attempts == answered, "the answers in flight at SIGTERM were stored with their ledger rows"
    assert 0 < stored_ok < 6
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.CANCELED]
    with StubLLMServer(responder=model_like_responder) as server:
        rerun = CliRunner().invoke(main, ["run", "--organization", ORG], env=_cli_env(home, server.api_base))
        profile_requests = sum(1 for r in server.requests if "<listing_data>" in r["body"]["messages"][-1]["content"])
    assert rerun.exit_code == 0, rerun.output
    with engine.connect() as conn:
        total_ok = conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
            llm_profiles.c.status == "ok")).scalar_one()
    assert profile_requests == total_ok - stored_ok, "the rerun profiles only what had no answer"
    engine.dispose()


def _two_runs(tmp_path: Path, home: Path, api_base: str, *extra_args: str, **env_extra: str):
    env = _cli_env(home, api_base, **env_extra)
    procs = [_cli(env, "run", "--organization", ORG, *extra_args, log=tmp_path / f"run{i}.log") for i in range(2)]
    codes = [p.wait(timeout=400) for p in procs]
    return codes, [(tmp_path / f"run{i}.log").read_text() for i in range(2)]


def test_two_runs_at_once_on_a_fresh_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _import_demo(home)
    with StubLLMServer(responder=slow(0.05)) as server:
        codes, outputs = _two_runs(tmp_path, home, server.api_base)
        keys = [prompt_key(r["body"]) for r in server.requests]
    assert sorted(codes) == [0, 75], outputs
    loser = outputs[codes.index(75)]
    assert "another run holds the lock" in loser and "--wait" in loser
    assert len(keys) == len(set(keys)), "no model call is made twice"
    runner = CliRunner()
    with StubLLMServer(responder=model_like_responder) as server:
        result = runner.invoke(main, ["run", "--organization", ORG], env=_cli_env(home, server.api_base))
        assert result.exit_code == 0 and len(server.requests) == 0, "the instance is sound and nothing is left"


@pytest.mark.postgres
def test_two_runs_on_a_used_home_with_postgres_wait_in_turn(tmp_path: Path, postgres_url: str) -> None:
    home = tmp_path / "home"
    _import_demo(home)
    prompts = tmp_path / "prompts"
    shutil.copytree(REPO_ROOT / "prompts", prompts)
    extra = {"ENRICHMENT_DATABASE_URL": postgres_url, "ENRICHMENT_PROMPTS_DIR": str(prompts)}
    with StubLLMServer(responder=model_like_responder) as server:
        first = CliRunner().invoke(main, ["run", "--organization", ORG], env=_cli_env(home, server.api_base, **extra))
        assert first.exit_code == 0, first.output
    org_file = prompts / "organizations" / f"{ORG}.yaml"
    org_file.write_text(org_file.read_text(encoding="utf-8").replace('version: "demo-tierheim-nord.1"',
                                                                     'version: "demo-tierheim-nord.2"'), encoding="utf-8")
    with StubLLMServer(responder=slow(0.05)) as server:
        codes, outputs = _two_runs(tmp_path, home, server.api_base, "--wait", "300", **extra)
        keys = [prompt_key(r["body"]) for r in server.requests]
    assert codes == [0, 0], outputs
    assert keys and len(keys) == len(set(keys)), "the second run waited, then found nothing to do"


def _pg_normalized(url: str, tmp_path: Path) -> sa.Engine:
    landing = tmp_path / "landing"
    import_demo(landing)
    engine = create_db_engine(url)
    upgrade_to_head(engine)
    for org in ORGS:
        ingest_organization(engine, landing, org)
        normalize_organization(engine, org)
    return engine


def sized(body):
    """Usage in proportion to the prompt (as a provider counts it): input chars / 3, 2000 out."""
    reply = model_like_responder(body)
    reply.usage = (sum(len(m["content"]) for m in body["messages"]) // 3, 2000)
    reply.delay_s = 0.05
    return reply


@pytest.mark.postgres
def test_daily_cap_holds_across_two_processes_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    engine = _pg_normalized(postgres_url, tmp_path)
    cap = 0.05  # USD; one answer costs about 0.004 at 1e-6 USD per token, 34 prompts want ~0.14
    with StubLLMServer(responder=sized) as server:
        procs = [_worker(postgres_url, server.api_base, f"cap{i}", "--daily-cap", str(cap), "--concurrency", "3")
                 for i in range(2)]
        outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    statuses = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    with engine.connect() as conn:
        spent = conn.execute(sa.select(sa.func.sum(llm_calls.c.cost_usd))).scalar_one()
        per_run = dict(conn.execute(sa.select(llm_calls.c.prompt_version, sa.func.count())
                                    .group_by(llm_calls.c.prompt_version)).all())
    assert spent <= cap + 1e-9, f"two processes spent {spent} against a cap of {cap}"
    assert spent >= cap * 0.6, "the cap was nearly used, not refused early"
    assert len(per_run) == 2 and all(n >= 1 for n in per_run.values()), "both processes spent"
    assert all(s.get("budget_exhausted", 0) > 0 for s in statuses) or sum(
        s.get("budget_exhausted", 0) for s in statuses) > 0
    engine.dispose()


@pytest.mark.postgres
def test_database_refusing_connections_mid_run_loses_no_answer(tmp_path: Path, postgres_url: str) -> None:
    engine = _pg_normalized(postgres_url, tmp_path)
    name = engine.url.database
    admin = sa.create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def refuse_for_a_while(server: StubLLMServer) -> None:
        wait_for(lambda: len(server.answered) >= 3, 60, "three answers", 0.02)
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            time.sleep(2.0)
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))

    with StubLLMServer(responder=slow(0.1)) as server:
        blocker = threading.Thread(target=refuse_for_a_while, args=(server,), daemon=True)
        blocker.start()
        client = LLMClient(_settings(server.api_base, max_concurrency=2))
        statuses = {}
        for org in ORGS:
            statuses[org] = profile_organization(engine, org, client, load_prompt_config(org)).statuses
        blocker.join(timeout=60)
        answered = len(server.answered)
    with engine.connect() as conn:
        ledger = conn.execute(sa.select(sa.func.sum(llm_calls.c.attempts))).scalar_one()
    assert all(set(s) <= {"ok", "insufficient_source", "not_a_dog"} for s in statuses.values()), statuses
    assert ledger == answered, "every paid answer was stored once the database came back"
    admin.dispose()
    engine.dispose()


def test_keys_without_a_known_prefix_are_found_nowhere(tmp_path: Path) -> None:
    key = "zq7Rk2mVx9pLw4Nt8Yb3Hc6Jd"  # no sk-/AIza prefix: only the environment says it is a key
    counter = {"n": 0}
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def echoing(body):
        with lock:
            counter["n"] += 1
            k = prompt_key(body)
            seen[k] = seen.get(k, 0) + 1
            n, first = counter["n"], seen[k]
        if n == 1:
            return Reply(status=401, content=f"Incorrect API key provided: {key}. Authorization: Bearer {key}")
        if first == 1:
            return Reply(status=500, content=f"upstream failed for api_key={key}")
        if first == 2:
            return Reply(f"I cannot answer. Your key is {key} and your header was Bearer {key}")
        return model_like_responder(body)

    home = tmp_path / "home"
    _import_demo(home)
    with StubLLMServer(responder=echoing) as server:
        env = _cli_env(home, server.api_base, ENRICHMENT_ALERT_URLS="", ENRICHMENT_MIN_SUCCESS_RATE="0.99")
        del env["ENRICHMENT_LLM_API_KEY"]
        env["OPENAI_API_KEY"] = key
        run = subprocess.run([str(BIN / "enrichment"), "run", "--organization", ORG], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        alerts_out = subprocess.run([str(BIN / "enrichment"), "alerts"], cwd=REPO_ROOT, env=env,
                                    capture_output=True, text=True, timeout=120)
        sent = server.requests[0]["authorization"]
    assert sent == f"Bearer {key}", "the key taken from OPENAI_API_KEY was used"
    assert run.returncode in (0, 1), run.stdout + run.stderr
    assert key not in run.stdout + run.stderr + alerts_out.stdout + alerts_out.stderr
    found = []
    for path in home.rglob("*"):
        if path.is_file() and key.encode() in path.read_bytes():
            found.append(str(path.relative_to(home)))
    assert found == [], f"the key was stored in {found}"
    engine = create_db_engine(f"sqlite:///{home / 'enrichment.db'}")
    with engine.connect() as conn:
        failed = conn.execute(sa.select(llm_profiles.c.reason).where(llm_profiles.c.status == "failed")).scalars().all()
        raw = conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
            llm_profiles.c.raw_output.is_not(None))).scalar_one()
        alerts = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
    assert failed and "AuthenticationError" in " ".join(failed) and "***" in " ".join(failed)
    assert alerts >= 1, "the run raised alerts (scanned above)"
    engine.dispose()
