"""An unchanged rerun against the first run, per stage (issue 13: rerun under 10%).

```
.venv/bin/python benchmarks/unchanged_rerun.py [--model offline/rules] [--rescuer RESCUER_KEY] [--data DIR]
```

Imports the PetFinder.my rescuer with the most listings (or ``--rescuer``, an organization
key) from ``../shared/data/petfinder`` into a temporary landing folder through the importer
(the data is never copied into the repository), then runs the pipeline functions the assets
call (ingest, normalize, profiles, profile rules, quality, translations, translation rules)
once with the offline model, and again with nothing changed. Prints wall seconds per stage
for both runs and the rerun/first ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _run(engine, landing: Path, org: str, client, config) -> dict[str, float]:
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
        start = time.perf_counter()
        stage()
        seconds[name] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="offline/rules")
    parser.add_argument("--rescuer", default=None, help="organization key (default: the largest rescuer)")
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
        rerun = _run(engine, landing, org, client, config)
        engine.dispose()
    print(f"organization {org}: {len(rescuers[org])} listings, model {args.model}, "
          f"target languages {', '.join(config.metadata.target_languages) or 'none'}")
    print(f"{'stage':<22} {'first s':>9} {'rerun s':>9} {'ratio':>7}")
    for name in first:
        ratio = rerun[name] / first[name] if first[name] else 0.0
        print(f"{name:<22} {first[name]:9.3f} {rerun[name]:9.3f} {ratio:7.1%}")
    total_first, total_rerun = sum(first.values()), sum(rerun.values())
    print(f"{'total':<22} {total_first:9.3f} {total_rerun:9.3f} {total_rerun / total_first:7.1%}")


if __name__ == "__main__":
    main()
