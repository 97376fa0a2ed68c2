"""Issue 13's acceptance: against a stub with an rpm cap R and no limit on concurrency,
0 429s, 0 failed listings, and at least 90% of R/60 requests per second over three minutes.

    .venv/bin/python benchmarks/rate_limit.py [--rpm 600] [--seconds 180]

The stub answers 429 (with Retry-After) to any request beyond R in a sliding 60 s window;
the client runs with ENRICHMENT_LLM_RPM=R and a concurrency limit far above the load.
Prints 429s, failed calls, the sustained rate and the busiest 60 s window.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from enrichment_assets.domain.models import TranslatedProfileText  # noqa: E402
from enrichment_assets.llm.client import LLMClient, LLMSettings, run_calls  # noqa: E402
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer  # noqa: E402

ANSWER = json.dumps({"language": "de", "tagline": "Ein treuer Freund",
                     "description": "Bello ist ein ruhiger Hund, der gerne spazieren geht."})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    calls = int(args.rpm / 60 * args.seconds)
    with StubLLMServer(default=Reply(ANSWER), rpm_cap=args.rpm, rpm_window_s=60.0) as server:
        settings = LLMSettings(model="openai/stub-model", api_base=server.api_base, api_key="k-bench-000000",
                               max_concurrency=100_000, requests_per_minute=args.rpm,
                               input_cost_per_token=1e-7, output_cost_per_token=2e-7)
        client = LLMClient(settings)
        started = time.monotonic()
        results = run_calls(client, [[{"role": "user", "content": f"translate {i}"}] for i in range(calls)],
                            TranslatedProfileText, "translation")
        elapsed = time.monotonic() - started
        arrivals = list(server.arrivals)
        busiest = server.max_in_window(60.0)
        rejected = server.rejected_429
    failed = sum(not r.ok for r in results)
    # the sustained rate from the first to the last request (the burst at the start excluded)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else elapsed
    rate = (len(arrivals) - 1) / span if span else 0.0
    target = args.rpm / 60
    print(f"rpm cap R: {args.rpm} ({target:.2f}/s); calls: {calls}; wall: {elapsed:.1f} s")
    print(f"429 answers: {rejected}; failed calls: {failed}")
    print(f"sustained rate: {rate:.3f}/s = {rate / target:.1%} of R/60 (acceptance: >= 90%)")
    print(f"busiest 60 s window: {busiest} requests (cap {args.rpm})")
    ok = rejected == 0 and failed == 0 and rate >= 0.9 * target and busiest <= args.rpm
    print("acceptance:", "PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
