"""What EMR Serverless would run, run the way it would run it, on the EMR runtime's Python (3.9).

The shipped artifacts are built for real (the wheel, the job package cut from it, and the dependency
archive for cp39 manylinux: no --no-deps-archive), then:
- every job module is imported by Python 3.9 with only the shipped artifacts on the path;
- one real job (fx_to_bronze, one ECB day) runs end to end with spark-submit on Python 3.9;
- a Python UDF imports `deplat_job` on the executors' Python workers.

The EMR runtime stand-in (say so: it is not the EMR image): a Python 3.9 venv holding only boto3
(deplat.local.emr_runtime.RUNTIME_PACKAGES), PySpark from the Spark install's python/lib zips as
spark-submit provides it on EMR, Delta's Python package from the Delta jar on --py-files. Built
once into ~/.cache/deplat (emr-runtime/, deps/, wheels/); later runs reuse it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from deplat import artifacts
from deplat.core.config import cache_dir
from deplat.local.emr_runtime import ensure_runtime, runtime_dir
from deplat.local.jars import ensure_jars
from deplat.local.standins.emr_serverless.supervisor import _delta_python_jar, job_python_env, spark_submit_command

ROOT = Path(__file__).resolve().parents[4]
VENV = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv")

pytestmark = [pytest.mark.spark]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """(python 3.9, job package zip, unpacked deps root, jars): the real artifacts, as EMR gets them."""
    cache = cache_dir()
    built = {a.name.split("/")[0]: a for a in artifacts.collect(ROOT, cache)}
    deps = tmp_path_factory.mktemp("deps")
    with tarfile.open(built["deps"].path) as tar:
        tar.extractall(deps, filter="data")
    try:
        python = ensure_runtime(cache)
    except RuntimeError as exc:  # the CI image has pyenv's 3.9; say what is missing elsewhere
        pytest.fail(str(exc))
    return python, built["pyfiles"].path, deps, ensure_jars()


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would put the venv's packages in reach."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(VENV)))
    return {**env, **extra}


def _spark_python_path() -> list[str]:
    from pyspark.find_spark_home import _find_spark_home

    lib = Path(_find_spark_home()) / "python" / "lib"
    return sorted(str(p) for p in lib.glob("*.zip"))  # pyspark.zip, py4j-*-src.zip


IMPORT_EVERY_JOB = r"""
import glob, importlib, importlib.util, json, os, sys, zipfile
jobs = sorted(glob.glob(os.path.join(sys.argv[1], "*.py")))
for path in jobs:
    spec = importlib.util.spec_from_file_location("job_" + os.path.basename(path)[:-3], path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
modules = sorted(n[:-3].replace("/", ".").replace(".__init__", "") for n in zipfile.ZipFile(sys.argv[2]).namelist()
                 if n.endswith(".py"))
for name in modules:  # every module the job package holds, not only what the jobs happen to import
    importlib.import_module(name)
origins = {}
for name in ("deplat_job", "pyspark", "delta", "boto3", "botocore", "urllib3", "snowflake.connector",
             "simple_salesforce", "confluent_kafka", "psycopg", "currency_converter", "requests"):
    origins[name] = importlib.import_module(name).__file__
print(json.dumps({"version": list(sys.version_info[:2]), "jobs": [os.path.basename(j) for j in jobs],
                  "modules": modules,
                  "origins": origins, "cli_side": sorted(m for m in ("typer", "pydantic", "rich")
                                                         if m in sys.modules),
                  "deplat_importable": importlib.util.find_spec("deplat") is not None,
                  "path": sys.path}))
"""


def test_every_job_imports_on_python39_with_only_the_shipped_artifacts(shipped):
    python, package, deps, jars = shipped
    # spark-submit's order on EMR: --py-files, then Spark's python/lib, then the env's PYTHONPATH.
    path = [str(package), *_delta_python_jar(jars), *_spark_python_path(), str(deps)]
    proc = subprocess.run([python, "-s", "-c", IMPORT_EVERY_JOB, str(ROOT / "jobs"), str(package)], capture_output=True,
                          text=True, timeout=300, cwd=deps, env=_clean_env(PYTHONPATH=os.pathsep.join(path)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["version"] == [3, 9]
    assert len(report["jobs"]) == len(list((ROOT / "jobs").glob("*.py"))) >= 10
    assert report["cli_side"] == []  # the job side never imports typer, pydantic or rich
    # every module of the zip imported on 3.9: the zip is exactly the package deplat_job, module for module
    src = ROOT / "src"
    in_source = sorted(".".join(f.relative_to(src).with_suffix("").parts).replace(".__init__", "")
                       for f in (src / "deplat_job").rglob("*.py"))
    assert report["modules"] == in_source and len(in_source) > 20
    assert report["deplat_importable"] is False  # the CLI package is not shipped, so no job can lean on it
    # Of the venv only Spark's own python/lib zips (the Spark install) are on the path, no packages.
    assert [p for p in report["path"] if p.startswith(str(VENV))] == _spark_python_path()
    origins = report["origins"]
    assert origins["deplat_job"].startswith(str(package))  # from the job package zip
    assert origins["pyspark"].startswith(_spark_python_path()[-1])  # Spark's own pyspark.zip
    assert origins["delta"].endswith(".jar/delta/__init__.py")
    runtime = str(runtime_dir(cache_dir()))
    for name in ("boto3", "botocore", "urllib3"):  # the runtime's own, not the archive's copies
        assert origins[name].startswith(runtime), (name, origins[name])
    for name in ("snowflake.connector", "simple_salesforce", "confluent_kafka", "psycopg", "currency_converter"):
        assert origins[name].startswith(str(deps / artifacts.DEPS_SITE)), (name, origins[name])


UDF_PROBE = r"""
import json
from pyspark.sql import functions as F
from deplat_job.pipelines.session import get_spark


def where(_):
    import sys
    import boto3
    import deplat_job.shared
    return json.dumps([list(sys.version_info[:2]), sys.executable, deplat_job.shared.__file__, boto3.__file__])


spark = get_spark("udf_probe")
rows = spark.range(8).repartition(2).select(F.udf(where)("id").alias("w")).distinct().collect()
print("UDF_PROBE " + json.dumps(sorted(r.w for r in rows)), flush=True)
spark.stop()
"""


def _submit(shipped, tmp_path, name, script, args):
    python, package, deps, jars = shipped
    cmd = spark_submit_command(name, "local[2]", python, script, args, jars=jars,
                               py_files=[str(package), *_delta_python_jar(jars)], deps=[str(deps)])
    env = _clean_env(**job_python_env(python, [str(deps)]), DEPLAT_SPARK_MASTER="local[2]",
                     DEPLAT_SPARK_WAREHOUSE=str(tmp_path / "warehouse"), SPARK_LOCAL_DIRS=str(tmp_path / "scratch"))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)


def test_a_real_job_runs_end_to_end_on_python39(shipped, tmp_path):
    from deltalake import DeltaTable

    python, package, _, _ = shipped
    lake = tmp_path / "lake"
    proc = _submit(shipped, tmp_path, "fx_to_bronze", ROOT / "jobs" / "fx_to_bronze.py",
                   ["--lake", str(lake), "--batch-id", "emr39", "--env", "local", "--partition-date", "2024-01-02"])
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    banner = next(line for line in proc.stdout.splitlines() if line.startswith("deplat job runtime:"))
    assert "Python 3.9." in banner and f"({python})" in banner
    assert f"deplat_job {package}" in banner  # the code came from the shipped job package
    bronze = DeltaTable(str(lake / "bronze" / "fx_rates")).to_pyarrow_table()
    assert bronze.num_rows > 20 and set(bronze.column("_batch_id").to_pylist()) == {"emr39"}


def test_a_python_udf_imports_deplat_on_the_executors(shipped, tmp_path):
    python, package, _, _ = shipped
    script = tmp_path / "udf_probe.py"
    script.write_text(UDF_PROBE)
    proc = _submit(shipped, tmp_path, "udf_probe", script, [])
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    line = next(line for line in proc.stdout.splitlines() if line.startswith("UDF_PROBE "))
    seen = [json.loads(w) for w in json.loads(line[len("UDF_PROBE "):])]
    assert seen, "the UDF ran on no worker"
    runtime = str(runtime_dir(cache_dir()))
    for version, executable, shared_file, boto3_file in seen:
        assert version == [3, 9] and executable == python  # the workers run the EMR Python too
        assert f"{package.name}/deplat_job/shared.py" in shared_file  # deplat_job from the zip Spark shipped
        assert boto3_file.startswith(runtime)  # the archive does not shadow the runtime's boto3
