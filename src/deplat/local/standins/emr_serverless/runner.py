"""How the EMR Serverless stand-in turns a StartJobRun request into a local Spark run.

The request is taken at its word: the `entryPoint` and every `s3://` URI in `sparkSubmitParameters`
(`--py-files`, `spark.jars`, `spark.archives` with its `#alias`) are fetched from the local S3; the
emr-7.x release image is mapped onto this machine's runtime stand-in (Python 3.9 from
`deplat.local.emr_runtime`, Spark 3.5 from pyspark, the Delta jars of `/usr/share/aws/delta/lib/`
from the local jar cache); `spark.emr-serverless.driverEnv.*` becomes the driver's environment,
relative paths resolved against the run's working directory as in an EMR container.

The run itself is supervisor.py's: a detached supervisor (`python -m
deplat.local.standins.emr_serverless.supervisor <run-dir>`) that runs spark-submit or hands the run
to a warm driver, records the final state and uploads the driver logs. This module only prepares
its folder.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from deplat.engines.base import JobSpec, RunRef
from deplat.local.standins.emr_serverless import supervisor as ls

EMR_IMAGE_DELTA_DIR = "/usr/share/aws/delta/lib/"
DRIVER_ENV = "spark.emr-serverless.driverEnv."
CLIENT_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# EMR Serverless's Spark defaults (user guide, "Spark job properties"): a 4 vCPU, 16 GB worker
# with 20 GB of disk for the driver; storage up to 20 GB per worker is not billed.
DEFAULT_DRIVER = {"cpu": 4.0, "memory": 16.0, "disk": 20.0}
FREE_DISK_GB = 20.0
MIN_BILLED_SECONDS = 60.0


@dataclass(frozen=True)
class Worker:
    """What one worker holds: vCPUs, memory GB, disk GB."""

    cpu: float
    memory: float
    disk: float


@dataclass(frozen=True)
class SubmitParameters:
    """sparkSubmitParameters split into what the stand-in acts on and what it passes to Spark."""

    py_files: tuple[str, ...] = ()
    jars: tuple[str, ...] = ()
    archives: tuple[tuple[str, str], ...] = ()  # (uri, alias)
    driver_env: tuple[tuple[str, str], ...] = ()
    conf: tuple[tuple[str, str], ...] = ()  # passed to spark-submit as --conf

    @property
    def conf_dict(self) -> dict[str, str]:
        return dict(self.conf)


def parse_submit_parameters(text: str | None) -> SubmitParameters:
    """Split sparkSubmitParameters (`--py-files a,b --conf k=v ...`, shell-quoted) into the parts
    the stand-in resolves itself. ValueError for an option it cannot honour locally."""
    tokens = shlex.split(text or "")
    py_files: list[str] = []
    jars: list[str] = []
    archives: list[tuple[str, str]] = []
    driver_env: list[tuple[str, str]] = []
    conf: list[tuple[str, str]] = []
    options = {"--driver-memory": "spark.driver.memory", "--driver-cores": "spark.driver.cores",
               "--executor-memory": "spark.executor.memory", "--executor-cores": "spark.executor.cores",
               "--num-executors": "spark.executor.instances", "--name": "spark.app.name"}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        value = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in ("--py-files", "--jars", "--archives", "--conf", *options) and not value:
            raise ValueError(f"sparkSubmitParameters: {token} needs a value")
        if token == "--py-files":
            py_files += _split(value)
        elif token == "--jars":
            jars += _split(value)
        elif token == "--archives":
            archives += [_alias(a) for a in _split(value)]
        elif token == "--conf":
            key, _, val = value.partition("=")
            if key == "spark.jars":
                jars += _split(val)
            elif key == "spark.submit.pyFiles":
                py_files += _split(val)
            elif key == "spark.archives":
                archives += [_alias(a) for a in _split(val)]
            elif key.startswith(DRIVER_ENV):
                driver_env.append((key[len(DRIVER_ENV):], val))
            else:
                conf.append((key, val))
        elif token in options:
            conf.append((options[token], value))
        else:
            raise ValueError(f"sparkSubmitParameters: option {token!r} is not supported by the stand-in")
        i += 2
    return SubmitParameters(tuple(py_files), tuple(jars), tuple(archives), tuple(driver_env), tuple(conf))


def _split(value: str) -> list[str]:
    return [part for part in value.split(",") if part]


def _alias(uri: str) -> tuple[str, str]:
    path, _, alias = uri.partition("#")
    return path, alias or Path(urlparse(path).path).name


def size(text: str | None, unit: str) -> float:
    """'4 vCPU' -> 4.0, '16 GB' -> 16.0, '2048 MB' -> 2.0 (GB), '14g' -> 14.0; None -> nan."""
    if not text:
        return math.nan
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    if not match:
        raise ValueError(f"cannot read {text!r} as a {unit} size")
    number, suffix = float(match.group(1)), match.group(2).lower()
    if unit == "GB" and suffix in ("m", "mb"):
        return number / 1024
    return number


def driver_worker(conf: dict[str, str]) -> Worker:
    """The driver's worker as EMR Serverless sizes it: spark.driver.cores, spark.driver.memory plus
    its overhead (max(384 MB, 10 %)) rounded up to a GB, spark.emr-serverless.driver.disk."""
    cpu = float(conf.get("spark.driver.cores") or DEFAULT_DRIVER["cpu"])
    memory = DEFAULT_DRIVER["memory"]
    if conf.get("spark.driver.memory"):
        heap = size(conf["spark.driver.memory"], "GB")
        memory = float(math.ceil(heap + max(0.375, 0.1 * heap)))
    disk = size(conf.get("spark.emr-serverless.driver.disk"), "GB")
    return Worker(cpu, memory, DEFAULT_DRIVER["disk"] if math.isnan(disk) else disk)


def utilization(workers: list[Worker], seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    """(resourceUtilization, billedResourceUtilization) of workers held for `seconds`: billing counts
    at least a minute per worker and only the disk above the free 20 GB (EMR Serverless user guide,
    "Other considerations")."""
    used = {"vCPUHour": 0.0, "memoryGBHour": 0.0, "storageGBHour": 0.0}
    billed = dict(used)
    for worker in workers:
        hours, billed_hours = seconds / 3600, max(seconds, MIN_BILLED_SECONDS) / 3600
        used["vCPUHour"] += worker.cpu * hours
        used["memoryGBHour"] += worker.memory * hours
        used["storageGBHour"] += worker.disk * hours
        billed["vCPUHour"] += worker.cpu * billed_hours
        billed["memoryGBHour"] += worker.memory * billed_hours
        billed["storageGBHour"] += max(0.0, worker.disk - FREE_DISK_GB) * billed_hours
    return ({k: round(v, 6) for k, v in used.items()}, {k: round(v, 6) for k, v in billed.items()})


@dataclass
class Runtime:
    """Where and how the stand-in runs jobs: its state folder, the local S3 it fetches from, the
    Spark master, the credentials handed to jobs (the execution role's stand-in)."""

    root: Path
    endpoint_url: str
    region: str = "us-east-1"
    master: str = "local[2]"

    def job_env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region}

    def client(self, service: str) -> Any:
        """A boto3 client of this moto server (the stand-in's own S3 and CloudWatch Logs)."""
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}))

    def s3(self) -> Any:
        return self.client("s3")

    def runs_dir(self, application_id: str) -> Path:
        return self.root / "applications" / application_id / "runs"

    def folders(self, application_id: str, warm_idle_seconds: float) -> ls.RunFolders:
        """This application's run folders, configured as its capacity: fetch, archive cache and
        warm-driver (pre-initialized capacity) set-up."""
        from deplat.core.config import cache_dir
        from deplat.local.emr_runtime import find_emr_python
        from deplat.local.jars import ensure_jars

        return ls.RunFolders(self.s3(), self.runs_dir(application_id), env_vars=self.job_env(),
                             master=self.master, jars=ensure_jars, job_python=find_emr_python(cache_dir()),
                             warm_idle_seconds=warm_idle_seconds)


