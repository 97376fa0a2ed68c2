"""The ``enrichment`` command: import, run, status, confirm-removals, rollback, backfill, alerts, settings.

``enrichment run`` does what ``new_scrape_sensor`` does (register new organizations as
partitions) and then materializes every asset and check of the selected partitions
in-process against the persistent Dagster instance (``DAGSTER_HOME``, default
``<ENRICHMENT_HOME>/dagster``), so the runs show in ``make dev``'s UI.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from enrichment_assets import settings

console = Console(width=None if sys.stdout.isatty() else 200)

#: Dagster's console logger at WARNING for CLI runs; the full event log is in the instance (UI).
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@click.group()
def main() -> None:
    """Rescue-dog listings -> grounded, validated, translated adoption profiles."""


@main.group(name="import")
def import_group() -> None:
    """Write scrape files of a dataset into the landing folder."""


@import_group.command("petfinder")
@click.argument("train_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labels-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with breed_labels.csv, color_labels.csv, state_labels.csv.")
@click.option("--min-listings", type=int, default=1, show_default=True,
              help="Keep rescuers with at least N listings (dogs and cats).")
def import_petfinder_cmd(train_csv: Path, labels_dir: Path | None, min_listings: int) -> None:
    """PetFinder.my train.csv: one organization per RescuerID."""
    from enrichment_assets.sources.petfinder import import_petfinder

    written = import_petfinder(train_csv, settings.landing_dir(), labels_dir=labels_dir,
                               min_listings=min_listings)
    console.print(f"wrote {len(written)} scrape files to {settings.landing_dir()}")


@import_group.command("tierheim-muenchen")
@click.argument("db_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_tierheim_cmd(db_path: Path) -> None:
    """Tierheim München dog_crawler.db (SQLite) as organization tierheim-muenchen."""
    from enrichment_assets.sources.tierheim_muenchen import import_tierheim_muenchen

    path = import_tierheim_muenchen(db_path, settings.landing_dir())
    console.print(f"wrote {path}")


@import_group.command("demo")
def import_demo_cmd() -> None:
    """The demo listings shipped with the package (written by this project)."""
    from enrichment_assets.sources.demo import import_demo

    written = import_demo(settings.landing_dir())
    console.print(f"demo: {len(written)} organizations in {settings.landing_dir()}")


#: Exit codes of ``enrichment run`` besides 0 (see the README).
EXIT_FAILED, EXIT_CONFIG, EXIT_LOCKED, EXIT_INTERRUPTED = 1, 2, 75, 130


def _instance():
    """The persistent Dagster instance; created (and its storage migrated) under a file
    lock, so two commands starting on a fresh home cannot both create it."""
    import dagster as dg
    from filelock import FileLock

    home = settings.prepare_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    with FileLock(str(home / ".instance.lock"), timeout=300):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # touches (and, on a fresh home, creates) the run storage
    if settings.get_settings().dagster_pg_url:
        # One long-lived process writing ~20 events per organization: keep a pooled connection
        # (what dagster-webserver does) instead of dagster-postgres's connection per statement
        # (NullPool, ~6 ms each); statement_timeout 0 = none.
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    return instance


def mark_abandoned_runs(instance) -> list[str]:
    """Runs of ``enrichment run`` left STARTED by a process that died: marked failed.

    Called while holding the home's run lock, so no live ``enrichment run`` owns them.
    Returns their run ids.
    """
    import dagster as dg

    stale = instance.get_runs(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING],
        tags={"enrichment/trigger": "cli"}))
    for run in stale:
        instance.report_run_failed(run, message="the enrichment run process ended without finishing this run "
                                                "(killed?); marked failed by the next enrichment run")
    return [run.run_id for run in stale]


@dataclass
class OrgOutcome:
    """What ``enrichment run`` did for one organization."""

    organization: str
    success: bool
    run_id: str
    failed_checks: list[str] = field(default_factory=list)
    error_checks: list[str] = field(default_factory=list)
    failure_classes: dict[str, int] = field(default_factory=dict)
    model_mix: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    #: its inputs were those of its last complete run: no Dagster run (``run_id`` empty)
    unchanged: bool = False

    @property
    def ok(self) -> bool:
        return self.success and not self.error_checks and not self.interrupted


def _metadata_value(materializations, key: str) -> dict:
    for materialization in materializations:
        value = materialization.metadata.get(key)
        if value is not None:
            return dict(getattr(value, "value", value) or {})
    return {}


def _outcomes(orgs: list[str], result) -> dict[str, OrgOutcome]:
    """Per organization of a (possibly many-partition) run: its check evaluations and its
    partition's materialization metadata (``model_mix``, ``failure_classes``)."""
    from enrichment_assets.llm.client import STOP

    outcomes = {org: OrgOutcome(organization=org, success=result.success, run_id=result.run_id,
                                interrupted=STOP.is_set()) for org in orgs}
    single = orgs[0] if len(orgs) == 1 else None
    for evaluation in result.get_asset_check_evaluations():
        outcome = outcomes.get(evaluation.partition or single)
        if outcome is None or evaluation.passed:
            continue
        name = evaluation.check_name
        outcome.failed_checks.append(name)
        if evaluation.severity.value == "ERROR":
            outcome.error_checks.append(name)
            if name == "profiles_success_rate":
                metadata = evaluation.metadata.get("failure_classes")
                outcome.failure_classes = dict(getattr(metadata, "value", None) or {})
    by_org: dict[tuple[str, str], list] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        key = (materialization.partition or single, materialization.asset_key.to_user_string())
        by_org.setdefault(key, []).append(materialization)
    for org, outcome in outcomes.items():
        for node in ("llm_profiles", "translations"):
            materializations = by_org.get((org, node), [])
            for model, count in _metadata_value(materializations, "model_mix").items():
                outcome.model_mix[model] = outcome.model_mix.get(model, 0) + int(count)
            if node == "llm_profiles" and not outcome.failure_classes:
                outcome.failure_classes = {k: int(v) for k, v in
                                           _metadata_value(materializations, "failure_classes").items()}
    return outcomes


