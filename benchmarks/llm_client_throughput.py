"""Calls per second of one process against a zero-latency stub (issue 13: >= 200/s).

    .venv/bin/python benchmarks/llm_client_throughput.py [--calls 3000] [--concurrency 64]

The stub runs in its own process. Prints calls/s, CPU per call (whole process), and how
much of it is our client (everything outside ``litellm.acompletion``), from cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from enrichment_assets.domain.models import TranslatedProfileText  # noqa: E402
from enrichment_assets.llm.client import LLMClient, LLMSettings, call_loop, import_litellm, run_calls  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="also print our client's share (cProfile)")
    parser.add_argument("--structured-output", default="json_schema", choices=["json_schema", "json_object", "prompt"])
    parser.add_argument("--raw", action="store_true", help="bare litellm.acompletion, for comparison")
    args = parser.parse_args()
    stub = subprocess.Popen([sys.executable, "-m", "enrichment_assets_tests.stub_llm_server"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    api_base = stub.stdout.readline().strip()
    try:
        import_litellm()
        settings = LLMSettings(model="openai/stub-model", api_base=api_base, api_key="k-bench-000000",
                               max_concurrency=args.concurrency, input_cost_per_token=1e-7,
                               output_cost_per_token=2e-7, structured_output=args.structured_output)
        client = LLMClient(settings)
        messages = [[{"role": "user", "content": f"translate listing {i}"}] for i in range(args.calls)]
        run_calls(client, messages[:100], TranslatedProfileText, "translation")  # warm-up: connections, caches
        profiler = cProfile.Profile() if args.profile else None
        loop = call_loop()
        if profiler:  # the calls run on the call loop's thread: profile that thread
            loop.submit(_call(profiler.enable)).result()
        cpu, wall = time.process_time(), time.perf_counter()
        if args.raw:
            results = loop.submit(_raw(client, messages, TranslatedProfileText, args.concurrency)).result()
        else:
            results = run_calls(client, messages, TranslatedProfileText, "translation")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profiler:
            loop.submit(_call(profiler.disable)).result()
    finally:
        stub.stdin.close()
        stub.wait(timeout=30)
    ok = sum(bool(getattr(r, "ok", True)) for r in results)
    print(f"calls: {len(results)} ok: {ok}")
    print(f"calls per second: {len(results) / wall:.0f} (wall {wall:.1f} s, concurrency {args.concurrency})")
    print(f"process CPU per call: {cpu / len(results) * 1000:.2f} ms")
    if profiler:
        stats = pstats.Stats(profiler)
        total = stats.total_tt
        inside = sum(v[3] for k, v in stats.stats.items()
                     if k[2] == "acompletion" and k[0].endswith("chat_completions/dispatch.py"))
        print(f"profiled call-loop thread: {total / len(results) * 1000:.2f} ms per call, of which inside "
              f"litellm.acompletion {inside / len(results) * 1000:.2f} ms, our client "
              f"{(total - inside) / len(results) * 1000:.2f} ms (event loop included)")
        if os.environ.get("BENCH_PROFILE_DUMP"):
            stats.sort_stats("tottime").print_stats(25)


async def _call(fn):
    fn()


async def _raw(client: LLMClient, conversations, schema, concurrency: int):
    """The same requests through bare ``litellm.acompletion`` (no client), for comparison."""
    import asyncio

    from enrichment_assets.llm.client import teach_litellm_price

    litellm = import_litellm()
    endpoint = client.endpoints[0]
    teach_litellm_price(endpoint.model, client.price(endpoint.model))  # the same LiteLLM set-up as the client's
    semaphore = asyncio.Semaphore(concurrency)

    async def one(messages):
        async with semaphore:
            return await litellm.acompletion(**client._kwargs(endpoint, messages, "translation", schema))

    return await asyncio.gather(*(one(m) for m in conversations))


if __name__ == "__main__":
    main()
