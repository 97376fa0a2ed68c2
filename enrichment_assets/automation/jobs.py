"""Jobs: the whole flow for one organization partition."""

import dagster as dg

enrich_organization_job = dg.define_asset_job(
    name="enrich_organization",
    selection=dg.AssetSelection.all(),
    description="Every asset (and its checks) of one organization: raw -> normalized -> profiles -> scores, translations.",
)