def raise_run_alerts(instance, engine, outcomes: list[OrgOutcome]) -> int:
    """Store and send the alerts the sensors would raise for one run (failed checks of its
    organizations, a failed run), so alerts do not depend on the daemon. Dedupe keys are the
    sensors', so an alert is stored once whoever sees it first. Returns how many were new."""
    from enrichment_assets.automation.alerts import failed_check_alerts
    from enrichment_assets.definitions import defs
    from enrichment_assets.pipeline.alerts import Alert, alert_urls, deliver_pending, store_alerts

    if not outcomes:
        return 0
    run_id = outcomes[0].run_id
    keys = defs.resolve_asset_graph().asset_check_keys
    found, _ = failed_check_alerts(instance, keys, {})
    new_alerts = [a for a in found if a.run_id == run_id]
    if not outcomes[0].success:
        orgs = [o.organization for o in outcomes]
        partition = orgs[0] if len(orgs) == 1 else f"{orgs[0]}..{orgs[-1]}"
        new_alerts.append(Alert(dedupe_key=f"run:{run_id}", kind="run", severity="ERROR",
                                summary=("run stopped by a signal" if outcomes[0].interrupted else "run failed")
                                + f" for {', '.join(orgs[:20])}" + (f" (+{len(orgs) - 20} more)" if len(orgs) > 20 else ""),
                                asset="__ASSET_JOB", partition=partition, run_id=run_id))
    stored = store_alerts(engine, new_alerts)
    deliver_pending(engine, alert_urls())
    return stored


def _install_signal_handlers() -> dict:
    """First SIGTERM/SIGINT: no new work starts (answers in flight are stored); a second
    one exits at once. Returns the previous handlers (for :func:`_restore_signal_handlers`)."""
    import signal

    from enrichment_assets.llm.client import STOP, request_stop

    def handler(signo, frame) -> None:
        if STOP.is_set():
            os._exit(EXIT_INTERRUPTED)
        request_stop()
        console.print(f"[yellow]signal {signo}: finishing the requests in flight, then stopping "
                      "(send it again to stop at once)[/yellow]")

    previous = {}
    for signo in (signal.SIGINT, signal.SIGTERM):
        previous[signo] = signal.signal(signo, handler)
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    import signal

    from enrichment_assets.llm.client import STOP

    for signo, handler in previous.items():
        signal.signal(signo, handler)
    STOP.clear()


def run_config_for(limits: dict[str, int | None], force: bool) -> dict:
    """Run config of one run: quiet console logs plus ``llm_profiles``'s options
    (:class:`~enrichment_assets.assets.profiles.ProfileRunConfig`): ``limits`` maps an
    organization to its quota of listings sent (organizations without a quota: no limit)."""
    config: dict = {"limits": {org: n for org, n in limits.items() if n is not None}, "force": force}
    return {**QUIET_RUN_CONFIG, "ops": {"llm_profiles": {"config": config}}}


class _ListingBar:
    """``enrichment run``'s one progress bar over listings, fed by the stages
    (:mod:`enrichment_assets.pipeline.progress`): its total is what the normalizing stage
    went through, the later stages count against it."""

    def __init__(self, progress: Progress, runs: int):
        self.progress = progress
        self.task = progress.add_task("starting", total=None)
        self.runs = runs
        self.run = 0
        self.listings: int | None = None

    def next_run(self) -> None:
        self.run += 1
        self.listings = None

    def stage(self, name: str, total: int | None, unit: str = "listings") -> None:
        done = next((t.completed for t in self.progress.tasks if t.id == self.task), 0)
        if name == "normalizing":
            self.listings = None
        elif name != "ingesting" and self.listings is None:
            self.listings = int(done)
        prefix = f"run {self.run}/{self.runs}: " if self.runs > 1 else ""
        self.progress.reset(self.task, total=total if total is not None else self.listings,
                            description=f"{prefix}{name} {unit}")

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)


