"""A process that runs the profile stage (no Dagster) for process-level fault tests.

    python -m enrichment_assets_tests.profile_worker DB_URL API_BASE VERSION [--daily-cap USD]
        [--concurrency N] [--org ORG ...]

Prints one JSON line with the statuses when it finishes.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from enrichment_assets.llm.client import LLMClient
from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.pipeline.calls import DatabaseDailyCap
from enrichment_assets.pipeline.profiles import profile_organization
from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
from enrichment_assets_tests.fault_matrix import ORGS, _settings, bumped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("api_base")
    parser.add_argument("version")
    parser.add_argument("--daily-cap", type=float)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--org", action="append")
    args = parser.parse_args()
    engine = create_db_engine(args.db_url)
    upgrade_to_head(engine)
    cap = DatabaseDailyCap(engine, args.daily_cap) if args.daily_cap is not None else None
    client = LLMClient(_settings(args.api_base, max_concurrency=args.concurrency), daily_cap=cap)
    statuses: Counter[str] = Counter()
    for org in args.org or ORGS:
        statuses.update(profile_organization(engine, org, client, bumped(load_prompt_config(org), args.version)).statuses)
    print(json.dumps(dict(statuses)), flush=True)


if __name__ == "__main__":
    main()
