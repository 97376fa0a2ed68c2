"""The dry run's estimate on the real data: listings to send, tokens, cost per dog, time.

```
.venv/bin/python benchmarks/dry_run_estimate.py [--model gemini/gemini-2.5-flash] [--min-listings 50]
```

Imports PetFinder.my (rescuers with at least ``--min-listings`` listings) and Tierheim München
from ``../shared/data`` into a temporary home through the importers, then runs
:func:`enrichment_assets.pipeline.planning.plan_run` as ``enrichment run --dry-run`` does
(nothing is sent, nothing is written but the schema). Prints the totals, the cost per dog
(unknown when LiteLLM has no price for the model) and the plan's wall and CPU time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="offline/rules")
    parser.add_argument("--min-listings", type=int, default=50)
    args = parser.parse_args()

    from enrichment_assets.llm.client import LLMClient, LLMSettings
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.discovery import landing_organizations
    from enrichment_assets.pipeline.planning import plan_run
    from enrichment_assets.sources.petfinder import import_petfinder
    from enrichment_assets.sources.tierheim_muenchen import import_tierheim_muenchen
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head

    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        import_petfinder(SHARED / "petfinder" / "train.csv", landing, labels_dir=SHARED / "petfinder",
                         min_listings=args.min_listings)
        import_tierheim_muenchen(SHARED / "tierheim_muenchen" / "dog_crawler.db", landing)
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'db.sqlite'}")
        upgrade_to_head(engine)
        orgs = landing_organizations(landing)
        configs = {org: load_prompt_config(org) for org in orgs}
        wall, cpu = time.perf_counter(), time.process_time()
        plan = plan_run(engine, landing, orgs, LLMClient(LLMSettings(model=args.model)), configs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        engine.dispose()
    listings = sum(o.listings for o in plan.organizations)
    per_dog = None if plan.cost_usd is None or not plan.send else plan.cost_usd / plan.send
    print(f"model {plan.model}: {len(orgs)} organizations, {listings} listings, {plan.send} to send")
    print(f"input tokens {plan.input_tokens} ({plan.input_tokens / max(plan.send, 1):.0f} per dog), "
          f"expected output tokens {plan.output_tokens} ({', '.join(sorted(set(plan.output_source.values())))})")
    print(f"estimated cost {'unknown' if plan.cost_usd is None else f'${plan.cost_usd:.4f}'}, per dog "
          f"{'unknown' if per_dog is None else f'${per_dog:.5f}'}")
    print(f"plan: {wall:.1f} s wall, {cpu:.1f} s CPU ({1000 * cpu / max(listings, 1):.1f} ms CPU per listing)")


if __name__ == "__main__":
    main()