def prepare_run(runtime: Runtime, application_id: str, run_id: str, job_driver: dict[str, Any] | None,
                log_uri: str, name: str, warm_idle_seconds: float, warm_drivers: int = 1,
                streaming: bool = False) -> Path:
    """Fetch what the run names into its folder and write the supervisor's meta.json (command,
    environment, warm-driver hand-over to the first idle of `warm_drivers` slots); the run folder.
    A STREAMING run (`streaming`) gets its own spark-submit: it may run for hours and is killed and
    restarted as a unit, so it never holds a pre-initialized driver batch runs wait for. A socket
    folder others could reach (UnsafeRuntimeDirError) turns the warm driver off for the run, which
    then runs cold (`warm_refused` in meta.json says why). ValueError for what cannot run."""
    submit = (job_driver or {}).get("sparkSubmit")
    if not submit:
        raise ValueError("the stand-in runs sparkSubmit job drivers only")
    params = parse_submit_parameters(submit.get("sparkSubmitParameters"))
    folders = runtime.folders(application_id, warm_idle_seconds)
    run_dir = folders.runs_dir / run_id
    code = run_dir / "code"
    code.mkdir(parents=True)
    jars = folders._jars() if folders._jars else []
    entry = _fetch(folders, submit["entryPoint"], code)
    py_files = [_local(folders, uri, code, jars) for uri in params.py_files]
    extra_jars = [_local(folders, uri, code, jars) for uri in params.jars
                  if not uri.startswith(EMR_IMAGE_DELTA_DIR)]
    deps = []
    for uri, alias in params.archives:
        try:
            unpacked = folders._unpacked(uri)
        except Exception as exc:
            raise ValueError(f"cannot fetch {uri}: {exc}") from exc
        (run_dir / alias).symlink_to(unpacked, target_is_directory=True)
        deps.append(str(unpacked))
    (code / ls.BOOTSTRAP).write_text(ls._BOOTSTRAP_CODE)
    python = folders.job_python if deps else sys.executable
    driver_env = {k: _absolute_paths(v, run_dir) for k, v in params.driver_env}
    conf = {k: (_absolute_paths(v, run_dir) if k.startswith("spark.executorEnv.") else v)
            for k, v in params.conf}
    py_files = [p for p in py_files if p]
    command = ls.spark_submit_command(name, runtime.master, python, code / ls.BOOTSTRAP,
                                      [str(entry), *submit.get("entryPointArguments", [])],
                                      jars=[*jars, *extra_jars], py_files=py_files, deps=deps)
    for key, value in conf.items():
        command[1:1] = ["--conf", f"{key}={value}"]
    env = {**runtime.job_env(), **ls.job_python_env(python, deps), **driver_env,
           "DEPLAT_SPARK_MASTER": runtime.master, "DEPLAT_SPARK_WAREHOUSE": str(run_dir / "warehouse"),
           "DEPLAT_DRIVER_STDERR": str(run_dir / "stderr"), "PYTHONUNBUFFERED": "1",
           "SPARK_LOCAL_DIRS": str(run_dir / ls.SCRATCH_DIR)}
    ref = RunRef(run_id, application_id, "emr-serverless-standin", log_uri=log_uri)
    meta: dict[str, Any] = {"ref": ref.to_dict(), "command": command, "env": env, "created_at": ls._now()}
    if warm_idle_seconds > 0 and not streaming:
        spec = JobSpec("", "", submit["entryPoint"], tuple(submit.get("entryPointArguments", [])))
        try:
            warm = folders._warm_spec(spec, python, jars, py_files, deps, entry, run_dir, slots=warm_drivers)
            warm["request"]["env"].update(driver_env)
            meta["warm"] = warm
        except ls.UnsafeRuntimeDirError as exc:  # cold, rather than through a socket others reach
            meta["warm_refused"] = str(exc)
    ls._write_json(run_dir / ls.META_FILE, meta)
    ls._write_json(run_dir / ls.STATE_FILE, {"state": "SUBMITTED", "details": "", "updated_at": ls._now()})
    return run_dir


