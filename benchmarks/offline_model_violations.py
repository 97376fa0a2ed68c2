"""Hallucination rules over the offline model's profiles of every real dog.

Run: ``.venv/bin/python benchmarks/offline_model_violations.py [--data DIR]``

Reads the shared data (``../shared/data``, never copied into this repository): all
PetFinder.my dogs (``train.csv`` + label tables, every rescuer, ``min_listings=1``) and
all Tierheim München dogs. Each organization goes through what the pipeline does with it:
records -> ``normalize_record`` -> the organization's boilerplate (prompt config +
``find_boilerplate``) -> ``assess_source`` with the config's ``min_source_chars`` (150)
-> the listing data block the prompt carries -> ``offline.profile_from_facts``. Only
species "dog" is profiled. Every profile goes through ``check_profile``.

Prints the dataset counts, violations per rule (count, share of profiles), the profiles
with any violation, the first violations (id, field, evidence), and how many
``quote_not_found`` violations quote the usable text verbatim (the model was faithful to
its input, the input was not the listing's text: a bug of
``domain.grounding.usable_description``). Exit code 1 when there is any violation, 0
otherwise. ``pipeline_pairs`` is imported by ``enrichment_assets_tests/test_hallucination.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from enrichment_assets.domain.contract import ScrapeRecord  # noqa: E402
from enrichment_assets.domain.grounding import assess_source, find_boilerplate  # noqa: E402
from enrichment_assets.domain.hallucination import RULES, Violation, check_profile, quote_in_text  # noqa: E402
from enrichment_assets.domain.models import DogProfile, NormalizedListing  # noqa: E402
from enrichment_assets.domain.normalize import normalize_record  # noqa: E402
from enrichment_assets.llm.offline import profile_from_facts  # noqa: E402
from enrichment_assets.llm.prompts import (  # noqa: E402
    LISTING_TAG,
    PromptConfig,
    default_prompts_dir,
    listing_facts,
    load_prompt_config,
    parse_data_block,
    render_data_block,
)
from enrichment_assets.sources.petfinder import read_petfinder  # noqa: E402
from enrichment_assets.sources.tierheim_muenchen import read_tierheim_muenchen  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "data"
TIERHEIM_ORG = "tierheim-muenchen"


@dataclass(frozen=True)
class Pair:
    """One profiled dog: its organization, listing, the usable text the model got, the
    profile and the violations."""

    organization: str
    listing: NormalizedListing
    usable_text: str
    profile: DogProfile
    violations: tuple[Violation, ...]


@dataclass
class SourceStats:
    """Counts of one data source: dogs, dogs with enough usable text (profiled)."""

    dogs: int = 0
    profiled: int = 0


def _config(organization: str, cache: dict[str, PromptConfig]) -> PromptConfig:
    """``load_prompt_config(organization)``; organizations without their own file share
    the default's (same result, read once: 5,600 organizations)."""
    own_file = default_prompts_dir() / "organizations" / f"{organization}.yaml"
    key = organization if own_file.exists() else ""
    if key not in cache:
        cache[key] = load_prompt_config(organization)
    return cache[key]


def profile_organization(organization: str, records: list[dict[str, Any]], scraped_at: datetime | None,
                         config: PromptConfig, stats: SourceStats) -> list[Pair]:
    """The pipeline's steps for one organization's scrape records (see the module
    docstring); returns one :class:`Pair` per profiled dog and counts into ``stats``.

    Raises:
        enrichment_assets.domain.normalize.NormalizationError: a record the pipeline
            would reject (none in the shared data).
    """
    listings = [
        normalize_record(organization,
                         ScrapeRecord.model_validate(record).model_dump(mode="json", exclude_none=True),
                         scraped_at)
        for record in records
    ]
    boilerplate = list(config.boilerplate) + find_boilerplate([l.description for l in listings])
    pairs = []
    for listing in listings:
        if listing.species != "dog":
            continue
        stats.dogs += 1
        assessment = assess_source(listing, boilerplate, config.min_source_chars)
        if not assessment.sufficient:
            continue
        stats.profiled += 1
        # The facts travel as the prompt's data block, exactly as the provider reads them.
        block = render_data_block(LISTING_TAG, listing_facts(listing, description=assessment.usable_text))
        profile = profile_from_facts(parse_data_block(block, LISTING_TAG))
        pairs.append(Pair(organization, listing, assessment.usable_text, profile,
                          tuple(check_profile(listing, profile))))
    return pairs


