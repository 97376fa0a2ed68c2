"""Issues 10 and 14: the fault matrix against the local stub (see fault_matrix.py).

For every fault: each listing ends with exactly one status, no answer is paid twice, no
published profile is lost, every answer the server sent is in the ledger, and a healthy
rerun sends exactly the requests that are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enrichment_assets_tests.fault_matrix import SCENARIOS, prepare_base, run_scenario


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_base(tmp_path_factory.mktemp("fault-matrix"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault(scenario, base: Path, tmp_path: Path) -> None:
    row = run_scenario(scenario, base, tmp_path)
    assert row.listings > 10
    assert row.one_status, "every listing has exactly one profile row with a status"
    assert row.duplicated == 0, "no answer is paid for twice"
    assert row.lost_published == 0, "a faulty re-profile never removes a published profile"
    assert row.unrecorded == 0, "every answer the server sent is in the ledger"
    assert row.rerun_calls == row.rerun_expected, "the rerun sends only what is missing"
    if scenario.expect == "all_ok":
        assert row.statuses == {"ok": row.listings}, row.failure_classes
        assert row.rerun_calls == (row.listings if scenario.fallback else 0)
    elif scenario.expect == "all_failed":
        assert row.statuses == {"failed": row.listings}
        assert set(row.failure_classes) <= {"ProviderUnavailable", "InternalServerError", "APIConnectionError"}
    elif scenario.expect == "budget":
        assert row.statuses["ok"] == 5 and row.statuses["budget_exhausted"] == row.listings - 5
    elif scenario.expect == "quarantined":
        assert row.statuses == {"quarantined": row.listings} and row.rerun_calls == 0
    if scenario.expect != "quarantined":
        assert row.final_ok == row.listings, "after the healthy rerun every eligible listing is ok"
