"""Precision and recall of the hallucination rules on the hand-written evaluation set.

Run: ``.venv/bin/python benchmarks/hallucination_rules.py [cases.yaml]``

Loads ``enrichment_assets_tests/data/hallucination_cases.yaml`` (invented dogs, see the
file's header), runs every rule of ``enrichment_assets.domain.hallucination.RULES`` on
each case and compares the reported ``(rule, field)`` pairs with the case's ``expected``
list. Prints per rule TP/FP/FN, precision and recall, then the overall figures and every
miss. Exit code 1 when any rule's precision or recall is below ``MIN_SCORE`` (0.95), 0
otherwise. The functions are imported by ``enrichment_assets_tests/test_hallucination.py``.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from enrichment_assets.domain.hallucination import RULES, check_profile  # noqa: E402
from enrichment_assets.domain.models import DogProfile, NormalizedListing  # noqa: E402
from enrichment_assets.domain.normalize import content_hash  # noqa: E402

CASES_PATH = ROOT / "enrichment_assets_tests" / "data" / "hallucination_cases.yaml"
MIN_SCORE = 0.95


@dataclass(frozen=True)
class Case:
    """One evaluation case: a listing, a profile and the violations expected."""

    id: str
    listing: NormalizedListing
    profile: DogProfile
    expected: frozenset[tuple[str, str]]
    note: str = ""


@dataclass
class RuleScore:
    """Counts of one rule over the set; precision/recall are 1.0 when undefined (0/0)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was reported."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when nothing was expected."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def make_listing(case_id: str, data: dict[str, Any]) -> NormalizedListing:
    """A :class:`NormalizedListing` from a case's ``listing`` mapping (content_hash
    computed; organization "eval", external_id = case id and species "dog" by default).

    Raises:
        pydantic.ValidationError: for fields that break the model.
    """
    fields = {"organization": "eval", "external_id": case_id, "species": "dog", **data}
    draft = NormalizedListing.model_validate({**fields, "content_hash": "0" * 64})
    return draft.model_copy(update={"content_hash": content_hash(draft)})


def load_cases(path: Path = CASES_PATH) -> list[Case]:
    """The cases of ``path`` (shape: ``{"cases": [{id, note?, listing, profile,
    expected}]}``).

    Raises:
        ValueError: a duplicate id, a missing key, or an expected rule that is not in
            :data:`RULES`.
        pydantic.ValidationError: a listing or profile that breaks its model.
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    cases: list[Case] = []
    seen: set[str] = set()
    for raw in data["cases"]:
        for key in ("id", "listing", "profile", "expected"):
            if key not in raw:
                raise ValueError(f"case {raw.get('id', '?')}: missing key {key!r}")
        case_id = raw["id"]
        if case_id in seen:
            raise ValueError(f"duplicate case id {case_id!r}")
        seen.add(case_id)
        expected = set()
        for item in raw["expected"] or []:
            if item["rule"] not in RULES:
                raise ValueError(f"case {case_id}: unknown rule {item['rule']!r}")
            expected.add((item["rule"], item["field"]))
        cases.append(Case(case_id, make_listing(case_id, raw["listing"]),
                          DogProfile.model_validate(raw["profile"]), frozenset(expected),
                          raw.get("note", "")))
    return cases


def predicted(case: Case) -> set[tuple[str, str]]:
    """The ``(rule, field)`` pairs :func:`check_profile` reports for ``case``."""
    return {(v.rule, v.field) for v in check_profile(case.listing, case.profile)}


def score_cases(cases: list[Case]) -> dict[str, RuleScore]:
    """Per rule id of :data:`RULES`: TP/FP/FN over all cases, matching on (case, rule,
    field); each miss is kept as text for the report."""
    scores = {rule: RuleScore() for rule in RULES}
    for case in cases:
        found = predicted(case)
        for rule, fld in found | case.expected:
            score = scores[rule]
            if (rule, fld) in found and (rule, fld) in case.expected:
                score.tp += 1
            elif (rule, fld) in found:
                score.fp += 1
                score.misses.append(f"FP {case.id}: {rule} on {fld}")
            else:
                score.fn += 1
                score.misses.append(f"FN {case.id}: {rule} on {fld}")
    return scores


def report(cases: list[Case], scores: dict[str, RuleScore]) -> str:
    """The table the script prints."""
    clean = sum(1 for c in cases if not c.expected)
    planted = Counter(rule for c in cases for rule, _ in c.expected)
    lines = [f"{len(cases)} cases: {clean} clean, {len(cases) - clean} with planted hallucinations",
             "",
             f"{'rule':<28}{'planted':>8}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}"]
    total = RuleScore()
    for rule, s in scores.items():
        total.tp, total.fp, total.fn = total.tp + s.tp, total.fp + s.fp, total.fn + s.fn
        lines.append(f"{rule:<28}{planted[rule]:>8}{s.tp:>5}{s.fp:>5}{s.fn:>5}"
                     f"{s.precision:>11.3f}{s.recall:>8.3f}")
    lines.append(f"{'overall':<28}{sum(planted.values()):>8}{total.tp:>5}{total.fp:>5}{total.fn:>5}"
                 f"{total.precision:>11.3f}{total.recall:>8.3f}")
    misses = [m for s in scores.values() for m in s.misses]
    if misses:
        lines += ["", "misses:", *(f"  {m}" for m in misses)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Print the report; 1 when a rule is below :data:`MIN_SCORE`, else 0."""
    path = Path(argv[1]) if len(argv) > 1 else CASES_PATH
    cases = load_cases(path)
    scores = score_cases(cases)
    print(report(cases, scores))
    failing = [r for r, s in scores.items() if s.precision < MIN_SCORE or s.recall < MIN_SCORE]
    if failing:
        print(f"\nbelow {MIN_SCORE}: {', '.join(failing)}")
        return 1
    print(f"\nevery rule has precision and recall >= {MIN_SCORE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