def run_organizations(organizations: list[str] | None = None, show_progress: bool = True,
                      lock_wait_s: float | None = None, limit: int | None = None,
                      force: bool = False) -> dict[str, OrgOutcome]:
    """Register new organizations and materialize every asset of the given partitions.

    ``organizations`` None means every organization with scrape files in the landing
    folder. The selection goes into as few Dagster runs as possible: ranges of partitions
    contiguous in registration order, at most ``ENRICHMENT_MAX_PARTITIONS_PER_RUN`` each
    (:func:`~enrichment_assets.pipeline.batching.contiguous_chunks`); each asset of a run
    processes all its organizations and records a materialization and check results per
    organization. One writer per home: the command holds the home's lock (a file lock on
    SQLite, an advisory lock on PostgreSQL) for its whole duration; every model call of the
    command shares one client (one concurrency limit, one run budget). ``limit``: at most
    that many listings sent to the model over all organizations (quotas by
    :func:`~enrichment_assets.pipeline.planning.run_quotas`); ``force``: send up-to-date
    listings too. Without ``force`` and ``limit``, an organization whose fingerprint
    (:mod:`~enrichment_assets.pipeline.freshness`) equals that of its last complete and
    clean run gets no Dagster run (outcome ``unchanged``); after the runs, every clean
    organization's fingerprint is stored. Returns organization -> outcome.

    Raises:
        click.UsageError: unknown organizations.
        LockHeld: another run holds the home's lock after ``lock_wait_s`` seconds.
        BudgetConfigError: a USD budget with a model of unknown price.
    """
    import dagster as dg

    from enrichment_assets.assets import all_assets
    from enrichment_assets.definitions import default_resources
    from enrichment_assets.llm.client import STOP
    from enrichment_assets.partitions import organizations as orgs_def
    from enrichment_assets.partitions import run_selection
    from enrichment_assets.pipeline import progress as stage_progress
    from enrichment_assets.pipeline.batching import contiguous_chunks
    from enrichment_assets.pipeline.discovery import landing_files
    from enrichment_assets.pipeline.raw import recorded_scrape_files
    from enrichment_assets.resources.llm import run_scope
    from enrichment_assets.storage.fingerprints import forget_fingerprints
    from enrichment_assets.storage.locks import exclusive

    landing = settings.landing_dir()
    problems: list[str] = []
    engine = _engine()
    files = landing_files(landing, problems, recorded_scrape_files(engine))
    available = sorted({f.organization for f in files})
    print_landing_problems(problems)
    selected = organizations or available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        engine.dispose()
        raise click.UsageError(f"no scrape files in {landing} for organization(s): {', '.join(unknown)}")
    wait = settings.get_settings().run_lock_wait_s if lock_wait_s is None else lock_wait_s
    resources = default_resources()
    outcome: dict[str, OrgOutcome] = {}
    try:
        with exclusive(engine, "enrichment-run", wait_s=wait, fallback_dir=settings.enrichment_home()):
            instance = _instance()
            for run_id in mark_abandoned_runs(instance):
                console.print(f"[yellow]marked run {run_id} failed: its process ended without finishing[/yellow]")
            registered = list(instance.get_dynamic_partitions(orgs_def.name))
            new = [o for o in selected if o not in set(registered)]
            if new:
                instance.add_dynamic_partitions(orgs_def.name, new)
                registered += new
            current = _fingerprints(engine, selected, files, resources)
            skipped = set() if force or limit is not None else set(_unchanged(instance, engine, current))
            for org in sorted(skipped):
                outcome[org] = OrgOutcome(organization=org, success=True, run_id="", unchanged=True)
            to_run = [o for o in selected if o not in skipped]
            if not to_run:
                return outcome
            forget_fingerprints(engine, to_run)
            chunks = contiguous_chunks(registered, to_run, settings.get_settings().max_partitions_per_run)
            quotas = _quotas(engine, landing, to_run, resources, force, limit)
            with run_scope():
                resources["llm"].client_for_run(engine)  # the run's one client; checks the budget set-up
                with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=console, disable=not show_progress) as progress:
                    bar = _ListingBar(progress, len(chunks))
                    stage_progress.set_hook(bar.stage, bar.advance)
                    try:
                        for chunk in chunks:
                            if STOP.is_set():
                                break
                            bar.next_run()
                            selection = run_selection(chunk)
                            result = dg.materialize(
                                all_assets, instance=instance, resources=resources, raise_on_error=False,
                                run_config=run_config_for({o: quotas.get(o) for o in chunk}, force),
                                partition_key=selection.get("partition_key"),
                                tags={**selection.get("tags", {}), "enrichment/trigger": "cli"},
                            )
                            outcomes = _outcomes(chunk, result)
                            outcome.update(outcomes)
                            if STOP.is_set():
                                run = instance.get_run_by_id(result.run_id)
                                if run is not None and run.status != dg.DagsterRunStatus.CANCELED:
                                    instance.report_run_canceled(run, message="stopped by SIGTERM/SIGINT")
                            raise_run_alerts(instance, engine, list(outcomes.values()))
                            if not result.success:
                                console.print(f"[red]run for {', '.join(chunk[:5])}"
                                              f"{' ...' if len(chunk) > 5 else ''} failed: {result.run_id}[/red]")
                    finally:
                        stage_progress.set_hook(None, None)
            if limit is None and not STOP.is_set():
                _record_clean(engine, current, [outcome[o] for o in to_run if o in outcome])
    finally:
        engine.dispose()
    return outcome


def _fingerprints(engine, selected: list[str], files, resources: dict) -> dict[str, str]:
    """organization -> fingerprint (:func:`~enrichment_assets.pipeline.freshness.fingerprints`);
    empty when a prompt file is broken (then everything runs and nothing is recorded)."""
    from enrichment_assets.llm.prompts import PromptFileError, load_prompt_configs
    from enrichment_assets.pipeline import freshness
    from enrichment_assets.storage.fingerprints import review_marks

    try:
        configs = load_prompt_configs(selected)
    except PromptFileError:
        return {}
    shared = freshness.shared_inputs(settings.effective_settings_metadata(), resources["llm"].effective_model)
    return freshness.fingerprints(selected, files, configs, review_marks(engine), shared)


def _unchanged(instance, engine, current: dict[str, str]) -> list[str]:
    """Organizations of ``current`` that need no run (:func:`~enrichment_assets.pipeline.freshness.unchanged`),
    given the stored fingerprints, the incomplete organizations and the Dagster runs not
    launched by ``enrichment run`` since the earliest stored row."""
    import datetime as dt

    import dagster as dg

    from enrichment_assets.pipeline.freshness import unchanged
    from enrichment_assets.storage.fingerprints import incomplete_organizations, recorded_fingerprints

    recorded = {o: row for o, row in recorded_fingerprints(engine).items() if o in current}
    if not recorded:
        return []
    since = min(row[2] for row in recorded.values()).replace(tzinfo=dt.timezone.utc)
    records = instance.get_run_records(filters=dg.RunsFilter(created_after=since))
    foreign = [r.create_timestamp for r in records if r.dagster_run.tags.get("enrichment/trigger") != "cli"]
    latest = max(foreign).astimezone(dt.timezone.utc).replace(tzinfo=None) if foreign else None
    return unchanged(current, recorded, incomplete_organizations(engine), latest)


