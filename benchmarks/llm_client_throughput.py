"""Calls per second of one process against a zero-latency stub (issue 13: >= 200/s), ours vs bare LiteLLM.

    .venv/bin/python benchmarks/llm_client_throughput.py [--calls 3000] [--concurrency 64] [--rounds 2]
                                                          [--only ours|bare] [--profile] [--callgrind]
                                                          [--litellm-http-handler] [--loop uvloop]

The stub (``python -m enrichment_assets_tests.stub_llm_server``) runs in its own process, so
its CPU is not the client's. After a warm-up of 100 calls each round sends ``--calls``
structured-output translation requests (json_schema, a configured price) through our client
(``run_calls``: limiter, breaker, semaphore, parsing, the caller-thread hand-off) and the
same requests through bare ``litellm.acompletion`` on the same call loop, alternating which
goes first, and prints per code and round: wall calls/s, process CPU ms per call (every
thread: LiteLLM runs part of each call in a thread pool) and the 1-minute load average.

``--callgrind`` runs the same under ``valgrind --tool=callgrind`` (instrumentation switched
on only around the measured calls, ``--calls`` default 300) and prints instructions per call:
a figure the other sessions' load on the shared cores does not move. ``--profile``
adds cProfile of the call-loop thread: how much of it is inside ``litellm.acompletion``.
``--litellm-http-handler`` measures both codes with ``ENRICHMENT_LLM_LITELLM_HTTP_HANDLER``
(LiteLLM's own HTTP handler instead of the OpenAI SDK); ``--loop uvloop`` on uvloop.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

#: set in the child process that valgrind runs (``--callgrind``)
IN_CALLGRIND = os.environ.get("BENCH_IN_CALLGRIND") == "1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=None, help="calls per measured run (3000; 300 with --callgrind)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None, help="ours + bare pairs (2; 1 with --callgrind)")
    parser.add_argument("--only", choices=["ours", "bare"], help="measure one code only")
    parser.add_argument("--raw", action="store_true", help="same as --only bare (older name)")
    parser.add_argument("--profile", action="store_true", help="also print our client's share (cProfile)")
    parser.add_argument("--callgrind", action="store_true", help="instructions per call under valgrind")
    parser.add_argument("--structured-output", default="json_schema", choices=["json_schema", "json_object", "prompt"])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], help="event loop of the call loop (default: the client's)")
    parser.add_argument("--litellm-http-handler", action="store_true",
                        help="ENRICHMENT_LLM_LITELLM_HTTP_HANDLER: LiteLLM's own HTTP handler, not the OpenAI SDK (both codes)")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # before the call loop starts
    if args.raw:
        args.only = "bare"
    if args.callgrind and not IN_CALLGRIND:
        _run_under_callgrind(args)
        return
    calls = args.calls or (300 if IN_CALLGRIND else 3000)
    rounds = args.rounds or (1 if IN_CALLGRIND else 2)
    codes = [args.only] if args.only else ["ours", "bare"]
    stub = subprocess.Popen([sys.executable, "-m", "enrichment_assets_tests.stub_llm_server"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    api_base = stub.stdout.readline().strip()
    figures: dict[str, list[tuple[float, float]]] = {code: [] for code in codes}
    try:
        from enrichment_assets.domain.models import TranslatedProfileText
        from enrichment_assets.llm.client import LLMClient, LLMSettings, call_loop, import_litellm, run_calls

        import_litellm()
        settings = LLMSettings(model="openai/stub-model", api_base=api_base, api_key="k-bench-000000",
                               max_concurrency=args.concurrency, input_cost_per_token=1e-7,
                               output_cost_per_token=2e-7, structured_output=args.structured_output,
                               litellm_http_handler=args.litellm_http_handler)
        client = LLMClient(settings)
        messages = [[{"role": "user", "content": f"translate listing {i}"}] for i in range(calls)]
        loop = call_loop()
        schema = TranslatedProfileText

        def ours():
            return run_calls(client, messages, schema, "translation")

        def bare():
            return loop.submit(_bare(client, messages, schema, args.concurrency)).result()

        run = {"ours": ours, "bare": bare}
        run_calls(client, messages[:100], schema, "translation")  # warm-up: connections, caches, lazy imports
        loop.submit(_bare(client, messages[:100], schema, args.concurrency)).result()
        print(f"{calls} calls per run, concurrency {args.concurrency}, {args.structured_output}; "
              f"event loop {type(loop.loop).__module__}.{type(loop.loop).__name__}; openai/ requests through "
              f"{'LiteLLM' if args.litellm_http_handler else 'the OpenAI SDK'}", flush=True)
        for index in range(rounds):
            order = codes if index % 2 == 0 else codes[::-1]
            for code in order:
                profiler = cProfile.Profile() if args.profile else None
                if profiler:  # the calls run on the call loop's thread: profile that thread
                    loop.submit(_call(profiler.enable)).result()
                _callgrind_section(True)
                cpu, wall = time.process_time(), time.perf_counter()
                results = run[code]()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                _callgrind_section(False, code)
                if profiler:
                    loop.submit(_call(profiler.disable)).result()
                ok = sum(bool(getattr(r, "ok", True)) for r in results)
                figures[code].append((len(results) / wall, cpu / len(results) * 1000))
                print(f"round {index + 1} {code:4s}: {len(results) / wall:5.0f} calls/s, "
                      f"{cpu / len(results) * 1000:5.2f} ms CPU per call (wall {wall:5.1f} s, {ok}/{len(results)} ok, "
                      f"load {os.getloadavg()[0]:.1f})", flush=True)
                if profiler:
                    _print_profile(profiler, len(results))
    finally:
        stub.stdin.close()
        stub.wait(timeout=30)
    if rounds > 1:
        for code, rows in figures.items():
            print(f"median {code:4s}: {statistics.median(r[0] for r in rows):5.0f} calls/s, "
                  f"{statistics.median(r[1] for r in rows):5.2f} ms CPU per call")
    if len(codes) == 2:
        ours_cpu = statistics.median(r[1] for r in figures["ours"])
        bare_cpu = statistics.median(r[1] for r in figures["bare"])
        print(f"ours - bare: {ours_cpu - bare_cpu:+.2f} ms CPU per call ({(ours_cpu / bare_cpu - 1) * 100:+.0f}%)")


async def _call(fn):
    fn()


async def _bare(client, conversations, schema, concurrency: int):
    """The same requests through bare ``litellm.acompletion`` (no client), for comparison."""
    import asyncio

    from enrichment_assets.llm.client import import_litellm, teach_litellm_price

    litellm = import_litellm()
    endpoint = client.endpoints[0]
    teach_litellm_price(endpoint.model, client.price(endpoint.model))  # the same LiteLLM set-up as the client's
    semaphore = asyncio.Semaphore(concurrency)

    async def one(messages):
        async with semaphore:
            return await litellm.acompletion(**client._kwargs(endpoint, messages, "translation", schema))

    return await asyncio.gather(*(one(m) for m in conversations))


def _print_profile(profiler: cProfile.Profile, calls: int) -> None:
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    inside = sum(v[3] for k, v in stats.stats.items()
                 if k[2] == "acompletion" and k[0].endswith("chat_completions/dispatch.py"))
    print(f"  profiled call-loop thread: {total / calls * 1000:.2f} ms per call, of which inside "
          f"litellm.acompletion {inside / calls * 1000:.2f} ms, the rest "
          f"{(total - inside) / calls * 1000:.2f} ms (event loop included)")
    if os.environ.get("BENCH_PROFILE_DUMP"):
        stats.sort_stats("tottime").print_stats(25)


# -- callgrind ---------------------------------------------------------------------------------

def _callgrind_section(start: bool, label: str = "") -> None:
    """Under callgrind: count instructions only between ``start`` and the end of a section,
    and dump each section's counts to its own file (``callgrind_control``)."""
    if not IN_CALLGRIND:
        return
    pid = str(os.getpid())
    if start:
        subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
    else:
        subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)
        subprocess.run(["callgrind_control", f"--dump={label}", pid], check=True, capture_output=True)


