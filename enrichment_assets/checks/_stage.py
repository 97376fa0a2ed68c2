"""Asset checks evaluated per organization inside their asset's step.

Each check is a :class:`StageCheck`: a name, the asset it checks, whether a failed ERROR
evaluation stops that organization downstream (``stops_org``), and ``evaluate(engine,
organization, thresholds, run_id) -> GateResult`` (pure decisions live in ``pipeline/``),
or ``evaluate_many(engine, organizations, thresholds, run_id) -> {organization: GateResult}``
for a check that reads the rows of all the step's organizations at once.

Why inside the asset's step: a run carries many organization partitions
(``BackfillPolicy.multi_run``), and ``AssetCheckResult`` only gets a partition in a
single-partition step. The asset declares its checks as ``check_specs`` and yields one
``AssetCheckEvaluation`` per check and partition (``partition=org``), so the UI and the
event log hold a result per organization, and a run has one step per stage instead of
one per stage and check.

Dagster-level blocking would stop the downstream step for *every* organization of the
run, so the specs are not blocking: an ERROR of a ``stops_org`` check stops only that
organization's downstream stages (:func:`stopped_organizations`; the downstream
materialization says so in ``stopped_by_checks``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import sqlalchemy as sa
# not exported at the top level in Dagster 1.13; the type of AssetCheckEvaluation.target_materialization_data
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData

from enrichment_assets.pipeline.gates import GateResult


@dataclass(frozen=True)
class StageCheck:
    """One asset check, evaluated per organization by its asset's step."""

    name: str
    asset: str
    description: str
    evaluate: Callable[[sa.Engine, str, Any, str], GateResult] | None = None
    stops_org: bool = False
    #: all organizations of a step at once: one query per stage instead of one per organization
    #: (each costs ~0.4 ms of a step's time per organization; PetFinder rescuers have 2.7 listings)
    evaluate_many: Callable[[sa.Engine, Sequence[str], Any, str], dict[str, GateResult]] | None = None

    def evaluate_all(self, engine: sa.Engine, organizations: Sequence[str], thresholds: Any,
                     run_id: str) -> dict[str, GateResult]:
        """organization -> result for each of ``organizations``, by ``evaluate_many`` when
        the check has it, else ``evaluate`` per organization."""
        if self.evaluate_many is not None:
            return self.evaluate_many(engine, organizations, thresholds, run_id)
        return {org: self.evaluate(engine, org, thresholds, run_id) for org in organizations}

    @property
    def spec(self) -> dg.AssetCheckSpec:
        from enrichment_assets.partitions import organizations

        return dg.AssetCheckSpec(self.name, asset=self.asset, description=self.description,
                                 partitions_def=organizations, blocking=False)


def evaluation(check: StageCheck, organization: str, gate: GateResult,
               target: AssetCheckEvaluationTargetMaterializationData | None = None) -> dg.AssetCheckEvaluation:
    """The partition-scoped evaluation of ``check`` for ``organization``; ``target``: the
    materialization of that partition it checks (see :func:`latest_materializations`)."""
    # here, not at the top: importing the assets package imports the assets, which import this
    # package (checks imported first, as by a test, would find it half initialized)
    from enrichment_assets.assets._metadata import md_table

    severity = dg.AssetCheckSeverity.ERROR if gate.severity == "ERROR" else dg.AssetCheckSeverity.WARN
    metadata = {k: (dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v) for k, v in gate.metadata.items()}
    if gate.offending:
        metadata["first_offending"] = md_table(gate.offending[:20], 160)
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(check.asset), check_name=check.name, passed=gate.passed, severity=severity,
        description=gate.description or None, metadata=metadata, blocking=False, partition=organization,
        target_materialization_data=target)


