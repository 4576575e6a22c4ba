"""`deplat doctor`'s local checks: tools, caches, local services, secrets' ports, lake files; and
`run_checks`, which adds the cloud checks (doctor/cloud.py) for a cloud environment."""

from __future__ import annotations

import re
import shutil
import sys
from typing import TYPE_CHECKING

from deplat.core.proc import ProcessError, run
from deplat.doctor.check import Check
from deplat_job.errors import DeplatError, SafetyError

if TYPE_CHECKING:
    from deplat.core.context import Context

JAVA_VERSION_TIMEOUT_S = 20  # a JVM start on a loaded 2-core machine takes ~1 s; 20 s means stuck


def cli_python_floor() -> tuple[int, int]:
    """The CLI's minimum Python, from the installed package's Requires-Python (pyproject)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        spec = (metadata("deplat").get_all("Requires-Python") or [""])[0]
    except PackageNotFoundError:
        spec = ""
    match = re.search(r">=\s*(\d+)\.(\d+)", spec)
    return (int(match.group(1)), int(match.group(2))) if match else (3, 10)


def _python() -> Check:
    floor = cli_python_floor()
    ok = sys.version_info[:2] >= floor
    return Check("python", ok, f"{sys.version.split()[0]} (the CLI needs >= {floor[0]}.{floor[1]})",
                 f"install Python >= {floor[0]}.{floor[1]} for the CLI (jobs run on the EMR runtime's 3.9)")


def _emr_python() -> Check:
    from deplat.core.config import cache_dir
    from deplat.local.emr_runtime import EMR_PYTHON, find_emr_python

    want = f"{EMR_PYTHON[0]}.{EMR_PYTHON[1]}"
    found = find_emr_python(cache_dir())
    if found:
        return Check("job python", True, f"local jobs run on Python {want} like EMR 7.x: {found}")
    return Check("job python", False, f"no Python {want}: local jobs run on {sys.executable}, unlike EMR 7.x",
                 f"install Python {want} (`pyenv install {want}`) or set DEPLAT_EMR_PYTHON", required=False)


def _java() -> Check:
    java = shutil.which("java")
    if not java:
        return Check("java", False, "not found", "install a JDK 17 (apt-get install openjdk-17-jre-headless)")
    try:
        out = run([java, "-version"], timeout=JAVA_VERSION_TIMEOUT_S, check=False).stderr
    except ProcessError as exc:
        return Check("java", False, exc.message, "check the JDK install (JAVA_HOME)")
    match = re.search(r'version "(\d+)', out)
    major = int(match.group(1)) if match else 0
    ok = major in (8, 11, 17)
    return Check("java", ok, f"{java} (major {major})", "Spark 3.5 needs Java 8, 11 or 17: set JAVA_HOME")


def _terraform() -> list[Check]:
    from deplat.core.terraform import find_mirror, terraform_bin

    tf = terraform_bin()
    checks = [Check("terraform", bool(tf), tf or "not found",
                    "install Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install)")]
    mirror = find_mirror()
    checks.append(Check("terraform provider mirror", mirror is not None, str(mirror or "not found"),
                        "set DEPLAT_TF_PLUGIN_DIR to a filesystem mirror holding hashicorp/aws",
                        required=False))
    return checks


def _jars() -> Check:
    from deplat.core.config import cache_dir
    from deplat.local.jars import cached_jars

    jars = cached_jars()
    return Check("spark jar cache", bool(jars), f"{len(jars or [])} jars in {cache_dir()}",
                 "run `deplat local up` (resolves Delta, Kafka connector, hadoop-aws once)")


def _kafka_broker() -> Check:
    from deplat.local.standins.kafka_broker import KAFKA_VERSION, cached_libs, libs_dir

    libs = cached_libs()
    return Check("kafka broker jars", bool(libs), f"Kafka {KAFKA_VERSION}: {len(libs or [])} jars in {libs_dir()}",
                 "run `deplat local up kafka` (resolves the broker with Maven once; needs `mvn`)")


def _local_services(ctx: Context) -> list[Check]:
    from deplat.local.stack import LocalStack

    stack = LocalStack(ctx.stack_dir, ctx.settings.local_stack)
    checks = []
    for s in stack.status():
        checks.append(Check(f"local service {s.name}", s.healthy, f"{s.state} on port {s.port}",
                            "run `deplat local up`"))
        if s.emr_serverless_standin is not None and s.healthy:
            from deplat.local.standins.emr_serverless import summary

            checks.append(Check("emr serverless stand-in", s.emr_serverless_standin["serving"],
                                summary(s.emr_serverless_standin).split(": ", 1)[1],
                                "restart moto with it: `deplat local down moto && deplat local up`, then "
                                "`deplat infra apply` and `deplat deploy` (moto keeps its state in memory)",
                                required=ctx.env.job_engine == "emr-serverless"))
    return checks


def _aws(ctx: Context) -> Check:
    try:
        ident = ctx.aws.client("sts").get_caller_identity()
    except SafetyError:
        raise  # a local env that could reach real AWS is refused, not merely reported
    except DeplatError as exc:
        return Check("aws credentials", False, exc.message, exc.hint or "")
    except Exception as exc:  # noqa: BLE001 - report any client failure as a failed check
        hint = "run `deplat local up`" if ctx.env.is_local else "log in: `aws sso login --profile <p>`"
        return Check("aws credentials", False, f"{type(exc).__name__}: {exc}", hint)
    where = ctx.env.endpoint_url or f"AWS {ctx.env.region}"
    # The same client factory and endpoint every command uses, so this checks what they will call.
    return Check("aws credentials", True, f"account {ident['Account']} via {where}")


def _postgres_reachable(ctx: Context) -> Check:
    """As root, PostgreSQL runs as `postgres`, which must traverse every folder above the state
    folder; deplat never changes permissions there, so doctor names what to change."""
    import os

    from deplat.local.services import postgres_blocked_dirs

    if os.geteuid() != 0:
        return Check("postgres data folder", True, "runs as the current user", required=False)
    blocked = postgres_blocked_dirs(ctx.stack_dir)
    dirs = " ".join(str(p) for p in blocked)
    return Check("postgres data folder", not blocked,
                 f"the postgres user cannot traverse {dirs}" if blocked else f"reachable: {ctx.stack_dir}",
                 f"`chmod o+x {dirs}`, or set DEPLAT_HOME to a folder postgres can reach")


def _local_secret_ports(ctx: Context) -> list[Check]:
    """The local sources' secrets (what the jobs connect to) point at the ports the stack serves."""
    from urllib.parse import urlparse

    from deplat_job.sources.secret_store import read_secret, secret_name

    ports = ctx.settings.local_stack
    expected = {"salesforce": ("salesforce_port", ports.salesforce_port),
                "snowflake": ("snowflake_port", ports.snowflake_port),
                "rds": ("postgres_port", ports.postgres_port)}
    checks = []
    for source, (key, port) in expected.items():
        name = secret_name(ctx.env.name, source)
        try:
            value = read_secret(name, ctx.aws.client("secretsmanager"))
        except (LookupError, ValueError, DeplatError):
            checks.append(Check(f"{source} secret port", False, f"{name} has no usable value",
                                "run `deplat local seed`", required=False))
            continue
        used = urlparse(value.get("login_url", "")).port if source == "salesforce" else value.get("port")
        checks.append(Check(f"{source} secret port", used == port,
                            f"{name} -> port {used} (local_stack.{key} = {port})",
                            "run `deplat local seed` to republish the connection", required=False))
    return checks


