"""The ``enrichment`` command: import, run, status, confirm-removals, backfill, alerts, settings.

``enrichment run`` does what ``new_scrape_sensor`` does (register new organizations as
partitions) and then materializes every asset and check of the selected partitions
in-process against the persistent Dagster instance (``DAGSTER_HOME``, default
``<ENRICHMENT_HOME>/dagster``), so the runs show in ``make dev``'s UI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from enrichment_assets import settings

console = Console(width=None if sys.stdout.isatty() else 140)

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


def _instance():
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(settings.prepare_dagster_home())
    return dg.DagsterInstance.get()


def run_organizations(organizations: list[str] | None = None, show_progress: bool = True) -> dict[str, bool]:
    """Register new organizations and materialize every asset of the given partitions.

    ``organizations`` None means every organization with scrape files in the landing
    folder. Returns organization -> run success. Unknown organizations raise ValueError.
    """
    import dagster as dg

    from enrichment_assets.checks import all_checks
    from enrichment_assets.definitions import default_resources
    from enrichment_assets.assets import all_assets
    from enrichment_assets.partitions import organizations as orgs_def
    from enrichment_assets.pipeline.discovery import landing_organizations

    instance = _instance()
    landing = settings.landing_dir()
    problems: list[str] = []
    available = landing_organizations(landing, problems)
    print_landing_problems(problems)
    selected = organizations or available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        raise click.UsageError(f"no scrape files in {landing} for organization(s): {', '.join(unknown)}")
    known = set(instance.get_dynamic_partitions(orgs_def.name))
    new = [o for o in selected if o not in known]
    if new:
        instance.add_dynamic_partitions(orgs_def.name, new)
    resources = default_resources()
    outcome: dict[str, bool] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not show_progress) as progress:
        task = progress.add_task("materializing", total=len(selected))
        for org in selected:
            progress.update(task, description=f"materializing {org}")
            result = dg.materialize(
                [*all_assets, *all_checks], partition_key=org, instance=instance,
                resources=resources, raise_on_error=False, run_config=QUIET_RUN_CONFIG,
                tags={"enrichment/trigger": "cli"},
            )
            outcome[org] = result.success
            if not result.success:
                console.print(f"[red]run for {org} failed: {result.run_id}[/red]")
            progress.advance(task)
    return outcome


@main.command("run")
@click.option("--organization", "organizations", multiple=True,
              help="Organization key (repeatable); default: every organization in the landing folder.")
def run_cmd(organizations: tuple[str, ...]) -> None:
    """Register new organizations, materialize their partitions, print the summary."""
    outcome = run_organizations(list(organizations) or None)
    print_status()
    failed = [org for org, ok in outcome.items() if not ok]
    if failed:
        raise SystemExit(f"{len(failed)} organization run(s) failed: {', '.join(failed)}")


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
    """Launch a Dagster backfill of organization partitions; the daemon executes its runs.

    Wraps `dagster job backfill` against the persistent instance: runs are queued and
    executed by the daemon of `make dev` (or a deployed dagster-daemon), and show in the
    UI's backfills view, like a backfill launched from the partitions view.
    """
    import subprocess

    from enrichment_assets.partitions import organizations as orgs_def

    if bool(organizations) == all_partitions:
        raise click.UsageError("give --organization KEY (repeatable) or --all")
    instance = _instance()
    known = instance.get_dynamic_partitions(orgs_def.name)
    selected = sorted(known) if all_partitions else list(organizations)
    unknown = sorted(set(selected) - set(known))
    if unknown:
        raise click.UsageError(f"not registered as partitions: {', '.join(unknown)} (run `enrichment run` first)")
    if not selected:
        raise click.UsageError("no organization partitions registered yet")
    # Through workspace.yaml, so the runs name the code location the daemon and the UI load
    # ("enrichment_assets"); with -m they would name the module and the daemon drops them.
    command = [str(Path(sys.executable).parent / "dagster"), "job", "backfill",
               "-w", str(settings.PROJECT_ROOT / "workspace.yaml"), "-l", "enrichment_assets",
               "-j", job, "--partitions", ",".join(selected), "--noprompt"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=settings.PROJECT_ROOT)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise click.ClickException(f"dagster job backfill failed:\n{output[-2000:]}")
    launched = next((line for line in output.splitlines() if "backfill" in line.lower()), output[-200:])
    console.print(f"{launched.strip()} ({len(selected)} partitions of job {job}; the daemon runs them)")


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

    engine = _engine()
    try:
        removed = confirm_held_removals(engine, organization, sha256_prefix)
    except ConfirmError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    console.print(f"{organization}: {removed} listings marked removed; run "
                  f"`enrichment run --organization {organization}` to update the later stages")


@main.command("status")
def status_cmd() -> None:
    """The per-organization summary, scrape files needing attention, ignored landing entries."""
    print_status()


if __name__ == "__main__":  # pragma: no cover
    main()
