"""Run overhead per organization of ``enrichment run`` (issue 11 benchmark 2).

```
.venv/bin/python benchmarks/run_overhead.py [--orgs 10 100 1000] [--listings 2] [--profile]
```

For each count N: a temporary ENRICHMENT_HOME with N tiny organizations (``--listings``
dog listings each, written as scrape files by this script), one ``enrichment run``
(``run_organizations``) with the offline model, then a second one with nothing changed
(every organization ``unchanged``: no Dagster run), then a third one with ``force=True``
(every stage runs, each finds its rows up to date: the overhead without the skip).
Prints JSON and a table: wall seconds of the runs, seconds per organization of the
unchanged and of the forced rerun, and the Dagster runs each made. Target: under 0.05 s
per organization at 1,000. ``--no-forced``: skip the forced rerun (it costs about as
much as the first run).
``--profile``: cProfile the rerun of the largest N, print the top 40 functions (cumulative) and
save the stats to ``$RUN_OVERHEAD_PROFILE`` (default ``/tmp/run_overhead.prof``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

NAMES = ["Bello", "Luna", "Rex", "Maja", "Kira", "Balu", "Nala", "Sam"]


def _write_landing(landing: Path, orgs: int, listings: int) -> None:
    for o in range(orgs):
        folder = landing / f"bench-org-{o:05d}"
        folder.mkdir(parents=True)
        lines = [json.dumps({"__scrape__": {"scrape_id": "2026-01-01", "full": True,
                                            "scraped_at": "2026-01-01T10:00:00+00:00"}})]
        for i in range(listings):
            name = NAMES[(o + i) % len(NAMES)]
            lines.append(json.dumps({
                "external_id": f"{o}-{i}", "name": name, "species": "dog", "breed": "Labrador Retriever",
                "age_text": f"{2 + i} years", "sex": "female" if i % 2 else "male", "size": "medium",
                "description": (f"{name} is a friendly {2 + i} year old Labrador who loves long walks and "
                                "playing fetch in the garden. Good with children and other dogs. Vaccinated "
                                "and neutered, house-trained and calm indoors."),
            }))
        (folder / "2026-01-01.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _runs() -> int:
    from enrichment_assets.cli import _instance

    instance = _instance()
    try:
        return instance.get_runs_count()
    finally:
        instance.dispose()


def measure(orgs: int, listings: int, profile: bool = False, forced: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["ENRICHMENT_HOME"] = str(home)
        os.environ.pop("DAGSTER_HOME", None)
        _write_landing(home / "landing", orgs, listings)
        from enrichment_assets.cli import run_organizations

        start = time.perf_counter()
        first = run_organizations(show_progress=False)
        first_s = time.perf_counter() - start
        first_runs = _runs()
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        second = run_organizations(show_progress=False)
        rerun_s = time.perf_counter() - start
        if profile:
            profiler.disable()
            profiler.dump_stats(os.environ.get("RUN_OVERHEAD_PROFILE", "/tmp/run_overhead.prof"))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        rerun_runs = _runs() - first_runs
        row = {"organizations": orgs, "listings_per_org": listings, "first_run_s": round(first_s, 2),
               "first_run_dagster_runs": first_runs, "rerun_s": round(rerun_s, 2),
               "rerun_s_per_org": round(rerun_s / orgs, 4), "rerun_dagster_runs": rerun_runs,
               "ok_orgs_first": sum(o.ok for o in first.values()),
               "unchanged_orgs_rerun": sum(o.unchanged for o in second.values())}
        if forced:
            start = time.perf_counter()
            third = run_organizations(show_progress=False, force=True)
            forced_s = time.perf_counter() - start
            row.update(forced_rerun_s=round(forced_s, 2), forced_rerun_s_per_org=round(forced_s / orgs, 4),
                       forced_dagster_runs=_runs() - first_runs - rerun_runs,
                       ok_orgs_forced=sum(o.ok for o in third.values()))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--listings", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-forced", dest="forced", action="store_false")
    args = parser.parse_args()
    rows = [measure(n, args.listings, profile=args.profile and n == max(args.orgs), forced=args.forced)
            for n in args.orgs]
    print(json.dumps(rows, indent=2))
    print(f"{'orgs':>6} {'first s':>9} {'rerun s':>9} {'s/org':>8} {'runs':>5} {'forced s':>9} {'s/org':>8} {'runs':>5}")
    for r in rows:
        print(f"{r['organizations']:>6} {r['first_run_s']:>9} {r['rerun_s']:>9} {r['rerun_s_per_org']:>8} "
              f"{r['rerun_dagster_runs']:>5} {r.get('forced_rerun_s', '-'):>9} "
              f"{r.get('forced_rerun_s_per_org', '-'):>8} {r.get('forced_dagster_runs', '-'):>5}")


if __name__ == "__main__":
    main()
