"""Dagster's own cost per partition of a ranged run on the embedded event log: the floor of a
step's time per organization before the step does any work (issue 11, benchmark 3's
non-model steps).

    .venv/bin/python benchmarks/dagster_event_floor.py [--partitions 1000] [--checks 0,2]

One asset on a dynamic partitions definition, materialized for ``--partitions`` keys in one
ranged run, adding two metadata entries per partition (``add_asset_metadata``) and yielding
``--checks`` partitioned ``AssetCheckEvaluation`` per partition, as our assets do; on a fresh
home prepared like the CLI's (``prepare_dagster_home``: the pooled event log, event batching
from the settings). Prints, per check count, the run's wall and CPU seconds per partition and
the step's wall time per partition (step start to end from the event log), as JSON lines.
Set ``DAGSTER_EVENT_BATCH_SIZE=0`` to see it without Dagster's event batching.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, time
import dagster as dg
from enrichment_assets.settings import prepare_dagster_home

n, checks = int(sys.argv[1]), int(sys.argv[2])
parts = dg.DynamicPartitionsDefinition(name="orgs")
specs = [dg.AssetCheckSpec(f"c{i}", asset="thing", partitions_def=parts, blocking=False) for i in range(checks)]


@dg.asset(partitions_def=parts, check_specs=specs, backfill_policy=dg.BackfillPolicy.multi_run(n))
def thing(context: dg.AssetExecutionContext):
    for key in context.partition_keys:
        context.add_asset_metadata({"rows": 3, "detail": dg.MetadataValue.json({"a": 1})}, partition_key=key)
    yield dg.MaterializeResult()
    for i in range(checks):
        yield dg.Output(None, output_name=f"thing_c{i}")
    for key in context.partition_keys:
        for i in range(checks):
            yield dg.AssetCheckEvaluation(asset_key=dg.AssetKey("thing"), check_name=f"c{i}", passed=True,
                                          partition=key)


with dg.DagsterInstance.from_config(str(prepare_dagster_home())) as instance:
    keys = [f"org-{i:05d}" for i in range(n)]
    instance.add_dynamic_partitions("orgs", keys)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = dg.materialize([thing], instance=instance, tags={
        "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]})
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    stats = [s for s in instance.get_run_step_stats(result.run_id) if s.step_key == "thing"]
    step = stats[0].end_time - stats[0].start_time
    print(json.dumps({"partitions": n, "checks": checks, "batch_size": os.environ.get("DAGSTER_EVENT_BATCH_SIZE"),
                      "run_wall_ms_per_partition": round(wall / n * 1000, 2),
                      "run_cpu_ms_per_partition": round(cpu / n * 1000, 2),
                      "step_ms_per_partition": round(step / n * 1000, 2),
                      "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--checks", default="0,2", help="comma-separated check counts per partition")
    args = parser.parse_args()
    for checks in [int(c) for c in args.checks.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ENRICHMENT_") and k != "DAGSTER_HOME"}
            env["ENRICHMENT_HOME"] = home
            out = subprocess.run([sys.executable, "-c", CHILD, str(args.partitions), str(checks)], env=env,
                                 capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
            if out.returncode:
                raise SystemExit(out.stderr[-3000:])
            print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
