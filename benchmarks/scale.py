"""Issue 11's four scale benchmarks, through public interfaces only, with one command.

```
.venv/bin/python benchmarks/scale.py [--quick] [--only 1,2,3,4] [--data /work/shared/data] [--out FILE]
```

Every benchmark runs the ``enrichment`` CLI in subprocesses with its own temporary
``ENRICHMENT_HOME`` (so the figures survive changes to the internals), except 4, which
evaluates ``new_scrape_sensor`` with ``dg.build_sensor_context`` in a subprocess:

1. profile-stage throughput against a local stub model (fixed latency L, rpm cap R over a
   sliding 60 s window, 429 + Retry-After above it) at concurrency C: profiles/s against
   the bound min(C/L, R/60), for one large organization and for many organizations of
   1-3 synthetic listings (translations off: a prompts folder with no target language).
   Target: >= 90% of the bound, 0 failed listings.
2. run overhead: ``enrichment run`` over N organizations of one synthetic listing
   (offline model), then the timed rerun with nothing changed: seconds per organization.
   Target: < 50 ms per organization at 1,000.
3. the PetFinder train set (``enrichment import petfinder --min-listings 1``) offline end to
   end: wall time, peak memory of the process tree (PSS), per-step ms per listing (step start/end
   of every run in the Dagster instance's event log). Targets: < 10 min, < 1.5 GB,
   non-model steps < 2 ms per listing. ``--quick`` runs a spread of rescuers and
   extrapolates the wall time by listings.
4. one ``new_scrape_sensor`` tick with 1,000 new scrape files (one per organization), then a
   tick with nothing new: seconds per tick, run requests.

A run that exceeds its timeout is killed; its figures cover what finished (marked
``timeout``). Prints a table (figure, value, target, pass/fail, load average) and writes
all figures as JSON to ``--out`` (default: stdout after the table with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ENRICHMENT = str(Path(sys.executable).parent / "enrichment")
SHARED = Path("/work/shared/data")

# -- helpers ----------------------------------------------------------------------------------


def load() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _tree_memory(pid: int) -> tuple[int, int]:
    """(PSS of ``pid`` and all its descendants, RSS of ``pid`` alone) in bytes, from /proc; 0
    when gone. PSS (``smaps_rollup``) splits each shared page among the processes that map
    it: summed VmRSS counted a child forked by the CLI (Dagster's log capture and orphan
    watchers) with all the parent's pages until it exec'd, and showed peaks of twice the
    CLI's own memory."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    total, own, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        pss, rss = _proc_kb(p, "smaps_rollup", "Pss:"), _proc_kb(p, "status", "VmRSS:")
        total += pss if pss is not None else (rss or 0)  # no smaps_rollup (old kernel): its RSS
        if p == pid:
            own = rss or 0
    return total, own


def _proc_kb(pid: int, name: str, field: str) -> int | None:
    """Bytes of the ``field`` line (in kB) of ``/proc/<pid>/<name>``; None when absent."""
    try:
        with open(f"/proc/{pid}/{name}") as f:
            return next((int(line.split()[1]) * 1024 for line in f if line.startswith(field)), None)
    except OSError:
        return None


def run_cli(args: list[str], env: dict[str, str], timeout_s: float, log: Path | None = None) -> dict:
    """Run ``enrichment ARGS`` with ``env``; wall seconds, exit code, peak memory (MB, polled
    every 0.5 s: PSS of the process tree, :func:`_tree_memory`, and RSS of the CLI), timed_out.
    Killed (its process group) after ``timeout_s``."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen([ENRICHMENT, *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    peak, peak_own, timed_out = 0, 0, False
    while proc.poll() is None:
        tree, own = _tree_memory(proc.pid)
        peak, peak_own = max(peak, tree), max(peak_own, own)
        if time.perf_counter() - started > timeout_s:
            timed_out = True
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            break
        time.sleep(0.5)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if log:
        out.close()
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 1), "rc": proc.returncode,
            "peak_rss_mb": round(peak / 2**20, 1), "peak_cli_rss_mb": round(peak_own / 2**20, 1),
            "timed_out": timed_out}


def cli_env(home: Path, **settings: object) -> dict[str, str]:
    """The environment of one benchmark's CLI: its own home; ``settings`` as ENRICHMENT_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENRICHMENT_") and k != "DAGSTER_HOME"}
    env.update({"ENRICHMENT_HOME": str(home), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_COLOR": "1",
                "COLUMNS": "200"})
    env.update({f"ENRICHMENT_{k.upper()}": str(v) for k, v in settings.items() if v is not None})
    return env


