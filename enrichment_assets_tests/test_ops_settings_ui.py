"""The resolved settings in the Dagster UI (issue 12): definition metadata of every asset and
a snapshot in each ``raw_records`` materialization; keys and passwords never shown."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from enrichment_assets.assets import all_assets
from enrichment_assets.assets.raw import raw_records
from enrichment_assets.definitions import default_resources, defs, with_settings_metadata
from enrichment_assets.partitions import organizations
from enrichment_assets.settings import effective_settings_metadata
from enrichment_assets.sources.demo import import_demo

KEY = "sk-ui-secret-0123456789"


def test_every_asset_of_the_definitions_shows_the_settings() -> None:
    graph = defs.resolve_asset_graph()
    keys = list(graph.get_all_asset_keys())
    assert len(keys) == 5
    for key in keys:
        shown = graph.get(key).metadata["enrichment/settings"].value
        assert "`ENRICHMENT_LLM_MODEL`" in shown and "`ENRICHMENT_LLM_API_KEY`" in shown


def test_settings_metadata_hides_keys_and_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", KEY)
    monkeypatch.setenv("ENRICHMENT_LLM_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("ENRICHMENT_DATABASE_URL", "postgresql+psycopg2://app:pw-secret-42@db.example/enrich")
    monkeypatch.setenv("ENRICHMENT_DAGSTER_PG_URL", "postgresql+psycopg2://dg:pw-secret-43@db.example/dagster")
    shown = effective_settings_metadata()
    assert shown["ENRICHMENT_LLM_API_KEY"] == "(set)"
    assert shown["ENRICHMENT_DATABASE_URL"] == "postgresql+psycopg2://app:***@db.example/enrich"
    for spec_assets in with_settings_metadata(all_assets):
        for spec in spec_assets.specs:
            text = spec.metadata["enrichment/settings"].value
            assert "openai/gpt-4o-mini" in text and "(set)" in text
            assert KEY not in text and "pw-secret" not in text


def test_raw_records_materialization_carries_the_settings(enrichment_home: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICHMENT_LLM_API_KEY", KEY)
    import_demo(enrichment_home / "landing")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(organizations.name, ["demo-paws-rescue"])
        result = dg.materialize([raw_records], partition_key="demo-paws-rescue", instance=instance,
                                resources=default_resources())
        assert result.success
        (materialization,) = result.asset_materializations_for_node("raw_records")
        shown = materialization.metadata["effective_settings"].value
    assert shown["ENRICHMENT_LLM_MODEL"] == "offline/rules" and shown["ENRICHMENT_LLM_API_KEY"] == "(set)"
    assert KEY not in str(shown)
