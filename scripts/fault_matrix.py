"""Print the fault matrix of issues 10 and 14 (the same scenarios as test_fault_matrix.py).

    .venv/bin/python scripts/fault_matrix.py            # markdown table, as in the README
    .venv/bin/python scripts/fault_matrix.py "429 storm" "provider down"

The process-level faults (SIGKILL, SIGTERM, two runs at once, the database refusing
connections, two processes on the daily cap) run in test_model_stage_processes.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enrichment_assets_tests.fault_matrix import SCENARIOS, markdown_table, prepare_base, run_scenario  # noqa: E402


def main(names: list[str]) -> int:
    work = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    base = prepare_base(work)
    rows = []
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        rows.append(run_scenario(scenario, base, work))
        row = rows[-1]
        print(f"{row.scenario}: {row.seconds} s, failure classes {row.failure_classes or '-'}", file=sys.stderr)
    print(markdown_table(rows))
    bad = [r.scenario for r in rows if not r.one_status or r.duplicated or r.lost or r.rerun_calls != r.rerun_expected]
    if bad:
        print(f"invariants broken in: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