def _record_clean(engine, current: dict[str, str], outcomes: list[OrgOutcome]) -> None:
    """Store the fingerprint of each organization whose run was complete and clean: run ok,
    no ERROR check, not interrupted, no failed or budget-exhausted listing left."""
    import datetime as dt

    from enrichment_assets.storage.fingerprints import incomplete_organizations, record_fingerprints

    incomplete = incomplete_organizations(engine)
    rows = {o.organization: (current[o.organization], o.run_id) for o in outcomes
            if o.ok and o.organization in current and o.organization not in incomplete}
    record_fingerprints(engine, rows, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))


def _quotas(engine, landing: Path, selected: list[str], resources: dict, force: bool,
            limit: int | None) -> dict[str, int | None]:
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.planning import run_quotas

    if limit is None:
        return {}
    configs = {org: load_prompt_config(org) for org in selected}
    return run_quotas(engine, landing, selected, resources["llm"].effective_model, configs, force, limit)


@main.command("run")
@click.option("--organization", "organizations", multiple=True,
              help="Organization key (repeatable); default: every organization in the landing folder.")
@click.option("--wait", "wait_s", type=float, default=None,
              help="Seconds to wait for another run on this home (default ENRICHMENT_RUN_LOCK_WAIT_S, 0).")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Send at most N listings to the model in this run (round-robin over organizations in "
                   "name order, external-id order within one); the rest wait for the next run.")
@click.option("--force", is_flag=True, help="Run unchanged organizations too and send up-to-date listings "
                                            "again (still one row per listing).")
@click.option("--dry-run", is_flag=True, help="No model call, no write: print per organization the listings "
                                              "that would be sent, tokens and the estimated cost.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
def run_cmd(organizations: tuple[str, ...], wait_s: float | None, limit: int | None = None, force: bool = False,
            dry_run: bool = False, as_json: bool = False) -> None:
    """Register new organizations, materialize their partitions, print the summary.

    An organization whose inputs (scrape files, prompt config, settings, model, code
    versions, review decisions) are those of its last complete and clean run is reported
    `unchanged` and gets no Dagster run (not with --force or --limit).

    Exit codes: 0 all well; 1 a run failed or an organization's success rate is below the
    floor (ERROR check); 2 configuration refused (e.g. a budget with an unknown price);
    75 another run holds this home; 130 stopped by SIGTERM/SIGINT (answers in flight stored).
    """
    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run (for the state after a run: enrichment status --json)")
    if dry_run:
        print_dry_run(list(organizations) or None, force, limit, as_json)
        return
    previous = _install_signal_handlers()
    try:
        _run_and_report(organizations, wait_s, limit=limit, force=force)
    finally:
        _restore_signal_handlers(previous)


def _run_and_report(organizations: tuple[str, ...], wait_s: float | None, limit: int | None = None,
                    force: bool = False) -> None:
    from enrichment_assets.llm.client import STOP, BudgetConfigError
    from enrichment_assets.storage.locks import LockHeld

    try:
        outcome = run_organizations(list(organizations) or None, lock_wait_s=wait_s, limit=limit, force=force)
    except LockHeld as exc:
        console.print(f"[red]{exc}[/red]\nwait for it to finish, or pass --wait SECONDS")
        raise SystemExit(EXIT_LOCKED) from None
    except BudgetConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise SystemExit(EXIT_CONFIG) from None
    print_status()
    same = sorted(o.organization for o in outcome.values() if o.unchanged)
    if same:
        console.print(f"unchanged: {len(same)} organization(s) with the inputs of their last complete run, not "
                      f"run ({', '.join(same[:10])}{' ...' if len(same) > 10 else ''}; --force runs them)")
    mix: dict[str, int] = {}
    for result in outcome.values():
        for model, count in result.model_mix.items():
            mix[model] = mix.get(model, 0) + count
    if mix:
        console.print("models that answered: " + ", ".join(f"{m} ({n})" for m, n in sorted(mix.items())))
    if STOP.is_set():
        console.print("[yellow]stopped by a signal: answers that arrived are stored; the next run sends only "
                      "what is missing[/yellow]")
        raise SystemExit(EXIT_INTERRUPTED)
    failed = [o for o in outcome.values() if not o.ok]
    for result in failed:
        classes = ", ".join(f"{k}: {v}" for k, v in sorted(result.failure_classes.items())) or "-"
        checks = ", ".join(result.error_checks) or "-"
        console.print(f"[red]{result.organization}: run {'ok' if result.success else 'failed'}; ERROR checks: "
                      f"{checks}; failure classes: {classes}[/red]")
    if failed:
        raise SystemExit(EXIT_FAILED)


def print_dry_run(organizations: list[str] | None, force: bool, limit: int | None, as_json: bool) -> None:
    """``enrichment run --dry-run``: the plan of :func:`~enrichment_assets.pipeline.planning.plan_run`
    (no model call, no Dagster run, no row written)."""
    import dataclasses
    import json

    from enrichment_assets.definitions import default_resources
    from enrichment_assets.llm.client import LLMClient
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.discovery import landing_organizations
    from enrichment_assets.pipeline.planning import plan_run

    landing = settings.landing_dir()
    available = landing_organizations(landing, [])
    selected = organizations or available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        raise click.UsageError(f"no scrape files in {landing} for organization(s): {', '.join(unknown)}")
    llm_settings = dataclasses.replace(default_resources()["llm"].llm_settings(), budget_usd=None, token_budget=None)
    client = LLMClient(llm_settings)  # only its model and prices are used: nothing is sent
    engine = _engine()
    try:
        plan = plan_run(engine, landing, selected, client, {org: load_prompt_config(org) for org in selected},
                        force=force, limit=limit, default_output_tokens=settings.get_settings().llm_estimate_output_tokens)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(plan.as_dict(), indent=2, default=str))
        return

    def money(value: float | None) -> str:
        return "unknown" if value is None else f"${value:.4f}"

    table = Table(title=f"dry run: {plan.model} (no request sent, nothing written)")
    for column in ("organization", "listings", "to send", "over limit", "up to date", "skipped", "input tokens",
                   "expected output tokens", "estimated cost"):
        table.add_column(column, justify="left" if column == "organization" else "right", no_wrap=True)
    for o in plan.organizations:
        table.add_row(o.organization, str(o.listings), str(len(o.send)), str(o.deferred), str(o.reused),
                      str(o.skipped), str(o.input_tokens), str(o.output_tokens), money(o.cost_usd))
    table.add_row("TOTAL", "", str(plan.send), "", "", "", str(plan.input_tokens), str(plan.output_tokens),
                  money(plan.cost_usd), style="bold")
    console.print(table)
    for version, tokens in plan.output_tokens_per_listing.items():
        console.print(f"expected output tokens per listing ({version}): {tokens:.0f} from "
                      f"{plan.output_source[version]}")
    if not plan.price_known:
        console.print(f"[yellow]price of {plan.model} unknown: set ENRICHMENT_LLM_INPUT_COST_PER_MTOK and "
                      "ENRICHMENT_LLM_OUTPUT_COST_PER_MTOK or ENRICHMENT_LLM_PRICE_FILE[/yellow]")
    for o in plan.organizations:
        if o.send:
            shown = ", ".join(o.send[:20]) + (f", ... ({len(o.send) - 20} more)" if len(o.send) > 20 else "")
            console.print(f"{o.organization}: {shown}", markup=False, highlight=False)


