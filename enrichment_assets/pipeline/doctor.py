"""``enrichment doctor``: checks of the set-up before a batch, each with the fix (issue 12).

Every check returns a :class:`Check` with ``status`` ``pass``, ``warn`` (works, but look) or
``fail``; ``enrichment doctor`` exits non-zero when any check fails. Checks, in order:

- ``database``: the application database answers and is at the newest migration (an older
  database is migrated, as every ``enrichment`` command does).
- ``dagster instance``: the persistent instance (``DAGSTER_HOME``) opens.
- ``landing folder``: exists; ignored entries (invalid folders, links out, ...) are a warning.
- ``prompt files``: ``default.yaml`` and every ``organizations/*.yaml`` validate.
- per model endpoint (primary, then each fallback): ``reachable`` (one request with
  ``max_tokens=1``; ``offline/`` models need no network), ``key`` (``ENRICHMENT_LLM_API_KEY``,
  a fallback's ``KEY_ENV`` or the provider's variables per ``litellm.validate_environment``;
  only variable names are shown, never a value), ``price`` (price file, configured price or
  LiteLLM's map: the cost of every call and the USD budgets need it) and ``structured
  output`` (json_schema, or the fallback mode the client will use).
- ``alert URLs``: each ``ENRICHMENT_ALERT_URLS`` entry parses for apprise (shown by its
  scheme and a hash, never the URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class Check:
    """One check's result: ``name``, ``status`` (pass/warn/fail), what was found, the fix."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def _guard(name: str, work: Callable[[], Check], fix: str, redact: Callable[[str], str] = str) -> Check:
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a FAIL line with its fix
        message = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:300]
        return Check(name, FAIL, message, fix)


def check_database(url: str) -> Check:
    """Connect, compare the Alembic revision with the newest one, migrate when behind."""
    from enrichment_assets.storage.database import (
        create_db_engine, current_revision, head_revision, redact_url, upgrade_to_head,
    )

    def work() -> Check:
        engine = create_db_engine(url)
        try:
            before = current_revision(engine)
            head = head_revision()
            if before != head:
                upgrade_to_head(engine)
                return Check("database", PASS, f"{redact_url(url)}: migrated from {before or 'empty'} to {head}")
            return Check("database", PASS, f"{redact_url(url)}: at migration {head}")
        finally:
            engine.dispose()

    return _guard("database", work, "check ENRICHMENT_DATABASE_URL and that the server runs and accepts this user",
                  lambda text: text.replace(url, redact_url(url)))


def check_dagster(open_instance: Callable[[], object], home: str) -> Check:
    """Open the persistent Dagster instance (``open_instance`` creates it if missing)."""

    def work() -> Check:
        instance = open_instance()
        storage = type(getattr(instance, "run_storage", object())).__name__
        return Check("dagster instance", PASS, f"{home} ({storage})")

    return _guard("dagster instance", work, "check DAGSTER_HOME / ENRICHMENT_DAGSTER_PG_URL and its dagster.yaml")


def check_landing(landing) -> Check:
    """The landing folder exists; entries that runs ignore are a warning."""
    from enrichment_assets.pipeline.discovery import landing_organizations

    if not landing.is_dir():
        return Check("landing folder", FAIL, f"{landing} does not exist",
                     "`enrichment import demo` (or another importer), or set ENRICHMENT_LANDING_DIR")
    problems: list[str] = []
    orgs = landing_organizations(landing, problems)
    if problems:
        return Check("landing folder", WARN, f"{landing}: {len(orgs)} organizations; {len(problems)} entries "
                     f"ignored, first: {problems[0]}", "fix or remove the ignored entries (see `enrichment status`)")
    if not orgs:
        return Check("landing folder", WARN, f"{landing}: no scrape files yet", "`enrichment import demo` or an importer")
    return Check("landing folder", PASS, f"{landing}: {len(orgs)} organizations with scrape files")


def check_prompts(prompts_dir) -> Check:
    """``default.yaml`` and every organization file validate (:func:`load_prompt_config`)."""
    from enrichment_assets.llm.prompts import PromptFileError, load_prompt_config

    orgs = sorted(p.stem for p in (prompts_dir / "organizations").glob("*.yaml"))
    errors = []
    for org in ["default", *orgs]:
        try:
            load_prompt_config(org, prompts_dir)
        except (PromptFileError, OSError, ValueError) as exc:
            errors.append(str(exc).splitlines()[0][:300])
    if errors:
        return Check("prompt files", FAIL, "; ".join(errors[:3]), "fix the named file and key (README: prompt files)")
    return Check("prompt files", PASS, f"{prompts_dir}: default.yaml and {len(orgs)} organization file(s) valid")