def pipeline_pairs(data_dir: Path = DATA_DIR,
                   petfinder_organizations: Callable[[list[str]], list[str]] | None = None,
                   tierheim: bool = True) -> tuple[list[Pair], dict[str, SourceStats]]:
    """All profiled real dogs with their violations, and counts per source.

    ``petfinder_organizations`` picks which PetFinder organizations (sorted keys in, keys
    out) to run; ``None`` runs all. A missing data file skips its source.
    """
    configs: dict[str, PromptConfig] = {}
    stats = {"petfinder": SourceStats(), "tierheim_muenchen": SourceStats()}
    pairs: list[Pair] = []
    train = data_dir / "petfinder" / "train.csv"
    if train.exists():
        organizations = read_petfinder(train, data_dir / "petfinder", min_listings=1)
        keys = sorted(organizations)
        if petfinder_organizations is not None:
            keys = petfinder_organizations(keys)
        for key in keys:
            pairs += profile_organization(key, organizations[key], None, _config(key, configs),
                                          stats["petfinder"])
    db = data_dir / "tierheim_muenchen" / "dog_crawler.db"
    if tierheim and db.exists():
        records = read_tierheim_muenchen(db)
        fetched = [datetime.fromisoformat(r["fetched_at"]) for r in records if r.get("fetched_at")]
        # The importer's scrape time: the latest fetched_at (sources.tierheim_muenchen).
        pairs += profile_organization(TIERHEIM_ORG, records, max(fetched) if fetched else None,
                                      _config(TIERHEIM_ORG, configs), stats["tierheim_muenchen"])
    return pairs, stats


def input_artifact(pair: Pair, violation: Violation) -> bool:
    """True for a ``quote_not_found`` whose quote is in the usable text the model got:
    the model quoted its input; the input glued listing text together."""
    if violation.rule != "quote_not_found":
        return False
    quote = pair.profile.source_references.get(violation.field, "")
    return bool(quote) and quote_in_text(quote, pair.usable_text)


def report(pairs: list[Pair], stats: dict[str, SourceStats], seconds: float, examples: int = 20) -> str:
    """The text the script prints."""
    n = len(pairs)
    per_rule = Counter(v.rule for p in pairs for v in p.violations)
    with_any = sum(1 for p in pairs if p.violations)
    lines = []
    for source, s in stats.items():
        lines.append(f"{source}: {s.dogs} dogs, {s.profiled} with enough usable text (profiled)")
    lines += ["", f"{'rule':<28}{'violations':>11}{'rate':>10}"]
    for rule in RULES:
        rate = per_rule[rule] / n if n else 0.0
        lines.append(f"{rule:<28}{per_rule[rule]:>11}{rate:>10.4%}")
    total = sum(per_rule.values())
    lines.append(f"{'all rules':<28}{total:>11}{(total / n if n else 0.0):>10.4%}")
    lines.append(f"profiles with any violation: {with_any} of {n}")
    artifacts = sum(1 for p in pairs for v in p.violations if input_artifact(p, v))
    if artifacts:
        lines.append(f"of which quote_not_found quoting the usable text verbatim (grounding glued "
                     f"listing text across a removed part): {artifacts}")
    shown = [(p, v) for p in pairs for v in p.violations][:examples]
    if shown:
        lines += ["", "first violations:"]
        lines += [f"  {p.organization}/{p.listing.external_id} {v.rule} on {v.field}: {v.evidence}"
                  for p, v in shown]
    lines += ["", f"time: {seconds:.1f} s for {n} profiles"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the report; exit code 1 when any violation was found."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the shared data folder")
    args = parser.parse_args(argv)
    if not (args.data / "petfinder" / "train.csv").exists() and not (
            args.data / "tierheim_muenchen" / "dog_crawler.db").exists():
        print(f"no data under {args.data}")
        return 1
    started = time.perf_counter()
    pairs, stats = pipeline_pairs(args.data)
    print(report(pairs, stats, time.perf_counter() - started))
    return 1 if any(p.violations for p in pairs) else 0


if __name__ == "__main__":
    sys.exit(main())