def _local(folders: ls.RunFolders, uri: str, folder: Path, jars: list[str]) -> str:
    """A file the run names, on this machine: fetched from S3, or the image's Delta jar."""
    if uri.startswith(EMR_IMAGE_DELTA_DIR):
        return next(iter(ls._delta_python_jar(jars)), "") if "delta-spark" in uri else ""
    if urlparse(uri).scheme != "s3":
        raise ValueError(f"{uri}: the stand-in fetches s3:// URIs and the EMR image's Delta jars only")
    return str(_fetch(folders, uri, folder))


def _fetch(folders: ls.RunFolders, uri: str, folder: Path) -> Path:
    try:
        return folders._fetch(uri, folder)
    except Exception as exc:  # S3's own error names no object: say which one
        raise ValueError(f"cannot fetch {uri}: {exc}") from exc


def _absolute_paths(value: str, run_dir: Path) -> str:
    """./deps:./lib -> <run-dir>/deps:<run-dir>/lib (an EMR container's working directory)."""
    return os.pathsep.join(str(run_dir / p) if p.startswith("./") else p for p in value.split(os.pathsep))


def start_supervisor(run_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start the detached supervisor (supervisor.py) for a prepared run folder (its own session:
    a cancel signals its whole process group)."""
    with (run_dir / "supervisor.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deplat.local.standins.emr_serverless.supervisor", str(run_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **env}, cwd=run_dir,
        )
    (run_dir / "supervisor.pid").write_text(str(proc.pid))
    return proc