def _run_under_callgrind(args: argparse.Namespace) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("--callgrind needs valgrind (apt-get install valgrind)")
    calls = args.calls or 300
    child = [sys.executable, str(Path(__file__).resolve()), "--calls", str(calls),
             "--concurrency", str(args.concurrency), "--rounds", str(args.rounds or 1),
             "--structured-output", args.structured_output] + (["--only", args.only] if args.only else []) \
        + (["--loop", args.loop] if args.loop else []) + (["--litellm-http-handler"] if args.litellm_http_handler else [])
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                               f"--callgrind-out-file={out}"] + child,
                              env={**os.environ, "BENCH_IN_CALLGRIND": "1"}, capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            sys.exit(proc.returncode)
        # one dump per measured section, in order: callgrind.out.1, .2, ... (the one at exit holds nothing measured)
        dumps = sorted((p for p in Path(folder).iterdir() if re.fullmatch(r"callgrind\.out\.\d+", p.name)),
                       key=lambda p: int(p.suffix[1:]))
        for dump in dumps:
            text = dump.read_text(errors="replace")
            trigger = re.search(r"^desc: Trigger: dump (.*)$", text, re.M)
            total = re.search(r"^totals: (\d+)", text, re.M)
            if trigger and total:
                print(f"callgrind {trigger.group(1):4s}: {int(total.group(1)) / calls / 1e6:6.2f} M instructions "
                      f"per call ({calls} calls, every thread)")


if __name__ == "__main__":
    main()
