"""The one settings object: every environment variable the project reads, declared once.

:class:`Settings` (pydantic-settings) declares each ``ENRICHMENT_*`` variable (and
``DAGSTER_HOME``) with its type, default and description. Nothing else in the package reads
the environment: resources, the CLI, sensors and schedules call :func:`get_settings`. The
README's configuration table is generated from this class (``enrichment settings
--markdown``) and a test checks that the two agree.

A fresh :class:`Settings` is built on every :func:`get_settings` call (a few hundred
microseconds), so a changed environment (tests, ``monkeypatch.setenv``) is seen at once.
Invalid values raise ``pydantic.ValidationError`` naming the variable.
"""

from __future__ import annotations

import json
from pathlib import Path
import os
import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]

CommaList = Annotated[list[str], NoDecode]
"""A list given as one comma- (or whitespace-) separated string in the environment."""


def _split(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    return value


class Settings(BaseSettings):
    """Every setting of the project, from ``ENRICHMENT_<NAME>`` environment variables.

    Empty variables count as unset. Paths are resolved against the working directory.
    Money is in USD; times in seconds. Secrets (:class:`pydantic.SecretStr`) never show in
    ``repr``, logs or metadata.
    """

    model_config = SettingsConfigDict(env_prefix="ENRICHMENT_", env_ignore_empty=True,
                                      extra="ignore", populate_by_name=True)

    # -- where things live ---------------------------------------------------------------
    home: Path = Field(default=Path(".enrichment"), description="data folder")
    landing_dir: Path | None = Field(default=None, description="where scrape files arrive; default `<ENRICHMENT_HOME>/landing`")
    database_url: str | None = Field(default=None, description="application database (SQLAlchemy URL); default `sqlite:///<ENRICHMENT_HOME>/enrichment.db`; `postgresql+psycopg2://user@host/db` in production")
    dagster_home: Path | None = Field(default=None, validation_alias=AliasChoices("DAGSTER_HOME"),
                                      description="Dagster instance used by `enrichment run` and `make dev`; default `<ENRICHMENT_HOME>/dagster` (or `dagster-postgres`)")
    dagster_pg_url: str | None = Field(default=None, description="Dagster's own storage on PostgreSQL (`postgresql+psycopg2://...`)")
    prompts_dir: Path | None = Field(default=None, description="prompt files; default `prompts/` of the project")

    # -- the model -----------------------------------------------------------------------
    llm_model: str = Field(default="offline/rules", description="any LiteLLM model string (`gemini/...`, `openai/...`, `ollama/...`)")
    llm_fallback_models: CommaList = Field(default_factory=list, description="comma-separated entries `model` or `model|api_base|KEY_ENV` tried in order when the primary fails; a bare `model` uses the primary's api_base and key, `KEY_ENV` names the variable holding the fallback's key")
    llm_api_base: str | None = Field(default=None, description="e.g. an OpenAI-compatible server; default: the provider's")
    llm_api_key: SecretStr | None = Field(default=None, description="optional; provider variables such as `GEMINI_API_KEY` keep working")
    llm_max_concurrency: int = Field(default=4, ge=1, description="concurrent model requests per run")
    llm_rpm: float | None = Field(default=None, gt=0, description="requests per minute (unset: unlimited)")
    llm_budget_usd: float | None = Field(default=None, ge=0, description="spend limit per run; the rest is stored `budget_exhausted` and retried next run")
    llm_daily_budget_usd: float | None = Field(default=None, ge=0, description="spend limit per UTC day across runs and processes (an atomic reservation in the database before each request)")
    llm_token_budget: int | None = Field(default=None, ge=0, description="token limit (input + output) per run; lets a budget start with a model whose price is unknown")
    llm_input_cost_per_mtok: float | None = Field(default=None, ge=0, description="USD per million input tokens, for models without a price in the price file or LiteLLM's map")
    llm_output_cost_per_mtok: float | None = Field(default=None, ge=0, description="USD per million output tokens (see `ENRICHMENT_LLM_INPUT_COST_PER_MTOK`)")
    llm_price_file: Path | None = Field(default=None, description="YAML/JSON file `{model: {input_per_mtok: .., output_per_mtok: ..}}`; wins over the two variables above")
    llm_reserve_output_tokens: int = Field(default=2000, ge=1, description="output tokens assumed when a request reserves its cost against the daily cap")
    llm_estimate_output_tokens: int = Field(default=600, ge=1, description="output tokens per listing that `enrichment run --dry-run` assumes when the ledger has no `ok` profile call of the model yet")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="timeout of one model request (seconds)")
    llm_max_retries: int = Field(default=6, ge=0, description="retries of transient errors (5xx, timeout, connection) per request while the provider looks healthy; 429s and waits for an open circuit do not count")
    llm_backoff_initial_s: float = Field(default=1.0, ge=0, description="first retry wait; doubles per retry, plus up to 1 s jitter")
    llm_backoff_max_s: float = Field(default=30.0, ge=0, description="longest wait between two retries")
    llm_run_deadline_s: float = Field(default=900.0, gt=0, description="how long a request keeps waiting for a rate-limited or unavailable provider (from its first 429, failure or open circuit) before its listing is stored `failed`")
    llm_rpm_burst: int = Field(default=5, ge=1, description="requests the rate limiter lets through at once (capped at 5% of the rpm); the sustained rate is lowered so that no 60 s window exceeds `ENRICHMENT_LLM_RPM`")
    llm_breaker_failure_rate: float = Field(default=0.8, gt=0, le=1, description="share of transient failures over the breaker window that opens a model's circuit")
    llm_breaker_min_requests: int = Field(default=10, ge=1, description="requests the breaker window must hold before it may open")
    llm_breaker_window_s: float = Field(default=60.0, gt=0, description="length of the breaker's failure-rate window (seconds)")
    llm_breaker_cooldown_s: float = Field(default=15.0, ge=0, description="seconds an open circuit waits before one probe request (half-open)")
    llm_structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = Field(default="auto", description="structured-output mode to start with: `auto` asks LiteLLM whether the model supports json_schema; declare `json_schema` or `json_object` for a model LiteLLM does not know. Degrades on an 'unsupported parameter' answer")
    llm_litellm_http_handler: bool = Field(default=False, description="send `openai/...` requests (OpenAI and OpenAI-compatible servers) through LiteLLM's own HTTP handler instead of the OpenAI SDK: about 30% less CPU per call, what lets one process pass 200 calls/s (`benchmarks/llm_client_throughput.py`). Sets LiteLLM's `EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER` for the whole process; LiteLLM marks it experimental and does not document it")

    # -- operations ----------------------------------------------------------------------
    alert_urls: CommaList = Field(default_factory=list, repr=False, description="comma-separated apprise URLs (`slack://...`, `mailto://...`, `json://host/path`)")
    reprofile_cron: str = Field(default="0 3 * * 1", description="cron (UTC) of `weekly_reprofile_schedule`")
    sensor_interval_s: int = Field(default=30, ge=1, description="minimum seconds between sensor ticks")

    # -- asset-check thresholds ----------------------------------------------------------
    hallucination_max_rate: float = Field(default=0.25, ge=0, le=1, description="share of an organization's profiles quarantined by an ERROR rule above which `profiles_hallucination_free` is an ERROR and blocks its translations (a systemic prompt or model problem); below it, or below `ENRICHMENT_HALLUCINATION_MIN_PROFILES`, the bad profiles are quarantined one by one and the check WARNs")
    hallucination_min_profiles: int = Field(default=3, ge=1, description="quarantined profiles an organization needs at least before `profiles_hallucination_free` can be an ERROR (one bad profile of a small organization is not systemic)")
    min_success_rate: float = Field(default=0.95, ge=0, le=1, description="`profiles_success_rate` warns below this share of ok profiles")
    success_rate_floor: float = Field(default=0.5, ge=0, le=1, description="`profiles_success_rate` is an ERROR, and `enrichment run` exits non-zero, below this share of eligible listings with an ok profile")
    max_partitions_per_run: int = Field(default=200, ge=1, description="organization partitions one Dagster run carries at most (the assets' `BackfillPolicy.multi_run`; `enrichment run` splits its selection into runs of this size, `new_scrape_sensor` and `weekly_reprofile_schedule` request ranged runs of at most this many). 200 keeps a run's event log write (about 20 events per organization) and its in-memory state small while the per-run overhead (about 2.5 s) stays under 15 ms per organization")
    dagster_event_batch_size: int = Field(default=200, ge=0, validation_alias=AliasChoices("DAGSTER_EVENT_BATCH_SIZE"), description="Dagster's own `DAGSTER_EVENT_BATCH_SIZE`, set for every process that loads the definitions: a ranged run's materializations and planned events are stored in batches of this many (the embedded event log writes a batch with one transaction per shard: 1.9 -> 1.2 ms per partition of a step); 0 stores them one by one")
    run_lock_wait_s: float = Field(default=0.0, ge=0, description="how long `enrichment run` waits for another run on the same home to finish (0: stop at once with a message)")
    db_write_retry_s: float = Field(default=60.0, ge=0, description="how long storing a paid answer is retried while the database refuses connections")
    max_cost_per_profile_usd: float = Field(default=0.01, ge=0, description="`profiles_cost` warns above this mean cost per profile")
    quality_median_min: float = Field(default=60.0, ge=0, le=100, description="`quality_floor` warns below this median score")
    review_share_max: float = Field(default=0.25, ge=0, le=1, description="`quality_floor` warns when more profiles than this share need review")

    @field_validator("llm_fallback_models", "alert_urls", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split(value)

    # -- derived values --------------------------------------------------------------------

    @property
    def home_path(self) -> Path:
        """``home`` as an absolute path (not created)."""
        return self.home.resolve()

    @property
    def landing_path(self) -> Path:
        """Landing folder holding ``<organization>/<scrape>.jsonl`` files."""
        return self.landing_dir.resolve() if self.landing_dir else self.home_path / "landing"

    @property
    def database(self) -> str:
        """SQLAlchemy URL of the application database."""
        return self.database_url or f"sqlite:///{self.home_path / 'enrichment.db'}"

    @property
    def dagster_home_path(self) -> Path:
        """The persistent Dagster instance folder shared by ``enrichment run`` and ``make dev``."""
        if self.dagster_home:
            return self.dagster_home.resolve()
        return self.home_path / ("dagster-postgres" if self.dagster_pg_url else "dagster")

    @property
    def prompts_path(self) -> Path:
        """Folder of ``default.yaml`` and ``organizations/*.yaml``."""
        return self.prompts_dir if self.prompts_dir else PROJECT_ROOT / "prompts"


#: Names of environment variables that may hold a key LiteLLM reads (``OPENAI_API_KEY``,
#: ``GEMINI_API_KEY``, ``AZURE_AD_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ...): every value is redacted.
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(_[A-Z0-9]+)?$")


def secret_environment_values(min_length: int = 6) -> list[str]:
    """Values of every environment variable whose name looks like it holds a secret.

    Used only to redact them from reasons, raw outputs, logs and metadata; never shown.
    Values shorter than ``min_length`` are left out (too short to redact safely).
    """
    return sorted({v for k, v in os.environ.items()
                   if _SECRET_NAME.search(k.upper()) and v and len(v.strip()) >= min_length}, key=len, reverse=True)


def environment_secret(name: str) -> str | None:
    """The value of the environment variable ``name`` (a fallback's ``KEY_ENV``), or None."""
    value = os.environ.get(name)
    return value or None


def get_settings() -> Settings:
    """The effective settings, read from the environment now.

    Raises:
        pydantic.ValidationError: naming the variable whose value is invalid.
    """
    return Settings()


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field (``llm_rpm`` -> ``ENRICHMENT_LLM_RPM``)."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"ENRICHMENT_{field.upper()}"


def settings_table_markdown() -> str:
    """The README's configuration table: variable, default, meaning (one row per field)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if default in (None, []):
            shown = "unset"
        elif isinstance(default, Path):
            shown = f"`{default}/`"
        else:
            shown = f"`{default}`"
        lines.append(f"| `{env_name(name)}` | {shown} | {info.description} |")
    return "\n".join(lines)


def effective_settings_metadata(settings: Settings | None = None) -> dict[str, str]:
    """Effective values for the Dagster UI: every field as text, secrets shown as set/unset."""
    settings = settings or get_settings()
    out: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "(set)"
        elif value is None:
            value = "(unset)"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "(none)"
        out[env_name(name)] = str(value)
    # alert URLs may carry tokens: only their number is shown
    out[env_name("alert_urls")] = f"{len(settings.alert_urls)} URL(s)"
    # URLs may carry a password (postgresql://user:pw@host/db): shown without it
    for name in ("database_url", "dagster_pg_url", "llm_api_base"):
        if getattr(settings, name):
            out[env_name(name)] = _hide_password(str(getattr(settings, name)))
    return out


def _hide_password(url: str) -> str:
    """``url`` with its password as ``***`` (any unparsable URL as a placeholder)."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never show a URL we cannot redact
        if "@" in url:
            return "<url with credentials>"
        return url


def settings_markdown(settings: Settings | None = None) -> str:
    """The effective settings as a markdown table (variable, value; secrets as (set)), for
    the Dagster UI's metadata."""
    rows = ["| variable | value |", "|---|---|"]
    for name, value in effective_settings_metadata(settings).items():
        escaped = value.replace("|", "\\|")
        rows.append(f"| `{name}` | {escaped} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------
# Functions kept for the modules that call them (each reads the settings object).
# ---------------------------------------------------------------------------------------


def enrichment_home() -> Path:
    """``ENRICHMENT_HOME`` as an absolute path (not created)."""
    return get_settings().home_path


def landing_dir() -> Path:
    """Landing folder holding ``<organization>/<scrape>.jsonl`` files."""
    return get_settings().landing_path


def database_url() -> str:
    """SQLAlchemy URL of the application database."""
    return get_settings().database


def dagster_postgres_url() -> str | None:
    """``ENRICHMENT_DAGSTER_PG_URL``: Dagster's own storage on PostgreSQL when set."""
    return get_settings().dagster_pg_url


def dagster_home() -> Path:
    """The persistent Dagster instance folder shared by ``enrichment run`` and ``make dev``."""
    return get_settings().dagster_home_path


#: First line of the ``dagster.yaml`` this package writes for an embedded (SQLite) instance;
#: a file starting with it is rewritten when the folder moves or the content changes.
EMBEDDED_DAGSTER_YAML_MARK = "# written by enrichment (settings.prepare_dagster_home); edits are replaced"
#: What an embedded home's ``dagster.yaml`` held before the pooled event log storage.
_LEGACY_EMBEDDED_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def embedded_dagster_yaml(home: Path) -> str:
    """The ``dagster.yaml`` of an embedded instance in ``home``: telemetry off, Dagster's
    SQLite storage in the folder, its event log through
    :class:`~enrichment_assets.storage.dagster_events.PooledSqliteEventLogStorage` (same files
    and schema as Dagster's own, reused connections)."""
    return (f"{EMBEDDED_DAGSTER_YAML_MARK}\n"
            "telemetry:\n  enabled: false\n"
            "event_log_storage:\n"
            "  module: enrichment_assets.storage.dagster_events\n"
            "  class: PooledSqliteEventLogStorage\n"
            "  config:\n"
            f"    base_dir: {json.dumps(str(home.resolve() / 'history' / 'runs'))}\n")


def apply_dagster_event_batching() -> int:
    """Set ``DAGSTER_EVENT_BATCH_SIZE`` (read by Dagster at every event) to the setting of the
    same name (default 200) in this process; returns it. Called when the definitions load (the
    CLI, the code server and every run worker import them) and by :func:`prepare_dagster_home`."""
    size = get_settings().dagster_event_batch_size
    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = str(size)
    return size


def prepare_dagster_home() -> Path:
    """Create the Dagster instance folder with a ``dagster.yaml`` if missing; return it.

    With ``ENRICHMENT_DAGSTER_PG_URL`` set, the folder gets the project's top-level
    ``dagster.yaml`` (PostgreSQL storage, queued run coordinator, the model pool's limit,
    run monitoring); otherwise :func:`embedded_dagster_yaml` (Dagster's default SQLite
    storage in the folder, telemetry off, the pooled event log). A file this package wrote
    for an embedded home (or the telemetry-only file of earlier versions) is brought up to
    date; any other existing file is left as it is.
    """
    settings = get_settings()
    apply_dagster_event_batching()
    home = settings.dagster_home_path
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        if settings.dagster_pg_url:
            config.write_text((PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8"), encoding="utf-8")
        else:
            config.write_text(embedded_dagster_yaml(home), encoding="utf-8")
    elif not settings.dagster_pg_url:
        text = config.read_text(encoding="utf-8")
        wanted = embedded_dagster_yaml(home)
        if text != wanted and (text == _LEGACY_EMBEDDED_DAGSTER_YAML or text.startswith(EMBEDDED_DAGSTER_YAML_MARK)):
            config.write_text(wanted, encoding="utf-8")
    return home


def sensor_interval_s() -> int:
    """Minimum seconds between sensor ticks (``ENRICHMENT_SENSOR_INTERVAL_S``, default 30)."""
    return get_settings().sensor_interval_s