@main.command("profile")
@click.argument("organization")
@click.argument("external_id")
@click.option("--model", help="LiteLLM model string for this listing (default ENRICHMENT_LLM_MODEL).")
@click.option("--save", is_flag=True, help="Store the result like a run would (profile, violations, quality "
                                           "score, translations, ledger); default: write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def profile_cmd(organization: str, external_id: str, model: str | None, save: bool, as_json: bool) -> None:
    """One listing end to end: rendered prompt, answer, parsed profile, rule violations with
    evidence, quality components and translations.

    Exit codes: 0 the profile is ok; 1 it failed, was quarantined or skipped.
    """
    import json

    from enrichment_assets.definitions import default_resources
    from enrichment_assets.llm.client import BudgetConfigError
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.single import ListingNotFound, profile_listing
    from enrichment_assets.storage.fingerprints import forget_fingerprints

    llm = default_resources()["llm"]
    if model:
        llm = llm.model_copy(update={"model": model})
    engine = _engine()
    try:
        client = llm.client_for_run(engine) if save else llm.client()
        report = profile_listing(engine, settings.landing_dir(), organization, external_id, client,
                                 load_prompt_config(organization), save=save)
        if save:
            forget_fingerprints(engine, [organization])
    except ListingNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except BudgetConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise SystemExit(EXIT_CONFIG) from None
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.__dict__, indent=2, default=str, ensure_ascii=False))
    else:
        print_listing_report(report)
    if report.status != "ok":
        raise SystemExit(EXIT_FAILED)


def print_listing_report(report) -> None:
    """Print a :class:`~enrichment_assets.pipeline.single.ListingReport` section by section."""
    import json

    from rich.rule import Rule

    def section(title: str) -> None:
        console.print(Rule(title))

    def text(value: str) -> None:
        console.print(value, markup=False, highlight=False)

    text(f"{report.organization}/{report.external_id}: model {report.model}, prompt {report.prompt_version}"
         + (" (saved)" if report.saved else " (nothing written)"))
    if report.action != "send":
        text(f"not sent: {report.status}: {report.reason}")
        return
    section("rendered prompt")
    for message in report.messages or []:
        text(f"[{message['role']}]\n{message['content']}")
    section("answer")
    call = report.call
    cost = "unknown" if call.get("cost_usd") is None else f"${call['cost_usd']:.6f}"
    text(f"model answered {call.get('model_answered')} (server: {call.get('model_used')}), "
         f"{call.get('input_tokens')} input + {call.get('output_tokens')} output tokens, cost {cost}, "
         f"{call.get('latency_ms')} ms, {call.get('attempts')} request(s), format {call.get('format_mode')}")
    text(report.answer or "(no answer)")
    section(f"status: {report.status}")
    if report.reason:
        text(report.reason)
    if report.profile is not None:
        section("parsed profile")
        text(json.dumps(report.profile, indent=2, ensure_ascii=False))
    section(f"rule violations ({len(report.violations)})")
    for v in report.violations:
        text(f"{v['severity'].upper():5} {v['rule']} [{v['field']}]: {v['evidence']}")
    if report.quality is not None:
        q = report.quality
        section(f"quality {q['score']:.1f}" + (" (needs review)" if q["needs_review"] else ""))
        for name, value in q["components"].items():
            text(f"{name}: {value:.1f}")
        for reason in q["reasons"]:
            text(f"- {reason}")
    if report.translations:
        section("translations")
        for language, t in report.translations.items():
            text(f"[{language}] {t['status']}" + (f": {t['reason']}" if t.get("reason") else ""))
            if t.get("tagline"):
                text(f"  {t['tagline']}\n  {t['description']}")
            for v in t.get("violations") or []:
                text(f"  {v['severity'].upper()} {v['rule']} [{v['field']}]: {v['evidence']}")


@main.command("export")
@click.option("--organization", "organizations", multiple=True, help="Organization key (repeatable); default: all.")
@click.option("--language", "languages", multiple=True, type=click.Choice(["en", "de", "fr", "es"]),
              help="Text language (repeatable); default: every language (en: the profile itself).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file; default: standard output (jsonl and csv only).")
