"""One module per stage; :data:`all_assets` in flow order."""

from enrichment_assets.assets.normalized import normalized_records
from enrichment_assets.assets.profiles import llm_profiles
from enrichment_assets.assets.quality import quality_scores
from enrichment_assets.assets.raw import raw_records
from enrichment_assets.assets.translations import translations

all_assets = [raw_records, normalized_records, llm_profiles, quality_scores, translations]