def latest_materializations(instance: dg.DagsterInstance, asset: str, organizations: Sequence[str],
                            run_id: str | None = None) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """organization -> its latest materialization of ``asset`` (run id, storage id, timestamp),
    for the organizations that have one: one event-log query for all of them.

    What Dagster's own ``AssetCheckResult`` attaches in a single-partition step. Without it
    an evaluation does not "target the latest materialization", and the UI's per-partition
    check status (``AssetCheck.partitionStatuses``) drops it. The step has just
    materialized each organization once, so the newest ``len(organizations)`` records are
    theirs. With ``run_id`` (that step's run) on the embedded event log, the materializations
    it remembers storing for the run are used, when it has all of them, instead of reading
    the events back (~0.4 ms each to deserialize with their metadata)."""
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    remembered = getattr(instance.event_log_storage, "run_materializations", None)
    if remembered is not None and run_id is not None:  # the embedded event log (storage.dagster_events)
        stored = remembered(run_id, dg.AssetKey(asset))
        latest = {org: AssetCheckEvaluationTargetMaterializationData(run_id=run_id, storage_id=stored[org][0],
                                                                     timestamp=stored[org][1])
                  for org in organizations if org in stored}
        if len(latest) == len(set(organizations)):
            return latest
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=list(organizations)),
        limit=max(len(organizations), 1)).records
    for record in records:  # newest first
        partition = record.partition_key
        if partition is not None and partition not in latest:
            latest[partition] = AssetCheckEvaluationTargetMaterializationData(
                run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp)
    return latest


def run_stage_checks(context: dg.AssetExecutionContext, checks: Sequence[StageCheck], engine: sa.Engine,
                     organizations: Sequence[str], thresholds: Any = None) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
    """Yield the check outputs Dagster expects of the step, then one evaluation per selected
    check and organization. Records the organizations a failed ``stops_org`` check stops
    (:func:`stopped_organizations`). ``thresholds``: the :class:`CheckThresholds` resource (None for
    checks that need none)."""
    thresholds = ResolvedThresholds(thresholds) if thresholds is not None else None
    selected = [c for c in checks if dg.AssetCheckKey(dg.AssetKey(c.asset), c.name) in context.selected_asset_check_keys]
    names = {spec.key: name for name, spec in context.assets_def.node_check_specs_by_output_name.items()}
    for check in selected:
        yield dg.Output(None, output_name=names[dg.AssetCheckKey(dg.AssetKey(check.asset), check.name)])
    run_id = context.run.run_id
    targets = {asset: latest_materializations(context.instance, asset, organizations, run_id)
               for asset in {c.asset for c in selected}}
    results = {check.name: check.evaluate_all(engine, organizations, thresholds, run_id) for check in selected}
    for organization in organizations:
        for check in selected:
            gate = results[check.name][organization]
            if check.stops_org and not gate.passed and gate.severity == "ERROR":
                _STOPPED.setdefault((run_id, organization), []).append(check.name)
            yield evaluation(check, organization, gate, targets[check.asset].get(organization))


class ResolvedThresholds:
    """A step's view of :class:`~enrichment_assets.resources.thresholds.CheckThresholds`: each
    threshold resolved once (the settings object is built fresh on every read), not once per
    organization."""

    def __init__(self, thresholds: Any):
        self._thresholds = thresholds
        self._values: dict[str, float] = {}

    def value(self, name: str) -> float:
        if name not in self._values:
            self._values[name] = self._thresholds.value(name)
        return self._values[name]


#: (run id, organization) -> names of the failed ERROR checks that stop it downstream in that run
_STOPPED: dict[tuple[str, str], list[str]] = {}


def stopped_organizations(run_id: str, organizations: Sequence[str]) -> dict[str, list[str]]:
    """Organizations of ``organizations`` that a failed ``stops_org`` check of an upstream
    stage stopped in run ``run_id`` (this process; one process per run,
    ``in_process_executor``), with the check names."""
    return {o: list(_STOPPED[(run_id, o)]) for o in organizations if (run_id, o) in _STOPPED}
