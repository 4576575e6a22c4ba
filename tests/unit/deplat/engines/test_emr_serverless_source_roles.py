"""A step that reads a source's secret runs as that source's role (terraform: one runtime role per
source, each reading only its secret); every other step runs as the job role, which reads none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deplat.engines.base import JobSpec
from deplat.engines.emr_serverless import EmrServerlessEngine
from deplat.infra import SECRET_SOURCES
from deplat.registry import PIPELINES
from deplat_job.errors import ConfigError

ROOT = Path(__file__).resolve().parents[4]
JOB_ROLE = "arn:aws:iam::123456789012:role/deplat-dev-spark-job"
SOURCE_ROLES = {s: f"arn:aws:iam::123456789012:role/deplat-dev-spark-{s}" for s in SECRET_SOURCES}
# What a job script calls when it reads a source secret (deplat_job.sources.*).
READS_SECRET = re.compile(r"\b(read_connection|read_config|read_secret)\(")


def _spec(step: str, secret: str = "") -> JobSpec:
    return JobSpec("p", step, f"s3://art/jobs/{step}.py", (), ("s3://art/job.zip",), (), secret=secret)


def _role(engine: EmrServerlessEngine, spec: JobSpec) -> str:
    return engine._job_params(spec, "k" * 64, "t")["executionRoleArn"]


def test_every_step_whose_job_reads_a_secret_declares_which():
    steps = {st.name: st for p in PIPELINES.values() for st in p.steps}
    for name, st in steps.items():
        reads = bool(READS_SECRET.search((ROOT / "jobs" / f"{name}.py").read_text()))
        assert bool(st.secret) == reads, name
        assert st.secret in ("", *SECRET_SOURCES), name
    assert {n: s.secret for n, s in steps.items() if s.secret} == {
        "snowflake_to_bronze": "snowflake", "salesforce_to_bronze": "salesforce",
        "kafka_orders_stream": "kafka", "dms_key_snapshot": "rds"}


def test_a_source_step_runs_as_its_source_role_and_the_rest_as_the_job_role():
    engine = EmrServerlessEngine(None, "app", JOB_ROLE, "art", source_roles=SOURCE_ROLES)
    assert _role(engine, _spec("snowflake_to_bronze", "snowflake")) == SOURCE_ROLES["snowflake"]
    assert _role(engine, _spec("dms_key_snapshot", "rds")) == SOURCE_ROLES["rds"]
    assert _role(engine, _spec("gold_aggregates")) == JOB_ROLE


def test_a_source_without_a_role_is_refused():
    engine = EmrServerlessEngine(None, "app", JOB_ROLE, "art", source_roles={"kafka": SOURCE_ROLES["kafka"]})
    with pytest.raises(ConfigError, match="snowflake") as err:
        _role(engine, _spec("snowflake_to_bronze", "snowflake"))
    assert "infra apply" in str(err.value)


def test_infra_applied_before_source_roles_keeps_the_one_job_role():
    """Outputs without emr_source_role_arns come from the Terraform whose job role read every secret."""
    engine = EmrServerlessEngine(None, "app", JOB_ROLE, "art")
    assert _role(engine, _spec("snowflake_to_bronze", "snowflake")) == JOB_ROLE