def export_cmd(organizations: tuple[str, ...], languages: tuple[str, ...], fmt: str, out: Path | None) -> None:
    """The published profiles: one row per listing and language, read from the database view
    `published_profiles` (published, active, not quarantined, no ERROR violation)."""
    from enrichment_assets.pipeline.export import write_export
    from enrichment_assets.storage.published import load_published

    if out is None and fmt == "parquet":
        raise click.UsageError("--format parquet needs --out PATH")
    engine = _engine()
    try:
        frame = load_published(engine, organizations, languages)
    finally:
        engine.dispose()
    if out is None:
        import io

        buffer = io.BytesIO()
        write_export(frame, fmt, buffer)
        click.echo(buffer.getvalue().decode("utf-8"), nl=False)
        return
    written = write_export(frame, fmt, out)
    click.echo(f"wrote {written} rows ({frame['external_id'].nunique() if len(frame) else 0} listings) to {out}",
               err=True)


@main.command("doctor")
@click.option("--no-ping", is_flag=True, help="Do not send the one-token request to the model.")
@click.option("--json", "as_json", is_flag=True, help="The checks as JSON.")
def doctor_cmd(no_ping: bool, as_json: bool) -> None:
    """Check the set-up before a batch: database, Dagster instance, landing folder, prompt
    files, each model (reachable, key, price, structured output) and alert URLs.

    One PASS/WARN/FAIL line per check, with the fix. Exit code 1 when any check fails.
    Keys are never printed.
    """
    import json

    from pydantic import ValidationError

    from enrichment_assets.definitions import default_resources
    from enrichment_assets.llm.client import LLMClient
    from enrichment_assets.pipeline import doctor

    try:
        current = settings.get_settings()
    except ValidationError as exc:
        console.print(f"[red]FAIL settings: {exc}[/red]", markup=True)
        raise SystemExit(EXIT_FAILED) from None
    checks = [doctor.check_database(current.database),
              doctor.check_dagster(_instance, str(current.dagster_home_path)),
              doctor.check_landing(current.landing_path),
              doctor.check_prompts(current.prompts_path)]
    try:
        import dataclasses

        llm_settings = default_resources()["llm"].llm_settings()
        client = LLMClient(dataclasses.replace(llm_settings, budget_usd=None, token_budget=None))
        checks += doctor.model_checks(client, ping=not no_ping)
    except ValueError as exc:  # a fallback entry naming an unset KEY_ENV, a bad price file
        checks.append(doctor.Check("model settings", doctor.FAIL, str(exc)[:300],
                                   "fix ENRICHMENT_LLM_FALLBACK_MODELS / ENRICHMENT_LLM_PRICE_FILE"))
    checks.append(doctor.check_alert_urls(current.alert_urls))
    failed = [c for c in checks if c.status == doctor.FAIL]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        colour = {doctor.PASS: "green", doctor.WARN: "yellow", doctor.FAIL: "red"}
        for c in checks:
            console.print(f"[{colour[c.status]}]{c.status.upper():4}[/{colour[c.status]}] ", end="")
            console.print(f"{c.name}: {c.detail}" + (f"  -> fix: {c.fix}" if c.fix and c.status != doctor.PASS else ""),
                          markup=False, highlight=False)
        console.print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    if failed:
        raise SystemExit(EXIT_FAILED)


@main.command("rollback")
@click.option("--organization", required=True, help="Organization key.")
@click.option("--external-id", "external_ids", multiple=True,
              help="Listing id (repeatable); default: every listing of the organization.")
def rollback_cmd(organization: str, external_ids: tuple[str, ...]) -> None:
    """Publish again the previous published profile version of listings.

    Translations and quality scores follow on the next `enrichment run`.
    """
    from enrichment_assets.pipeline.profiles import rollback_published
    from enrichment_assets.storage.fingerprints import forget_fingerprints

    engine = _engine()
    try:
        result = rollback_published(engine, organization, list(external_ids) or None)
        forget_fingerprints(engine, [organization])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        engine.dispose()
    console.print(f"{organization}: {len(result.rolled_back)} profiles rolled back to their previous version; "
                  f"{len(result.without_previous)} have no earlier version and keep theirs")


@main.group("review")
def review_group() -> None:
    """The review queue: quarantined attempts and needs_review profiles, approve or reject them."""


@review_group.command("list")
@click.option("--organization", default=None, help="Organization key; default: all.")
def review_list_cmd(organization: str | None) -> None:
    """Listings waiting for a review, one line each with the reasons."""
    from enrichment_assets.pipeline.review import review_queue

    engine = _engine()
    try:
        items = review_queue(engine, organization)
    finally:
        engine.dispose()
    if not items:
        click.echo("review queue is empty" + (f" for {organization}" if organization else ""))
        return
    for item in items:
        click.echo(f"{item.organization} {item.external_id} ({item.name}) {item.kind}")
        for reason in item.reasons:
            click.echo(f"    - {reason}")
    click.echo(f"{len(items)} listing(s) to review")


@review_group.command("show")
@click.argument("organization")
@click.argument("external_id")
def review_show_cmd(organization: str, external_id: str) -> None:
    """The listing text, the profile, the rule violations with evidence and the quality reasons."""
    import json

    from enrichment_assets.pipeline.review import ReviewError, review_details

    engine = _engine()
    try:
        details = review_details(engine, organization, external_id)
    except ReviewError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    listing = details["listing"]
    click.echo(f"{organization} {external_id} ({listing.get('name', '')}): latest attempt {details['status']}"
               + (f" ({details['reason']})" if details["reason"] else ""))
    click.echo("\nlisting text:\n" + (listing.get("description") or ""))
    click.echo("\nprofile:\n" + json.dumps(details["profile"], indent=2, ensure_ascii=False))
    click.echo("\nrule violations:")
    for line in details["violations"] or ["(none)"]:
        click.echo(f"    - {line}")
    score = details["quality_score"]
    click.echo(f"\nquality reasons (score {'n/a' if score is None else score}):")
    for line in details["quality_reasons"] or ["(none)"]:
        click.echo(f"    - {line}")
    if details["decisions"]:
        click.echo("\ndecisions:")
        for d in details["decisions"]:
            click.echo(f"    - {d['decided_at']:%Y-%m-%d %H:%M:%S} UTC {d['decision']} by {d['reviewer']}"
                       + (f": {d['note']}" if d["note"] else ""))