def status(env: dict[str, str]) -> dict:
    """``enrichment status --json`` of a home."""
    out = subprocess.run([ENRICHMENT, "status", "--json"], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    if out.returncode:
        raise RuntimeError(f"enrichment status --json failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def org_rows(overview: dict) -> list[dict]:
    """Per-organization rows of ``enrichment status --json`` (whatever key holds them)."""
    for key in ("organizations", "per_organization", "rows"):
        rows = overview.get(key)
        if isinstance(rows, list):
            return [r for r in rows if isinstance(r, dict) and r.get("organization") not in (None, "total")]
    return []


def totals(overview: dict) -> dict[str, int]:
    rows = org_rows(overview)
    return {k: sum(int(r.get(k) or 0) for r in rows) for k in ("listings", "eligible", "attempted", "ok")}


# -- synthetic listings -------------------------------------------------------------------------

NAMES = ["Bruno", "Luna", "Max", "Bella", "Rocky", "Nala", "Charlie", "Daisy", "Oscar", "Milo"]
BREEDS = ["Labrador Retriever", "Beagle", "German Shepherd", "Mixed Breed", "Border Collie", "Dachshund"]
TRAITS = [
    "{n} is a calm and gentle dog who loves long walks in the park.",
    "{n} gets along well with other dogs and enjoys playing fetch in the garden.",
    "{n} has lived with children aged eight and ten and was patient with them.",
    "{n} knows sit, down and paw and walks nicely on a loose lead.",
    "{n} is house-trained and can stay alone for a few hours.",
    "{n} has not been tested with cats, so a home without cats is preferred.",
    "{n} needs at least two walks a day and some time to sniff around.",
]


def listing(org: str, i: int, rng: random.Random) -> dict:
    """One synthetic dog (English, about 400 characters of description: eligible for a profile)."""
    name = rng.choice(NAMES)
    text = " ".join(t.format(n=name) for t in rng.sample(TRAITS, 5))
    return {"external_id": f"{org}-{i:05d}", "name": name, "species": "dog", "breed": rng.choice(BREEDS),
            "age_text": f"{rng.randint(1, 12)} years", "sex": rng.choice(["male", "female"]),
            "size": rng.choice(["small", "medium", "large"]), "neutered": rng.random() < 0.5,
            "description": text}


def write_orgs(landing: Path, sizes: list[int], prefix: str, seed: int = 11) -> int:
    """Scrape files for ``len(sizes)`` organizations (``prefix-00001`` ...) with those listing counts."""
    from enrichment_assets.sources.landing import write_scrape_file

    rng = random.Random(seed)
    for n, size in enumerate(sizes):
        org = f"{prefix}-{n:05d}"
        write_scrape_file(landing, org, "2026-12-01", [listing(org, i, rng) for i in range(size)], full=True)
    return sum(sizes)


def no_translation_prompts(folder: Path) -> Path:
    """A copy of the project's prompts with no target language (the profile stage alone)."""
    import yaml

    shutil.copytree(ROOT / "prompts", folder)
    path = folder / "default.yaml"
    config = yaml.safe_load(path.read_text())
    config["metadata"]["target_languages"] = []
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    for org_file in (folder / "organizations").glob("*.yaml"):
        org_file.unlink()
    return folder


# -- 1: profile-stage throughput ------------------------------------------------------------------


def bench_throughput(cs: list[int], latency_s: float, rpm: int, many_orgs: int, seconds: float,
                     timeout_s: float, tmp: Path) -> list[dict]:
    from enrichment_assets.llm.prompts import LISTING_TAG
    from enrichment_assets_tests.stub_llm_server import (
        StubLLMServer, model_like_responder, warm_model_like_responder,
    )

    def responder(body):
        # the answer is computed (offline model, in this process) inside the latency: the
        # client sees L per request, not L plus the stub's CPU time
        started = time.perf_counter()
        reply = model_like_responder(body)
        reply.delay_s = max(0.0, latency_s - (time.perf_counter() - started))
        return reply

    warm_model_like_responder()  # the offline model's cold start is the stub's, not L
    prompts = no_translation_prompts(tmp / "prompts-profiles-only")
    results = []
    for shape in ("one organization", f"{many_orgs} organizations of 1-3"):
        for c in cs:
            bound = min(c / latency_s, rpm / 60)
            home = tmp / f"b1-{len(results)}"
            if shape == "one organization":
                sizes = [max(20, int(bound * seconds))]
            else:
                sizes_rng = random.Random(c)  # one generator: the organizations differ in size
                sizes = [sizes_rng.randint(1, 3) for _ in range(many_orgs)]
            listings = write_orgs(home / "landing", sizes, "tp")
            with StubLLMServer(responder=responder, rpm_cap=rpm, rpm_window_s=60.0) as server:
                env = cli_env(home, llm_model="openai/stub-model", llm_api_base=server.api_base,
                              llm_api_key="k-bench-000000", llm_max_concurrency=c, llm_rpm=rpm,
                              llm_structured_output="json_schema", llm_input_cost_per_mtok=0.1,
                              llm_output_cost_per_mtok=0.2, prompts_dir=prompts, llm_timeout_s=30)
                load_before = load()
                run = run_cli(["run"], env, timeout_s, log=home / "run.log")
                killed_at = time.monotonic()
                profile = [r for r in server.requests if f"<{LISTING_TAG}>" in json.dumps(r["body"])]
                answered = sorted(server.answered)
                rejected = server.rejected_429
                # the stub's own service time (arrival to answer written): L plus its overhead
                service = ((sum(answered) - sum(r["at"] for r in server.requests)) / len(answered)
                           if answered and len(answered) == len(server.requests) else None)
                busiest = server.max_in_window(60.0)
            counts = totals(status(env))
            first = min((r["at"] for r in profile), default=None)
            last = answered[-1] if answered and not run["timed_out"] else killed_at
            ok_calls = len(answered)
            end_to_end = ok_calls / (last - first) if first is not None and last > first else 0.0
            to_monotonic = time.monotonic() - time.time()
            steps = [(a + to_monotonic, b + to_monotonic) for a, b in step_intervals(home / "dagster", "llm_profiles")]
            in_stage = stage_seconds([r["at"] for r in profile], answered, steps)
            rate = ok_calls / in_stage if in_stage > 0 and not run["timed_out"] else end_to_end
            failed = counts["eligible"] - counts["ok"]
            results.append({
                "benchmark": 1, "shape": shape, "concurrency": c, "latency_s": latency_s, "rpm": rpm,
                "organizations": len(sizes), "listings": listings, "eligible": counts["eligible"],
                "ok": counts["ok"], "failed_listings": failed, "profile_requests": len(profile),
                "answers": ok_calls, "answers_429": rejected, "busiest_60s": busiest,
                "profiles_per_s": round(rate, 3), "bound_per_s": round(bound, 3), "runs": len(steps),
                "end_to_end_per_s": round(end_to_end, 3), "stage_s": round(in_stage, 2),
                "outside_stage_s": round((last - first) - in_stage, 2) if first is not None else None,
                "share_of_bound": round(rate / bound, 3),
                "stub_service_s": round(service, 4) if service else None,
                "share_of_stub_bound": round(rate / min(c / service, rpm / 60), 3) if service else None,
                **run, "load": f"{load_before} -> {load()}",
                "pass": (not run["timed_out"] and run["rc"] == 0 and failed == 0 and rate >= 0.9 * bound),
            })
            print(_row1(results[-1]), flush=True)
    return results


def _row1(r: dict) -> str:
    return (f"1 {r['shape']:<26} C={r['concurrency']:<3} {r['profiles_per_s']:8.2f}/s of bound "
            f"{r['bound_per_s']:6.2f} ({r['share_of_bound']:.0%}; stub answered in "
            f"{(r['stub_service_s'] or 0) * 1000:.0f} ms: {(r['share_of_stub_bound'] or 0):.0%} of C/that), "
            f"{r.get('runs', 1)} run(s), end to end {r.get('end_to_end_per_s', 0):.2f}/s "
            f"({r.get('outside_stage_s') or 0:.1f} s between profile steps), failed {r['failed_listings']}, 429s "
            f"{r['answers_429']}, wall {r['wall_s']:.0f} s{' TIMEOUT' if r['timed_out'] else ''} "
            f"[{'PASS' if r['pass'] else 'FAIL'}] load {r['load']}")


# -- 2: run overhead ----------------------------------------------------------------------------------


def bench_overhead(sizes: list[int], timeout_s: float, tmp: Path) -> list[dict]:
    results = []
    for n in sizes:
        home = tmp / f"b2-{n}"
        write_orgs(home / "landing", [1] * n, "ov")
        env = cli_env(home)
        first = run_cli(["run"], env, timeout_s, log=home / "run.log")
        entry = {"benchmark": 2, "organizations": n, "first_run": first}
        if first["timed_out"]:
            done = sum(1 for r in org_rows(status(env)) if int(r.get("attempted") or 0) > 0)
            entry.update({"rerun": None, "s_per_org": None, "first_run_orgs_done": done,
                          "first_run_s_per_org": round(first["wall_s"] / max(done, 1), 3),
                          "pass": False if n >= 1000 else None,
                          "load": load()})
        else:
            load_before = load()
            rerun = run_cli(["run"], env, timeout_s, log=home / "rerun.log")
            entry.update({"rerun": rerun, "s_per_org": round(rerun["wall_s"] / n, 4),
                          "first_run_s_per_org": round(first["wall_s"] / n, 3),
                          "load": f"{load_before} -> {load()}",
                          "pass": (not rerun["timed_out"] and rerun["wall_s"] / n < 0.05) if n >= 1000 else None})
        results.append(entry)
        print(_row2(entry), flush=True)
        shutil.rmtree(home, ignore_errors=True)
    return results


def _row2(r: dict) -> str:
    if r["rerun"] is None:
        return (f"2 rerun over {r['organizations']:>5} orgs: not measured (first run timed out after "
                f"{r['first_run']['wall_s']:.0f} s, {r['first_run_orgs_done']} orgs done, "
                f"{r['first_run_s_per_org']:.2f} s/org) load {r['load']}")
    verdict = {True: "PASS", False: "FAIL", None: "-"}[r["pass"]]
    return (f"2 rerun over {r['organizations']:>5} orgs: {r['s_per_org'] * 1000:8.1f} ms/org (rerun wall "
            f"{r['rerun']['wall_s']:.1f} s; first run {r['first_run_s_per_org'] * 1000:.0f} ms/org) "
            f"[{verdict}] load {r['load']}")


# -- 3: the PetFinder train set offline ------------------------------------------------------------------

#: Steps that call the model (their checks, ``<asset>_<check>`` steps when separate, do not).
MODEL_STEPS = ("llm_profiles", "translations")


def step_intervals(dagster_home: Path, step_key: str) -> list[tuple[float, float]]:
    """(start, end) wall-clock seconds (``time.time``) of ``step_key`` in every run of the
    instance, in start order."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        return sorted((stat.start_time, stat.end_time) for run in instance.get_runs()
                      for stat in instance.get_run_step_stats(run.run_id)
                      if stat.step_key == step_key and stat.start_time and stat.end_time)
    finally:
        instance.dispose()


def stage_seconds(arrivals: list[float], answers: list[float], intervals: list[tuple[float, float]]) -> float:
    """Seconds the profile stage ran with requests to make: for each step interval (same clock
    as ``arrivals``/``answers``), its first request's arrival to its last answer, summed.
    A run's other stages and the next run's start (no profile step running) are left out;
    any pause inside a profile step is counted."""
    total = 0.0
    for start, end in intervals:
        inside = [a for a in arrivals if start <= a <= end]
        done = [a for a in answers if start <= a <= end]
        if inside and done:
            total += max(done) - min(inside)
    return total


def step_ms(dagster_home: Path) -> dict[str, float]:
    """Summed wall seconds per step key over every run of the instance (step start to end)."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    seconds: dict[str, float] = {}
    try:
        for run in instance.get_runs():
            for stat in instance.get_run_step_stats(run.run_id):
                if stat.start_time and stat.end_time:
                    seconds[stat.step_key] = seconds.get(stat.step_key, 0.0) + stat.end_time - stat.start_time
    finally:
        instance.dispose()
    return seconds


def bench_petfinder(data: Path, sample_orgs: int | None, timeout_s: float, tmp: Path) -> dict:
    home = tmp / "b3"
    env = cli_env(home)
    pf = data / "petfinder"
    imported = run_cli(["import", "petfinder", str(pf / "train.csv"), "--labels-dir", str(pf),
                        "--min-listings", "1"], env, 900, log=home.with_suffix(".import.log"))
    landing = home / "landing"
    orgs = sorted(p.name for p in landing.iterdir() if p.is_dir())
    total_listings = sum(sum(1 for line in f.open() if '"external_id"' in line)
                         for org in orgs for f in (landing / org).glob("*.jsonl"))
    args = ["run"]
    if sample_orgs and sample_orgs < len(orgs):
        chosen = orgs[:: max(1, len(orgs) // sample_orgs)][:sample_orgs]
        args += [x for org in chosen for x in ("--organization", org)]
    else:
        chosen = orgs
    load_before = load()
    run = run_cli(args, env, timeout_s, log=home.with_suffix(".run.log"))
    rows = {r["organization"]: r for r in org_rows(status(env))}
    done = [o for o in chosen if int(rows.get(o, {}).get("attempted") or 0) > 0 or
            int(rows.get(o, {}).get("listings") or 0) > 0]
    listings_done = sum(int(rows[o].get("listings") or 0) for o in done)
    steps = step_ms(home / "dagster")
    per_listing = {k: round(v * 1000 / max(listings_done, 1), 3) for k, v in sorted(steps.items())}
    non_model = {k: v for k, v in per_listing.items() if k not in MODEL_STEPS}
    extrapolated = run["wall_s"] * total_listings / max(listings_done, 1)
    full = len(chosen) == len(orgs) and not run["timed_out"]
    result = {
        "benchmark": 3, "organizations_total": len(orgs), "listings_total": total_listings,
        "organizations_run": len(chosen), "organizations_done": len(done), "listings_done": listings_done,
        "import": imported, **run, "wall_s_whole_set": round(run["wall_s"] if full else extrapolated, 1),
        "wall_extrapolated": not full, "step_ms_per_listing": per_listing,
        "load": f"{load_before} -> {load()}",
        "pass_wall": (run["wall_s"] if full else extrapolated) < 600,
        "pass_rss": run["peak_rss_mb"] < 1536 and full,  # a partial run proves nothing
        "pass_non_model": all(v < 2.0 for v in non_model.values()) if non_model else False,
    }
    print(_row3(result), flush=True)
    return result


def _row3(r: dict) -> str:
    pf = lambda ok: "PASS" if ok else "FAIL"  # noqa: E731
    lines = [f"3 PetFinder {r['organizations_done']}/{r['organizations_total']} orgs, {r['listings_done']}/"
             f"{r['listings_total']} listings in {r['wall_s']:.0f} s ({r.get('cpu_s', 0):.0f} s CPU)"
             f"{' TIMEOUT' if r['timed_out'] else ''}; whole set "
             f"{'~' if r['wall_extrapolated'] else ''}{r['wall_s_whole_set']:.0f} s [{pf(r['pass_wall'])}]; "
             f"peak PSS {r['peak_rss_mb']:.0f} MB [{pf(r['pass_rss'])}] (CLI RSS {r.get('peak_cli_rss_mb', 0):.0f} MB); "
             f"load {r['load']}"]
    for step, ms in r["step_ms_per_listing"].items():
        model = step in MODEL_STEPS
        lines.append(f"    {step:<40} {ms:9.2f} ms/listing"
                     + ("" if model else f" [{pf(ms < 2.0)}]"))
    return "\n".join(lines)


# -- 4: sensor tick ------------------------------------------------------------------------------------

SENSOR_SCRIPT = r"""
import json, time
import dagster as dg
from enrichment_assets.automation.sensors import new_scrape_sensor
from enrichment_assets.definitions import default_resources
from enrichment_assets.partitions import organizations

with dg.instance_for_test() as instance:
    ticks = []
    cursor = None
    for _ in range(2):
        with dg.build_sensor_context(instance=instance, resources=default_resources(), cursor=cursor) as context:
            start = time.perf_counter()
            result = new_scrape_sensor(context)
            seconds = time.perf_counter() - start
        requests = list(result.run_requests or [])
        for req in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(organizations.name, list(req.partition_keys))
        cursor = result.cursor
        ticks.append({"seconds": round(seconds, 3), "run_requests": len(requests),
                      "partitions_requested": sum(len(getattr(r, "partition_keys", None) or [r.partition_key])
                                                  for r in requests if hasattr(r, "partition_key")),
                      "skip_reason": (result.skip_reason or "")[:200]})
    print(json.dumps(ticks))
"""


def bench_sensor(files: int, tmp: Path) -> dict:
    home = tmp / "b4"
    write_orgs(home / "landing", [1] * files, "sn")
    env = cli_env(home)
    load_before = load()
    out = subprocess.run([sys.executable, "-c", SENSOR_SCRIPT], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"sensor benchmark failed: {out.stderr[-3000:]}")
    ticks = json.loads(out.stdout.strip().splitlines()[-1])
    result = {"benchmark": 4, "files": files, "first_tick": ticks[0], "second_tick": ticks[1],
              "load": f"{load_before} -> {load()}"}
    print(f"4 sensor tick, {files} new files: {ticks[0]['seconds']:.2f} s, {ticks[0]['run_requests']} run "
          f"requests; tick with nothing new: {ticks[1]['seconds']:.2f} s, {ticks[1]['run_requests']} run "
          f"requests (target: report; 0 requests on the second) load {result['load']}", flush=True)
    return result


def print_summary(results: dict) -> None:
    """One table: figure, value, target, verdict, load average (1/5/15 min) when measured."""
    rows: list[tuple[str, str, str, str, str]] = []
    verdict = {True: "PASS", False: "FAIL", None: "-"}
    for r in results.get("1", []):
        rows.append((f"1 profiles/s, {r['shape']}, C={r['concurrency']}",
                     f"{r['profiles_per_s']:.2f} ({r['share_of_bound']:.0%} of {r['bound_per_s']:.1f}), failed "
                     f"{r['failed_listings']}{', TIMEOUT' if r['timed_out'] else ''}",
                     ">= 90% of bound, 0 failed", verdict[r["pass"]], r["load"]))
    for r in results.get("2", []):
        value = (f"{r['s_per_org'] * 1000:.1f} ms/org" if r["rerun"] is not None else
                 f"not measured (first run TIMEOUT, {r['first_run_s_per_org']:.2f} s/org)")
        rows.append((f"2 rerun, {r['organizations']} orgs", value, "< 50 ms/org at 1,000", verdict[r["pass"]],
                     r["load"]))
    if "3" in results:
        r = results["3"]
        rows.append(("3 PetFinder wall", f"{'~' if r['wall_extrapolated'] else ''}{r['wall_s_whole_set']:.0f} s "
                     f"({r['listings_done']}/{r['listings_total']} listings run)", "< 600 s",
                     verdict[r["pass_wall"]], r["load"]))
        rows.append(("3 PetFinder peak PSS", f"{r['peak_rss_mb']:.0f} MB{'' if not r['wall_extrapolated'] else ' (partial run)'}",
                     "< 1536 MB", verdict[r["pass_rss"]], r["load"]))
        non_model = {k: v for k, v in r["step_ms_per_listing"].items() if k not in MODEL_STEPS}
        worst = max(non_model.items(), key=lambda kv: kv[1]) if non_model else ("-", 0.0)
        rows.append(("3 non-model steps, worst", f"{worst[0]}: {worst[1]:.2f} ms/listing", "< 2 ms/listing each",
                     verdict[r["pass_non_model"]], r["load"]))
    if "4" in results:
        r = results["4"]
        rows.append((f"4 sensor tick, {r['files']} new files", f"{r['first_tick']['seconds']:.2f} s, "
                     f"{r['first_tick']['run_requests']} run requests", "report", "-", r["load"]))
        rows.append(("4 sensor tick, nothing new", f"{r['second_tick']['seconds']:.2f} s, "
                     f"{r['second_tick']['run_requests']} run requests", "0 run requests",
                     verdict[r["second_tick"]["run_requests"] == 0], r["load"]))
    widths = [max(len(row[i]) for row in rows + [("figure", "value", "target", "", "load")]) for i in range(5)]
    print()
    for row in [("figure", "value", "target", "verdict", "load (before -> after)")] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


# -- entry point ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-minute smoke variant")
    parser.add_argument("--only", default="1,2,3,4", help="comma-separated benchmark numbers")
    parser.add_argument("--data", type=Path, default=SHARED, help=f"shared data folder (default {SHARED})")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON figures here")
    parser.add_argument("--json", action="store_true", help="print the JSON figures after the table")
    parser.add_argument("--latency", type=float, default=0.25, help="stub latency L (s), benchmark 1")
    parser.add_argument("--rpm", type=int, default=3000, help="stub rpm cap R, benchmark 1")
    parser.add_argument("--concurrency", default=None, help="C values of benchmark 1 (default 1,4,16,64; quick 4,64)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per CLI run before it is killed")
    args = parser.parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    quick = args.quick
    cs = [int(x) for x in (args.concurrency or ("4,64" if quick else "1,4,16,64")).split(",")]
    timeout = args.timeout or (180 if quick else 600)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    report: dict = {"commit": git.strip(), "quick": quick, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "load_at_start": load(), "cpus": os.cpu_count(), "results": {}}
    print(f"scale benchmarks at {report['commit']} ({'quick' if quick else 'full'}), load {report['load_at_start']}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if 1 in only:
            report["results"]["1"] = bench_throughput(cs, args.latency, args.rpm, 60 if quick else 300,
                                                      10 if quick else 20, timeout, tmp)
        if 2 in only:
            report["results"]["2"] = bench_overhead([10, 100] if quick else [10, 100, 1000], timeout, tmp)
        if 3 in only:
            report["results"]["3"] = bench_petfinder(args.data, 150 if quick else None,
                                                      timeout if quick else max(timeout, 900), tmp)
        if 4 in only:
            report["results"]["4"] = bench_sensor(1000, tmp)
    print_summary(report["results"])
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["load_at_end"] = load()
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text)
    if args.json:
        print(text)


if __name__ == "__main__":
    main()
