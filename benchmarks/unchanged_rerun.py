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
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="offline/rules")
    parser.add_argument("--rescuer", default=None, help="organization key (default: the largest rescuer)")
    parser.add_argument("--reruns", type=int, default=3, help="unchanged reruns; the fastest is printed")
    parser.add_argument("--data", type=Path, default=SHARED,
                        help=f"the shared data folder (default {SHARED}; from a worktree: /work/shared/data)")
    args = parser.parse_args()

    from enrichment_assets.llm.client import LLMClient, LLMSettings
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.sources.landing import write_scrape_file
    from enrichment_assets.sources.petfinder import DEFAULT_SCRAPE_ID, SOURCE, read_petfinder
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head

    data = args.data / "petfinder"
    rescuers = read_petfinder(data / "train.csv", labels_dir=data)
    org = args.rescuer or max(rescuers, key=lambda key: len(rescuers[key]))
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        write_scrape_file(landing, org, DEFAULT_SCRAPE_ID, rescuers[org], full=True, source=SOURCE)
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'db.sqlite'}")
        upgrade_to_head(engine)
        client = LLMClient(LLMSettings(model=args.model))
        config = load_prompt_config(org)
        first = _run(engine, landing, org, client, config)
        reruns = [_run(engine, landing, org, client, config) for _ in range(args.reruns)]
        engine.dispose()
    # the fastest of the reruns per stage: the least disturbed by other processes on the machine
    rerun = {name: min((r[name] for r in reruns), key=lambda t: t[0]) for name in first}
    print(f"organization {org}: {len(rescuers[org])} listings, model {args.model}, "
          f"target languages {', '.join(config.metadata.target_languages) or 'none'}, "
          f"rerun: fastest of {args.reruns}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'stage':<22} {'first s':>9} {'rerun s':>9} {'ratio':>7} {'first cpu':>10} {'rerun cpu':>10} {'ratio':>7}")

    def row(name: str, a: tuple[float, float], b: tuple[float, float]) -> str:
        return (f"{name:<22} {a[0]:9.3f} {b[0]:9.3f} {b[0] / a[0] if a[0] else 0.0:7.1%} "
                f"{a[1]:10.3f} {b[1]:10.3f} {b[1] / a[1] if a[1] else 0.0:7.1%}")

    for name in first:
        print(row(name, first[name], rerun[name]))
    total = [tuple(sum(t[i] for t in runs.values()) for i in (0, 1)) for runs in (first, rerun)]
    print(row("total", total[0], total[1]))


if __name__ == "__main__":
    main()
