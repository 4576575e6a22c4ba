"""Named pipelines: each an ordered list of job steps (jobs/<step>.py) with their static arguments.

`deplat run <pipeline>` submits the steps in order; `all` runs the batch pipelines end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    name: str  # jobs/<name>.py
    args: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    description: str = ""


PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        Pipeline("fx", (Step("fx_to_bronze"), Step("fx_bronze_to_silver")),
                 "ECB euro reference rates -> silver.fx_rates"),
        Pipeline("snowflake", (Step("snowflake_to_bronze"), Step("snowflake_bronze_to_silver_merge")),
                 "TPC-H backfill from Snowflake, MERGE into silver"),
        Pipeline("salesforce", (Step("salesforce_to_bronze"), Step("salesforce_bronze_to_silver")),
                 "Salesforce accounts/opportunities, incremental on SystemModstamp"),
        Pipeline("dms", (Step("dms_rds_to_bronze"), Step("dms_bronze_to_silver")),
                 "RDS changes via DMS (full load + CDC) -> current rows in silver"),
        Pipeline("kafka", (Step("kafka_orders_stream"),), "Kafka order events (streaming, DLQ)"),
        Pipeline("gold", (Step("orders_silver"), Step("gold_aggregates")),
                 "silver.orders and the gold aggregates"),
        Pipeline("maintenance", (Step("delta_maintenance"),), "OPTIMIZE / VACUUM the Delta tables"),
        Pipeline("restore", (Step("delta_restore"),),
                 "Delta RESTORE of one table (`deplat dr restore` passes --table and --version)"),
    )
}

# `all` = the batch pipelines in dependency order (gold reads what the others wrote).
ALL = ("fx", "snowflake", "salesforce", "dms", "gold")


def resolve(name: str) -> list[tuple[str, Step]]:
    """(pipeline, step) pairs for a pipeline name or `all`; KeyError for an unknown name."""
    names = ALL if name == "all" else (name,)
    return [(n, step) for n in names for step in PIPELINES[n].steps]
