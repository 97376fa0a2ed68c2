"""Do the facts the normalizer reads from Tierheim München's texts agree with its columns?

Run: ``.venv/bin/python benchmarks/stated_facts_agreement.py [--data ../shared/data]``

For every Tierheim München dog (``../shared/data/tierheim_muenchen/dog_crawler.db``, read
in place through :func:`enrichment_assets.sources.tierheim_muenchen.read_tierheim_muenchen`),
the stated facts of the cleaned description (:func:`enrichment_assets.domain.facts.
parse_stated_facts`: fact blocks and the sentence patterns "wiegt derzeit 26 kg",
"Schulterhöhe von 56 cm", "am 25.02.2017 geboren") are compared with the crawler's
structured columns wherever both exist: weight (agree within 0.5 kg), shoulder height
(within 1 cm), birth date (same day; a month-and-year statement agrees with the 1st of that
month; a column on January 1st is the crawler's year-only value and agrees with any day of
that year), birth year (the column's year), sex. Prints per field:
dogs with both, agreeing, disagreeing, and every disagreement. Exit code 1 when any field
disagrees. ``agreement()`` is imported by ``enrichment_assets_tests/test_stated_facts.py``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enrichment_assets.domain.facts import parse_stated_facts, stated_value  # noqa: E402
from enrichment_assets.domain.normalize import clean_text, detect_language  # noqa: E402
from enrichment_assets.sources.tierheim_muenchen import read_tierheim_muenchen  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "data"


@dataclass
class FieldAgreement:
    """Counts of one field: dogs with both a stated fact and a column value."""

    both: int = 0
    agree: int = 0
    disagreements: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.agree / self.both if self.both else 1.0


def _agrees(name: str, stated: str, column) -> bool:
    if name == "weight_kg":
        return abs(float(stated) - float(column)) <= 0.5
    if name == "height_cm":
        return abs(float(stated) - float(column)) <= 1.0
    if name == "birth_date":
        # the crawler keeps a year alone as January 1st: a month of that year agrees
        return (stated == column or (stated.endswith("-01") and stated[:7] == column[:7])
                or (column.endswith("-01-01") and stated[:4] == column[:4]))
    if name == "birth_year":
        return stated == column[:4]
    return stated == column


def agreement(data_dir: Path = DATA_DIR) -> dict[str, FieldAgreement]:
    """Field -> agreement over every Tierheim München dog with both values."""
    records = read_tierheim_muenchen(data_dir / "tierheim_muenchen" / "dog_crawler.db")
    out = {name: FieldAgreement() for name in ("weight_kg", "height_cm", "birth_date", "birth_year", "sex")}
    for record in records:
        text = clean_text(record.get("description") or "")
        facts = parse_stated_facts(text, detect_language(text))
        columns = {"weight_kg": record.get("weight_kg"), "height_cm": record.get("height_cm"),
                   "birth_date": record.get("birth_date"), "birth_year": record.get("birth_date"),
                   "sex": record.get("sex")}
        for name, column in columns.items():
            fact = stated_value(facts, name)
            if fact is None or column in (None, ""):
                continue
            tally = out[name]
            tally.both += 1
            if _agrees(name, fact.value, column):
                tally.agree += 1
            else:
                tally.disagreements.append(f"{record['external_id']}: {fact.text!r} -> {fact.value} "
                                           f"but the column says {column}")
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv[1:])
    if not (args.data / "tierheim_muenchen" / "dog_crawler.db").exists():
        print(f"no Tierheim München data under {args.data}")
        return 2
    result = agreement(args.data)
    print(f"{'field':<12}{'both':>6}{'agree':>7}{'rate':>8}")
    for name, tally in result.items():
        print(f"{name:<12}{tally.both:>6}{tally.agree:>7}{tally.rate:>8.1%}")
    misses = [d for t in result.values() for d in t.disagreements]
    for line in misses:
        print("  " + line)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