def _decide(decision: str, organization: str, external_id: str, note: str | None, reviewer: str | None) -> None:
    from enrichment_assets.pipeline import review
    from enrichment_assets.storage.fingerprints import forget_fingerprints

    engine = _engine()
    try:
        stored = getattr(review, decision)(engine, organization, external_id, reviewer=reviewer, note=note)
        forget_fingerprints(engine, [organization])
    except review.ReviewError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    follow = ("published as version {}".format(stored["published_version"]) if decision == "approve"
              else "sent to the model again on the next `enrichment run`")
    click.echo(f"{organization} {external_id}: {stored['decision']} by {stored['reviewer']} at "
               f"{stored['decided_at']:%Y-%m-%d %H:%M:%S} UTC; {follow}")


@review_group.command("approve")
@click.argument("organization")
@click.argument("external_id")
@click.option("--note", default=None, help="Why (stored with the decision).")
@click.option("--reviewer", default=None, help="Who decides (default: the OS user).")
def review_approve_cmd(organization: str, external_id: str, note: str | None, reviewer: str | None) -> None:
    """Approve the latest attempt: a quarantined one is published despite its rule violation."""
    _decide("approve", organization, external_id, note, reviewer)


@review_group.command("reject")
@click.argument("organization")
@click.argument("external_id")
@click.option("--note", default=None, help="Why (stored with the decision).")
@click.option("--reviewer", default=None, help="Who decides (default: the OS user).")
def review_reject_cmd(organization: str, external_id: str, note: str | None, reviewer: str | None) -> None:
    """Reject the latest attempt: unpublished if published, re-profiled on the next run."""
    _decide("reject", organization, external_id, note, reviewer)


def print_landing_problems(problems: list[str]) -> None:
    """Print the landing entries that are never read (invalid folders, FIFOs, links out, ...)."""
    if not problems:
        return
    console.print(f"[yellow]{len(problems)} landing entr{'y' if len(problems) == 1 else 'ies'} ignored:[/yellow]")
    for problem in problems[:50]:
        console.print(f"  {problem}", markup=False, highlight=False)
    if len(problems) > 50:
        console.print(f"  ... and {len(problems) - 50} more")


def print_status() -> None:
    """Print the per-organization summary table, the scrape files that need an operator and
    the landing entries that are ignored."""
    from enrichment_assets.pipeline.discovery import landing_organizations
    from enrichment_assets.pipeline.status import organization_summary, scrape_file_attention

    engine = _engine()
    frame = organization_summary(engine)
    attention = scrape_file_attention(engine)
    engine.dispose()
    table = Table(title="enrichment status")
    for column in frame.columns:
        table.add_column(column, justify="left" if column == "organization" else "right", no_wrap=True)
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    if len(frame):
        totals = frame.drop(columns=["organization", "mean_quality"]).sum()
        table.add_row("TOTAL", *[str(int(totals[c])) if c in totals else "" for c in frame.columns[1:]],
                      style="bold")
    console.print(table)
    if len(attention):
        files = Table(title="scrape files needing attention (quarantined: removed nothing; held: "
                            "`enrichment confirm-removals`)")
        for column in attention.columns:
            files.add_column(column, overflow="fold")
        for row in attention.itertuples(index=False):
            files.add_row(*[_cell(v)[:300] for v in row])
        console.print(files)
    problems: list[str] = []
    landing_organizations(settings.landing_dir(), problems)
    print_landing_problems(problems)


@main.command("backfill")
@click.option("--organization", "organizations", multiple=True, help="Organization key (repeatable).")
@click.option("--all", "all_partitions", is_flag=True, help="Every registered organization partition.")
@click.option("--job", type=click.Choice(["reprofile", "enrich_organization"]), default="reprofile",
              show_default=True, help="reprofile: llm_profiles and downstream; enrich_organization: every asset.")
def backfill_cmd(organizations: tuple[str, ...], all_partitions: bool, job: str) -> None:
    """Queue ranged runs over organization partitions; the daemon executes them.

    The selection goes into runs of at most ENRICHMENT_MAX_PARTITIONS_PER_RUN organizations,
    each a contiguous range in registration order (like `enrichment run`, `new_scrape_sensor`
    and the weekly schedule): N organizations make ceil(N / max) runs. Each run is queued
    with `dagster job launch` on workspace.yaml and carries the partition-range tags, so
    every asset of it processes all its organizations and records a materialization and
    check results per organization. Runs are tagged enrichment/backfill=<id>.
    """
    import datetime as dt
    import json
    import subprocess

    from enrichment_assets.automation.ranges import backfill_runs
    from enrichment_assets.partitions import organizations as orgs_def

    if bool(organizations) == all_partitions:
        raise click.UsageError("give --organization KEY (repeatable) or --all")
    instance = _instance()
    registered = list(instance.get_dynamic_partitions(orgs_def.name))
    selected = registered if all_partitions else list(dict.fromkeys(organizations))
    unknown = sorted(set(selected) - set(registered))
    if unknown:
        raise click.UsageError(f"not registered as partitions: {', '.join(unknown)} (run `enrichment run` first)")
    if not selected:
        raise click.UsageError("no organization partitions registered yet")
    backfill_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    runs = backfill_runs(registered, selected, settings.get_settings().max_partitions_per_run, backfill_id)
    for number, (keys, tags) in enumerate(runs, 1):
        # Through workspace.yaml, so the runs name the code location the daemon and the UI load
        # ("enrichment_assets"); with -m they would name the module and the daemon drops them.
        command = [str(Path(sys.executable).parent / "dagster"), "job", "launch",
                   "-w", str(settings.PROJECT_ROOT / "workspace.yaml"), "-l", "enrichment_assets",
                   "-j", job, "--tags", json.dumps(tags)]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=settings.PROJECT_ROOT)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()
            raise click.ClickException(f"dagster job launch failed for run {number}/{len(runs)} "
                                       f"({keys[0]}..{keys[-1]}; {number - 1} run(s) queued before):\n"
                                       f"{output[-2000:]}")
        console.print(f"run {number}/{len(runs)} queued: {keys[0]}..{keys[-1]} ({len(keys)} organizations)")
    console.print(f"backfill {backfill_id}: {len(selected)} organizations of job {job} in {len(runs)} ranged "
                  f"run(s) (tag enrichment/backfill={backfill_id}); the daemon runs them")


