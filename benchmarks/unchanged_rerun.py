"""An unchanged rerun against the first run, per stage (issue 13: rerun under 10%).

```
.venv/bin/python benchmarks/unchanged_rerun.py [--model offline/rules] [--rescuer RESCUER_KEY] [--reruns N] [--data DIR]
```

Imports the PetFinder.my rescuer with the most listings (or ``--rescuer``, an organization
key) from ``../shared/data/petfinder`` into a temporary landing folder through the importer
(the data is never copied into the repository), then runs the pipeline functions the assets
call (ingest, normalize, profiles, profile rules, quality, translations, translation rules)
once with the offline model, and again with nothing changed (``--reruns`` times, default 3;
the fastest per stage is printed, the one least disturbed by other processes). Prints wall
and CPU seconds per stage for the first run and the rerun, and the rerun/first ratios.

``--stub``: the model is a local OpenAI-compatible stub server (answers written by the
offline rules, ``--latency-ms`` 500 per request, 429 above ``--rpm`` 300 in any 60 s
window), reached through LiteLLM as ``openai/stub-model`` with ``ENRICHMENT_LLM_RPM`` set to
the same cap, as issue 13 measured it. ``--cli`` times whole ``enrichment run
--organization`` processes instead of the stage functions (a fresh ``ENRICHMENT_HOME``,
``enrichment import petfinder --min-listings`` the rescuer's size, so only rescuers at least
that large are imported), which includes process start, imports and Dagster's runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
#: ``../shared/data`` of the checkout (of /work/main from a worktree under /work/wt); ``--data`` overrides
SHARED = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data") if p.exists()),
              ROOT.parent / "shared" / "data")


def _run(engine, landing: Path, org: str, client, config) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds of each stage function, by stage name."""
    from enrichment_assets.pipeline.hallucination import evaluate_profiles, evaluate_translations
    from enrichment_assets.pipeline.normalize import normalize_organization
    from enrichment_assets.pipeline.profiles import profile_organization
    from enrichment_assets.pipeline.quality import score_organization
    from enrichment_assets.pipeline.raw import ingest_organization
    from enrichment_assets.pipeline.translations import translate_organization

    stages = [
        ("raw_records (ingest)", lambda: ingest_organization(engine, landing, org)),
        ("normalized_records", lambda: normalize_organization(engine, org)),
        ("llm_profiles", lambda: profile_organization(engine, org, client, config)),
        ("profile rules", lambda: evaluate_profiles(engine, org)),
        ("quality_scores", lambda: score_organization(engine, org, config.cliches)),
        ("translations", lambda: translate_organization(engine, org, client, config)),
        ("translation rules", lambda: evaluate_translations(engine, org)),
    ]
    seconds = {}
    for name, stage in stages:
        start, cpu = time.perf_counter(), time.process_time()
        stage()
        seconds[name] = (time.perf_counter() - start, time.process_time() - cpu)
    return seconds


STUB_MODEL = "openai/stub-model"


@contextlib.contextmanager
def _stub(args) -> Iterator[dict[str, str]]:
    """The stub server (if ``--stub``) and the environment that points the client at it."""
    if not args.stub:
        yield {"ENRICHMENT_LLM_MODEL": args.model}
        return
    sys.path.insert(0, str(ROOT))
    from enrichment_assets_tests.stub_llm_server import StubLLMServer, model_like_responder

    def slow(body):
        reply = model_like_responder(body)
        reply.delay_s = args.latency_ms / 1000.0
        return reply

    with StubLLMServer(responder=slow, rpm_cap=args.rpm) as server:
        yield {"ENRICHMENT_LLM_MODEL": STUB_MODEL, "ENRICHMENT_LLM_API_BASE": server.api_base,
               "ENRICHMENT_LLM_API_KEY": "sk-bench-not-a-real-key-0000", "ENRICHMENT_LLM_RPM": str(args.rpm),
               "_server": server}  # type: ignore[dict-item]


