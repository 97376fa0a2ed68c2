"""Translations of many small organizations: one pool of calls for the run against one
organization after another (issue 11, "one model budget per run").

```
.venv/bin/python benchmarks/translation_pool.py [--orgs 60] [--latency 0.3] [--concurrency 4,16] [--json]
```

``--orgs`` organizations of one demo listing each (cycling through the 20 demo listings;
the cat and the too-short one get no profile, so no translation), profiled by the offline
model, then translated into the default prompt's three target languages through
``StubLLMServer`` answering with the offline model after ``--latency`` seconds, at
``ENRICHMENT_LLM_MAX_CONCURRENCY`` C: once with ``translate_organizations`` (pooled) and
once with ``translate_organization`` per organization. Prints calls, wall seconds, calls/s
against the bound C/L, and the most requests the stub saw in flight at once. Not a test:
figures depend on the machine's load (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enrichment_assets.llm.client import LLMClient  # noqa: E402
from enrichment_assets.llm.prompts import load_prompt_config  # noqa: E402
from enrichment_assets.pipeline.translations import translate_organization, translate_organizations  # noqa: E402
from enrichment_assets.storage.database import create_db_engine  # noqa: E402
from enrichment_assets_tests.fault_matrix import _settings, bumped  # noqa: E402
from enrichment_assets_tests.stub_llm_server import StubLLMServer  # noqa: E402
from enrichment_assets_tests.test_translations_pool import CountingModel, prepare_pool  # noqa: E402


def measure(database: Path, orgs: list[str], concurrency: int, latency_s: float, pooled: bool) -> dict:
    """One translation stage over ``orgs`` (every translation requested again: a new prompt version)."""
    engine = create_db_engine(f"sqlite:///{database}")
    version = f"bench-{'pooled' if pooled else 'serial'}-{concurrency}"
    configs = {org: bumped(load_prompt_config(org), version) for org in orgs}
    model = CountingModel(latency_s=latency_s)
    with StubLLMServer(responder=model) as server:
        client = LLMClient(_settings(server.api_base, max_concurrency=concurrency))
        start = time.perf_counter()
        if pooled:
            results = translate_organizations(engine, orgs, client, configs)
        else:
            results = {org: translate_organization(engine, org, client, configs[org]) for org in orgs}
        wall = time.perf_counter() - start
    engine.dispose()
    calls = sum(r.calls for r in results.values())
    failed = sum(r.statuses.get("failed", 0) for r in results.values())
    bound = concurrency / latency_s
    return {"mode": "pooled" if pooled else "one organization after another", "concurrency": concurrency,
            "calls": calls, "failed": failed, "wall_s": round(wall, 2), "calls_per_s": round(calls / wall, 1),
            "bound_per_s": round(bound, 1), "share_of_bound": round(calls / wall / bound, 3),
            "peak_in_flight": model.peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", default="4,16")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        database, orgs = prepare_pool(Path(tmp), args.orgs)
        rows = [measure(database, orgs, int(c), args.latency, pooled)
                for c in args.concurrency.split(",") for pooled in (False, True)]
    load = {"load_before": round(before, 2), "load_after": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps({"organizations": len(orgs), "latency_s": args.latency, **load, "rows": rows}, indent=1))
        return
    print(f"{len(orgs)} organizations of 1 listing, L={args.latency} s, load {load['load_before']} -> "
          f"{load['load_after']}")
    print("| mode | C | calls | failed | wall s | calls/s | bound C/L | share | peak in flight |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['concurrency']} | {r['calls']} | {r['failed']} | {r['wall_s']} | "
              f"{r['calls_per_s']} | {r['bound_per_s']} | {r['share_of_bound']:.0%} | {r['peak_in_flight']} |")


if __name__ == "__main__":
    main()