def _lake_files(ctx: Context) -> Check:
    """Every data file the lake tables' current versions reference is in storage (recovery.lost_data_files)."""
    from deplat.recovery import LOST_FILE_FIX, lake_tables, lost_data_files

    tables = lake_tables(ctx)
    lost = lost_data_files(ctx, tables)
    if not lost:
        return Check("lake data files", True, f"{len(tables)} table(s): every referenced data file is in storage")
    return Check("lake data files", False, "; ".join(x.describe() for x in lost), LOST_FILE_FIX)


def run_checks(ctx: Context) -> list[Check]:
    checks = [_python(), _java(), *_terraform()]
    if ctx.env.is_local:
        checks += [_emr_python(), _jars(), _kafka_broker(), *_local_services(ctx)]
    checks.append(_aws(ctx))
    if ctx.env.is_local:
        checks.append(_postgres_reachable(ctx))
        if checks[-2].ok:
            checks += _local_secret_ports(ctx)
    aws_ok = next(c.ok for c in checks if c.name == "aws credentials")
    if not ctx.env.is_local and aws_ok:
        from deplat.doctor.cloud import cloud_checks

        checks += cloud_checks(ctx)
    if ctx.env.is_local or aws_ok:
        checks.append(_lake_files(ctx))
    return checks