def _cli(args, org: str, size: int, env: dict) -> None:
    """Whole ``enrichment run --organization`` processes: first run, then unchanged rerun."""
    enrichment = str(Path(sys.executable).parent / "enrichment")
    with tempfile.TemporaryDirectory() as tmp:
        environment = {**os.environ, **{k: v for k, v in env.items() if not k.startswith("_")},
                       "ENRICHMENT_HOME": str(Path(tmp) / "home")}
        for name in ("DAGSTER_HOME", "ENRICHMENT_DATABASE_URL", "ENRICHMENT_LANDING_DIR"):
            environment.pop(name, None)
        subprocess.run([enrichment, "import", "petfinder", str(SHARED / "petfinder" / "train.csv"), "--labels-dir",
                        str(SHARED / "petfinder"), "--min-listings", str(size)], env=environment, check=True,
                       capture_output=True)
        seconds, cpu = [], []
        for _ in range(2):
            before = os.times()
            start = time.perf_counter()
            proc = subprocess.run([enrichment, "run", "--organization", org], env=environment,
                                  capture_output=True, text=True)
            seconds.append(time.perf_counter() - start)
            after = os.times()
            cpu.append(after.children_user + after.children_system - before.children_user - before.children_system)
            if proc.returncode not in (0, 1):  # 1: a check below its floor, still a finished run
                raise SystemExit(proc.stderr[-3000:])
            print(proc.stdout.strip().splitlines()[-1])
    print(f"whole process: first run {seconds[0]:.1f} s ({cpu[0]:.1f} s CPU), unchanged rerun {seconds[1]:.1f} s "
          f"({cpu[1]:.1f} s CPU) = {seconds[1] / seconds[0]:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="offline/rules")
    parser.add_argument("--rescuer", default=None, help="organization key (default: the largest rescuer)")
    parser.add_argument("--reruns", type=int, default=3, help="unchanged reruns; the fastest is printed")
    parser.add_argument("--stub", action="store_true", help="a local stub server with latency and an rpm cap")
    parser.add_argument("--latency-ms", type=float, default=500.0)
    parser.add_argument("--rpm", type=int, default=300)
    parser.add_argument("--cli", action="store_true", help="time whole `enrichment run` processes")
    parser.add_argument("--data", type=Path, default=None, help=f"shared data folder (default {SHARED})")
    args = parser.parse_args()
    if args.data is not None:
        globals()["SHARED"] = args.data  # read by _cli too

    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.sources.petfinder import read_petfinder

    data = SHARED / "petfinder"
    rescuers = read_petfinder(data / "train.csv", labels_dir=data)
    org = args.rescuer or max(rescuers, key=lambda key: len(rescuers[key]))
    config = load_prompt_config(org)
    model = STUB_MODEL if args.stub else args.model
    print(f"organization {org}: {len(rescuers[org])} listings, model {model}"
          + (f" (stub: {args.latency_ms:.0f} ms per request, 429 above {args.rpm} rpm; ENRICHMENT_LLM_RPM={args.rpm})"
             if args.stub else "")
          + f", target languages {', '.join(config.metadata.target_languages) or 'none'}")
    with _stub(args) as env:
        server = env.get("_server")
        if args.cli:
            _cli(args, org, len(rescuers[org]), env)
        else:
            with _environment(env):
                first, rerun = _stage_runs(rescuers, org, config, args.reruns)
        if server is not None:
            print(f"stub: {len(server.requests)} requests, {server.rejected_429} answered 429, "
                  f"busiest 60 s window {server.max_in_window(60.0)} of {args.rpm}")
    if args.cli:
        return
    print(f"rerun: fastest of {args.reruns}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'stage':<22} {'first s':>9} {'rerun s':>9} {'ratio':>7} {'first cpu':>10} {'rerun cpu':>10} {'ratio':>7}")

    def row(name: str, a: tuple[float, float], b: tuple[float, float]) -> str:
        return (f"{name:<22} {a[0]:9.3f} {b[0]:9.3f} {b[0] / a[0] if a[0] else 0.0:7.1%} "
                f"{a[1]:10.3f} {b[1]:10.3f} {b[1] / a[1] if a[1] else 0.0:7.1%}")

    for name in first:
        print(row(name, first[name], rerun[name]))
    total = [tuple(sum(t[i] for t in runs.values()) for i in (0, 1)) for runs in (first, rerun)]
    print(row("total", total[0], total[1]))


@contextlib.contextmanager
def _environment(env: dict) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env if not k.startswith("_")}
    os.environ.update({k: v for k, v in env.items() if not k.startswith("_")})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stage_runs(rescuers, org: str, config, reruns: int = 3) -> tuple[dict, dict]:
    """The stage functions twice on a fresh landing folder and database; the client as the
    resource builds it from the environment."""
    from enrichment_assets.resources.llm import LLMResource
    from enrichment_assets.sources.landing import write_scrape_file
    from enrichment_assets.sources.petfinder import DEFAULT_SCRAPE_ID, SOURCE
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head

    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        write_scrape_file(landing, org, DEFAULT_SCRAPE_ID, rescuers[org], full=True, source=SOURCE)
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'db.sqlite'}")
        upgrade_to_head(engine)
        client = LLMResource().client()
        first = _run(engine, landing, org, client, config)
        runs = [_run(engine, landing, org, client, config) for _ in range(reruns)]
        engine.dispose()
    # the fastest of the reruns per stage: the least disturbed by other processes on the machine
    rerun = {name: min((r[name] for r in runs), key=lambda t: t[0]) for name in first}
    return first, rerun


if __name__ == "__main__":
    main()
