"""Quality-gate asset checks per organization partition: hallucination rules, success
rate, cost, quality floor, translations. Decisions live in ``pipeline/gates.py``."""

from __future__ import annotations

from enrichment_assets.checks._stage import StageCheck
from enrichment_assets.pipeline import gates


def _hallucination(engine, organization: str, thresholds, run_id: str) -> gates.GateResult:
    return gates.hallucination_gate(gates.stored_violation_report(engine, organization),
                                    thresholds.value("hallucination_max_error_rate"),
                                    int(thresholds.value("hallucination_min_profiles")))


profiles_hallucination_free = StageCheck(
    name="profiles_hallucination_free", asset="llm_profiles", evaluate=_hallucination, stops_org=True,
    description="Hallucination rules on every profile the model wrote. Profiles breaking an ERROR rule are "
                "quarantined one by one; this check is an ERROR (the organization's translations are skipped, "
                "other organizations of the run go on) only for a systemic rate: more than "
                "ENRICHMENT_HALLUCINATION_MAX_RATE (25%) and at least ENRICHMENT_HALLUCINATION_MIN_PROFILES (3); "
                "WARN otherwise.")

profiles_success_rate = StageCheck(
    name="profiles_success_rate", asset="llm_profiles",
    evaluate=lambda engine, org, t, run_id: gates.success_rate_gate(
        engine, org, t.value("min_success_rate"), t.value("success_rate_floor")),
    description="WARN when fewer than 95% (ENRICHMENT_MIN_SUCCESS_RATE) of eligible listings have an "
                "ok profile; ERROR below the floor (ENRICHMENT_SUCCESS_RATE_FLOOR, 50%).")

profiles_cost = StageCheck(
    name="profiles_cost", asset="llm_profiles",
    evaluate=lambda engine, org, t, run_id: gates.cost_gate(engine, org, t.value("max_cost_per_profile_usd")),
    description="WARN when the mean cost per ok profile exceeds the configured ceiling (USD).")

quality_floor = StageCheck(
    name="quality_floor", asset="quality_scores",
    evaluate_many=lambda engine, orgs, t, run_id: gates.quality_gates(
        engine, orgs, t.value("quality_median_min"), t.value("review_share_max")),
    description="WARN when the median rubric score is below the floor or too many profiles need review.")

translations_language_and_facts = StageCheck(
    name="translations_language_and_facts", asset="translations",
    evaluate=lambda engine, org, t, run_id: gates.translation_gate(engine, org),
    description="Every ok translation is in its target language and keeps the dog's name and numbers.")

gate_checks = [profiles_hallucination_free, profiles_success_rate, profiles_cost, quality_floor,
               translations_language_and_facts]