def check_alert_urls(urls: list[str]) -> Check:
    """Each notification URL parses for apprise; shown by scheme and hash only."""
    import apprise

    from enrichment_assets.pipeline.alerts import url_id

    if not urls:
        return Check("alert URLs", PASS, "none configured (alerts are stored, not sent)")
    bad = [f"{u.split(':', 1)[0]}://… ({url_id(u)})" for u in urls if not apprise.Apprise().add(u)]
    if bad:
        return Check("alert URLs", FAIL, f"{len(bad)} of {len(urls)} not understood: {', '.join(bad)}",
                     "fix ENRICHMENT_ALERT_URLS (apprise URL syntax: slack://, mailto://, json://host/path)")
    return Check("alert URLs", PASS, f"{len(urls)} URL(s) parse")


def model_checks(client, ping: bool = True) -> list[Check]:
    """``reachable``, ``key``, ``price`` and ``structured output`` per endpoint of
    ``client`` (an :class:`~enrichment_assets.llm.client.LLMClient`). ``ping`` False skips
    the one-token request (the check then says so)."""
    from enrichment_assets.llm.client import FREE_PREFIXES, import_litellm

    litellm = import_litellm()
    checks: list[Check] = []
    for index, endpoint in enumerate(client.endpoints):
        label = endpoint.model if index == 0 else f"fallback {endpoint.model}"
        offline = endpoint.model.startswith("offline/")
        if offline:
            checks.append(Check(f"{label}: reachable", PASS, "offline rule-based provider: no network, no key"))
        elif not ping:
            checks.append(Check(f"{label}: reachable", WARN, "not tried (--no-ping)"))
        else:
            def ping_once(endpoint=endpoint, label=label) -> Check:
                kwargs = {"model": endpoint.model, "messages": [{"role": "user", "content": "Reply with OK."}],
                          "max_tokens": 1, "timeout": min(client.settings.timeout_s, 20.0), "num_retries": 0,
                          "max_retries": 0}
                if endpoint.api_base:
                    kwargs["api_base"] = endpoint.api_base
                if endpoint.api_key:
                    kwargs["api_key"] = endpoint.api_key
                response = litellm.completion(**kwargs)
                return Check(f"{label}: reachable", PASS, f"answered a one-token request as "
                             f"{getattr(response, 'model', None) or endpoint.model} at {endpoint.api_base or 'the provider'}")

            checks.append(_guard(f"{label}: reachable", ping_once,
                                 "check ENRICHMENT_LLM_API_BASE (server running? port?), the model name and the key",
                                 lambda text: client.redact(text) or ""))
        if offline or endpoint.model.startswith(FREE_PREFIXES):
            checks.append(Check(f"{label}: key", PASS, "no key needed"))
        elif endpoint.api_key:
            checks.append(Check(f"{label}: key", PASS, "configured (ENRICHMENT_LLM_API_KEY or the fallback's KEY_ENV)"))
        else:
            found = litellm.validate_environment(model=endpoint.model)
            if found.get("keys_in_environment"):
                checks.append(Check(f"{label}: key", PASS, "found in the provider's environment variables"))
            else:
                missing = ", ".join(found.get("missing_keys") or []) or "the provider's key variable"
                checks.append(Check(f"{label}: key", FAIL, f"no key: none of {missing} is set",
                                    f"set ENRICHMENT_LLM_API_KEY or {missing}"))
        price = client.price(endpoint.model)
        if price is None:
            checks.append(Check(f"{label}: price", FAIL, "unknown: costs would be stored as NULL and USD budgets refuse "
                                "to start", "set ENRICHMENT_LLM_INPUT_COST_PER_MTOK and ENRICHMENT_LLM_OUTPUT_COST_PER_MTOK, "
                                "or ENRICHMENT_LLM_PRICE_FILE"))
        else:
            checks.append(Check(f"{label}: price", PASS, f"${price.input_per_token * 1e6:.4f} input / "
                                f"${price.output_per_token * 1e6:.4f} output per million tokens"))
        mode = client.format_mode(endpoint.model)
        declared = client.settings.structured_output
        if mode == "json_schema":
            detail = "json_schema" + (" (declared)" if declared != "auto" else " (supported per LiteLLM)")
            checks.append(Check(f"{label}: structured output", PASS, detail))
        else:
            why = "declared" if declared != "auto" else "LiteLLM does not list json_schema support for this model"
            checks.append(Check(f"{label}: structured output", PASS, f"{mode} fallback ({why}); answers are validated "
                                "and repaired", "ENRICHMENT_LLM_STRUCTURED_OUTPUT=json_schema if the model supports it"))
    return checks
