"""The ``raw_records`` trust check: were the scrape files this run ingested healthy?"""

from __future__ import annotations

from enrichment_assets.checks._stage import StageCheck
from enrichment_assets.pipeline.gates import GateResult
from enrichment_assets.pipeline.raw import scrape_file_outcomes_many


def _scrape_files_healthy(engine, organizations, thresholds, run_id: str) -> dict[str, GateResult]:
    return {org: _files_gate(files) for org, files in scrape_file_outcomes_many(engine, organizations, run_id).items()}


def _files_gate(files: list[dict]) -> GateResult:
    quarantined = [f for f in files if f["status"] == "quarantined"]
    held = [f for f in files if f["status"] == "held"]
    return GateResult(
        passed=not quarantined and not held, severity="ERROR" if quarantined or not held else "WARN",
        description=(f"{len(quarantined)} quarantined, {len(held)} held of {len(files)} scrape files "
                     "ingested by this run"),
        metadata={"files": len(files), "quarantined": len(quarantined), "held": len(held)},
        offending=[{"file": f["file"], "status": f["status"], "reason": f["reason"]} for f in (quarantined + held)[:20]])


raw_records_scrape_files_healthy = StageCheck(
    name="raw_records_scrape_files_healthy", asset="raw_records", evaluate_many=_scrape_files_healthy,
    description=("ERROR when a scrape file ingested by this run was quarantined (invalid header, no "
                 "accepted listing, accepted share below the floor, refused by the database); WARN when "
                 "a full scrape's removals are held for confirmation. Not blocking: the file's valid "
                 "listings were stored and later files still ingest."))

ingest_checks = [raw_records_scrape_files_healthy]
