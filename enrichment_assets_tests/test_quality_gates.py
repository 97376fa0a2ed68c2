"""Issue 4 acceptance: planted hallucinations in a stubbed model's output, per partition."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from enrichment_assets.assets import all_assets
from enrichment_assets.llm.offline import profile_from_facts
from enrichment_assets.llm.prompts import LISTING_TAG, parse_data_block
from enrichment_assets.partitions import organizations
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.sources.demo import import_demo
from enrichment_assets.storage.schema import llm_profiles, normalized_records, translations, violations
from enrichment_assets_tests.stub_llm_server import Reply, StubLLMServer, model_like_responder

ORG = "demo-tierheim-nord"
INVENTED = "Sie liebt Katzen über alles."


def planting_responder(plant_in: set[str] | dict[str, str] | None):
    """Profiles from the offline rules, with ``good_with_cats: yes`` planted for names in
    ``plant_in`` (all dogs when None), backed by the invented sentence :data:`INVENTED`, or
    by ``plant_in[name]`` when it maps names to quotes (a real listing sentence that says no
    or unknown: issue 8's acceptance); translations answered normally."""
    def respond(body: dict) -> Reply:
        text = body["messages"][-1]["content"]
        if f"<{LISTING_TAG}>" not in text:
            return model_like_responder(body)
        facts = parse_data_block(text, LISTING_TAG)
        profile = profile_from_facts(facts)
        if plant_in is None or facts["name"] in plant_in:
            quote = plant_in[facts["name"]] if isinstance(plant_in, dict) else INVENTED
            profile = profile.model_copy(update={
                "good_with_cats": "yes",
                "source_references": {**profile.source_references, "good_with_cats": quote},
            })
        return Reply(profile.model_dump_json(), model="stub-llm-1")
    return respond


def _run(tmp_path: Path, responder, thresholds: CheckThresholds, orgs: tuple[str, ...] = (ORG,)):
    """One run over ``orgs`` (a partition range when more than one). Returns the result, the
    check evaluations of :data:`ORG` by name, the assets materialized for it with their
    metadata, and the engine."""
    landing = tmp_path / "landing"
    import_demo(landing)
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    with StubLLMServer(responder=responder) as server, dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(organizations.name, list(orgs))
        llm = LLMResource(model="openai/stub-model", api_base=server.api_base, api_key="sk-stub-0000000000",
                          input_cost_per_token=1e-7, output_cost_per_token=1e-7)
        selection = ({"partition_key": ORG} if len(orgs) == 1 else
                     {"tags": {"dagster/asset_partition_range_start": orgs[0],
                               "dagster/asset_partition_range_end": orgs[-1]}})
        result = dg.materialize(all_assets, instance=instance, **selection,
                                resources={"database": database, "llm": llm, "thresholds": thresholds,
                                           "landing": LandingResource(path=str(landing))},
                                raise_on_error=False)
        assert len(instance.get_runs()) == 1
    checks = {c.check_name: c for c in result.get_asset_check_evaluations() if c.partition == ORG}
    materialized = {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
                    for e in result.get_asset_materialization_events() if e.partition == ORG}
    return result, checks, materialized, database.engine


def _dog_names(org: str) -> set[str]:
    path = next((Path(__file__).resolve().parents[1] / "enrichment_assets" / "demo_data" / org).glob("*.jsonl"))
    return {json.loads(line)["name"] for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()}


def test_planted_hallucination_fails_blocking_check_and_skips_translations(tmp_path: Path) -> None:
    result, checks, materialized, engine = _run(tmp_path, planting_responder(None), CheckThresholds())
    gate = checks["profiles_hallucination_free"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert gate.metadata["error_rate"].value == 1.0
    by_rule = gate.metadata["violations_by_rule"].value
    # the invented sentence mentions cats, so the compatibility rule is satisfied; the quote is not
    # real; where the profile's own text says the dog needs a home without cats, the planted yes
    # contradicts it as well
    assert by_rule["quote_not_found"] == 7
    assert set(by_rule) <= {"quote_not_found", "text_contradicts_field"}
    assert INVENTED in gate.metadata["first_offending"].value
    # the organization's translations are skipped (not a Dagster-level block: a run may carry
    # other organizations), and its translations partition says why
    assert "llm_profiles" in materialized
    assert materialized["translations"]["stopped_by_checks"] == ["profiles_hallucination_free"]
    assert "translations_language_and_facts" not in checks
    assert result.success
    with engine.connect() as conn:
        stored = conn.execute(sa.select(violations.c.rule).where(violations.c.organization == ORG)).scalars().all()
        translated = conn.execute(sa.select(sa.func.count()).select_from(translations)).scalar_one()
    assert "quote_not_found" in stored and translated == 0


def test_a_systemic_fault_of_one_organization_skips_only_its_translations(tmp_path: Path) -> None:
    other = "demo-hope-hounds"
    orgs = tuple(sorted((ORG, other)))
    result, checks, materialized, engine = _run(tmp_path, planting_responder(_dog_names(ORG)), CheckThresholds(),
                                                orgs=orgs)
    assert result.success
    gate = checks["profiles_hallucination_free"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert materialized["translations"]["stopped_by_checks"] == ["profiles_hallucination_free"]
    others = {c.check_name: c for c in result.get_asset_check_evaluations() if c.partition == other}
    assert others["profiles_hallucination_free"].passed
    assert others["translations_language_and_facts"].passed
    with engine.connect() as conn:
        translated = dict(conn.execute(sa.select(translations.c.organization, sa.func.count())
                                       .where(translations.c.status == "ok")
                                       .group_by(translations.c.organization)).all())
        published = conn.execute(sa.select(sa.func.count()).select_from(llm_profiles).where(
            llm_profiles.c.organization == other, llm_profiles.c.published_profile.is_not(None))).scalar_one()
    assert ORG not in translated
    assert published >= 1 and translated[other] == 3 * published, "de, fr and es for every published profile"


def test_one_bad_profile_with_default_thresholds_warns_and_quarantines_only_that_profile(tmp_path: Path) -> None:
    # 1 of 7 profiles is above any rate threshold but below the systemic minimum count
    result, checks, materialized, engine = _run(tmp_path, planting_responder({"Bruno"}), CheckThresholds())
    gate = checks["profiles_hallucination_free"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN
    assert gate.metadata["profiles_with_errors"].value == 1
    assert "translations" in materialized and result.success
    with engine.connect() as conn:
        rows = conn.execute(sa.select(translations.c.external_id, translations.c.status, translations.c.reason)
                            .where(translations.c.organization == ORG)).all()
        profiles = conn.execute(sa.select(llm_profiles.c.external_id, llm_profiles.c.status, llm_profiles.c.reason,
                                          llm_profiles.c.published_profile)
                                .where(llm_profiles.c.organization == ORG, llm_profiles.c.status != "insufficient_source")).all()
    quarantined = [p for p in profiles if p.status == "quarantined"]
    assert len(quarantined) == 1 and "quote_not_found" in quarantined[0].reason
    assert quarantined[0].published_profile is None, "a quarantined attempt is never published"
    assert {r.external_id for r in rows} == {p.external_id for p in profiles if p.status == "ok"}, \
        "only published profiles are translated"
    assert all(r.status == "ok" for r in rows)
    assert checks["translations_language_and_facts"].passed, json.dumps(
        {k: str(v.value) for k, v in checks["translations_language_and_facts"].metadata.items()})


def test_planted_compatibility_error_is_quarantined_and_the_rest_is_translated(tmp_path: Path) -> None:
    planted = {"Bruno": "Mit Katzen ist Bruno nicht verträglich.",  # says no
               "Greta": "Katzen kennt sie nicht."}                 # says unknown
    result, checks, materialized, engine = _run(tmp_path, planting_responder(planted), CheckThresholds())
    gate = checks["profiles_hallucination_free"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN, gate.description
    assert gate.metadata["violations_by_rule"].value.get("compatibility_unsupported") == 2
    assert "translations" in materialized and result.success
    with engine.connect() as conn:
        profiles = {r.external_id: r for r in conn.execute(sa.select(
            llm_profiles.c.external_id, llm_profiles.c.status, llm_profiles.c.reason, llm_profiles.c.published_profile)
            .where(llm_profiles.c.organization == ORG)).all()}
        names = {r.external_id: r.listing["name"] for r in conn.execute(
            sa.select(normalized_records.c.external_id, normalized_records.c.listing)
            .where(normalized_records.c.organization == ORG)).all()}
        stored = conn.execute(sa.select(violations.c.external_id, violations.c.rule, violations.c.field)
                              .where(violations.c.organization == ORG)).all()
        translated = {r.external_id for r in conn.execute(sa.select(translations.c.external_id)
                      .where(translations.c.organization == ORG, translations.c.status == "ok")).all()}
    by_name = {names[i]: p for i, p in profiles.items()}
    for name in planted:
        assert by_name[name].status == "quarantined" and by_name[name].published_profile is None
        assert "compatibility_unsupported" in by_name[name].reason
    assert {(names[v.external_id], v.field) for v in stored if v.rule == "compatibility_unsupported"} == \
        {(n, "good_with_cats") for n in planted}
    ok = {i for i, p in profiles.items() if p.status == "ok"}
    assert len(ok) >= 4 and translated == ok, "every clean profile of the organization is translated"
    assert not {i for i, p in profiles.items() if names[i] in planted} & translated


def test_systemic_rate_is_an_error_only_above_the_minimum_count() -> None:
    from enrichment_assets.pipeline.gates import hallucination_gate
    from enrichment_assets.pipeline.hallucination import build_report

    def report(bad: int, checked: int):
        rows = [{"external_id": f"d{i}", "field": "good_with_cats", "rule": "compatibility_unsupported",
                 "severity": "error", "evidence": "says no", "target": "profile"} for i in range(bad)]
        return build_report("org", "profile", checked, rows)

    assert hallucination_gate(report(2, 2), 0.25, 3).severity == "WARN"      # 100%, but only two dogs
    assert hallucination_gate(report(3, 4), 0.25, 3).severity == "ERROR"     # systemic
    assert hallucination_gate(report(3, 40), 0.25, 3).severity == "WARN"     # 7.5%: one by one
    assert hallucination_gate(report(0, 40), 0.25, 3).passed