@main.command("alerts")
@click.option("--limit", type=int, default=20, show_default=True)
def alerts_cmd(limit: int) -> None:
    """Recent alerts from failed asset checks and runs, newest first."""
    from enrichment_assets.pipeline.alerts import recent_alerts

    frame = recent_alerts(_engine(), limit)
    if frame.empty:
        console.print("no alerts")
        return
    table = Table(title="recent alerts")
    for column in ("created_at", "severity", "kind", "check_name", "partition", "summary", "delivered_at", "attempts"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(_cell(row.created_at), row.severity, row.kind, _cell(row.check_name), _cell(row.partition),
                      _cell(row.summary)[:120], _cell(row.delivered_at), str(row.attempts))
    console.print(table)


def _cell(value) -> str:
    """Table text for a value; "-" for None, NaN and NaT (pandas 3 turns None into NaN)."""
    import pandas as pd

    if value is None or pd.isna(value):
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _engine():
    from enrichment_assets.storage.database import create_db_engine, upgrade_to_head

    engine = create_db_engine(settings.database_url())
    upgrade_to_head(engine)
    return engine


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README's configuration table instead.")
def settings_cmd(markdown: bool) -> None:
    """The effective settings (every ENRICHMENT_* variable); secrets show as (set)."""
    if markdown:
        click.echo(settings.settings_table_markdown())
        return
    table = Table(title="effective settings")
    table.add_column("variable")
    table.add_column("value", overflow="fold")
    for name, value in settings.effective_settings_metadata().items():
        table.add_row(name, value)
    console.print(table)


@main.command("confirm-removals")
@click.argument("organization")
@click.option("--file", "sha256_prefix", help="sha256 (or a unique prefix) of the held scrape file; "
                                              "needed when the organization has several.")
def confirm_removals_cmd(organization: str, sha256_prefix: str | None) -> None:
    """Apply the removals a held full scrape would have made (a sudden drop of listings).

    A full scrape that would mark more than half of an organization's active listings
    removed is held (`enrichment status` lists it); after checking that the listings are
    really gone, confirm it here, then run the organization again to update the stages below.
    """
    from enrichment_assets.pipeline.raw import ConfirmError, confirm_held_removals
    from enrichment_assets.storage.fingerprints import forget_fingerprints

    engine = _engine()
    try:
        removed = confirm_held_removals(engine, organization, sha256_prefix)
        forget_fingerprints(engine, [organization])
    except ConfirmError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    console.print(f"{organization}: {removed} listings marked removed; run "
                  f"`enrichment run --organization {organization}` to update the later stages")


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON (for machines).")
def status_cmd(as_json: bool) -> None:
    """The per-organization summary, coverage, success rate, cost, quality bands, review
    counts, scrape files needing attention and ignored landing entries.

    Quality bands: excellent >= 85, good >= 70, fair >= 50, poor < 50 (rubric score 0-100).
    """
    if as_json:
        import json

        from enrichment_assets.pipeline.status import operations_overview, scrape_file_attention

        engine = _engine()
        try:
            overview = operations_overview(engine)
            files = scrape_file_attention(engine)
        finally:
            engine.dispose()
        overview["files_needing_attention"] = json.loads(files.to_json(orient="records", date_format="iso"))
        click.echo(json.dumps(overview, indent=2))
        return
    print_status()
    print_overview()


def print_overview() -> None:
    """Coverage, success rate, cost, quality bands and review counts per organization and in total."""
    from enrichment_assets.pipeline.status import operations_overview

    engine = _engine()
    try:
        overview = operations_overview(engine)
    finally:
        engine.dispose()
    bands = list(overview["quality_bands"])
    table = Table(title="coverage, cost and quality (bands: " + ", ".join(
        f"{name} >= {lowest:g}" for name, lowest in overview["quality_bands"].items() if lowest) + ", poor below)")
    columns = ["organization", "coverage", "success", "cost today", "cost total", *bands, "needs review",
               "quarantined", "rejected lines", "quarantined files"]
    for column in columns:
        table.add_column(column, justify="left" if column == "organization" else "right", no_wrap=True)

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def money(row: dict) -> tuple[str, str]:
        suffix = f" (+{row['cost_unknown_calls']} unknown)" if row["cost_unknown_calls"] else ""
        return f"${row['cost_today_usd']:.4f}", f"${row['cost_total_usd']:.4f}{suffix}"

    for row in [*overview["organizations"], {**overview["totals"], "organization": "TOTAL"}]:
        table.add_row(row["organization"], f"{row['published']}/{row['eligible']} ({share(row['coverage'])})",
                      share(row["success_rate"]), *money(row), *[str(row["quality"][b]) for b in bands],
                      str(row["needs_review"]), str(row["quarantined"]), str(row["rejected_lines"]),
                      str(row["quarantined_files"]), style="bold" if row["organization"] == "TOTAL" else None)
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
