"""enrichment_assets: Dagster assets that turn scraped rescue-dog listings into grounded,
validated, translated adoption profiles written through LiteLLM."""
