"""The EMR job runtime's Python on this machine: which interpreter local jobs run on.

EMR Serverless 7.x runs jobs on Python 3.9 (Amazon Linux 2023), with PySpark from the Spark
install (spark-submit puts `$SPARK_HOME/python/lib/pyspark.zip` and py4j on the Python path) and
the runtime's own boto3. Locally the same: a Python 3.9 interpreter, PySpark from the pip-installed
Spark's `python/lib` zips (never a pip-installed pyspark), our job package and dependency archive.

The stand-in for the EMR runtime is a venv under `<cache>/emr-runtime/py3.9/` made from a Python
3.9 found on the machine (pyenv, PATH, or $DEPLAT_EMR_PYTHON) with only RUNTIME_PACKAGES in it:
what EMR's runtime provides that the jobs use (boto3 and its botocore/urllib3). Built once
(~10 s), reused after.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

from deplat.core.proc import ProcessError, run

EMR_PYTHON = (3, 9)
# What the runtime has of its own that the jobs import; a pin older than the dependency
# archive's copy, so a test can tell whose boto3 a job got.
RUNTIME_PACKAGES = ("boto3==1.34.162",)


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], timeout=20, check=False)
    except ProcessError:  # missing, or did not answer in time
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.strip().split(".")
    return int(major), int(minor)


def runtime_dir(cache: Path) -> Path:
    return cache / "emr-runtime" / f"py{EMR_PYTHON[0]}.{EMR_PYTHON[1]}"


def base_pythons() -> list[str]:
    """Candidate Python 3.9 interpreters, best first: $DEPLAT_EMR_PYTHON, pyenv's, PATH's."""
    found = []
    if os.environ.get("DEPLAT_EMR_PYTHON"):
        found.append(os.environ["DEPLAT_EMR_PYTHON"])
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found += sorted(glob.glob(str(pyenv / "3.9.*" / "bin" / "python3.9")), reverse=True)
    on_path = shutil.which("python3.9")
    if on_path:
        found.append(on_path)
    return found


def find_emr_python(cache: Path) -> str | None:
    """The interpreter local jobs should use: the runtime venv if built, else a bare Python 3.9."""
    venv_python = runtime_dir(cache) / "bin" / "python"
    if venv_python.is_file() and _version(str(venv_python)) == EMR_PYTHON:
        return str(venv_python)
    return next((p for p in base_pythons() if _version(p) == EMR_PYTHON), None)


def ensure_runtime(cache: Path) -> str:
    """Build (once) the EMR runtime stand-in venv and return its python; RuntimeError without 3.9."""
    target = runtime_dir(cache)
    python = target / "bin" / "python"
    if (target / ".ready").is_file() and python.is_file():
        return str(python)
    base = next((p for p in base_pythons() if _version(p) == EMR_PYTHON), None)
    if base is None:
        raise RuntimeError("no Python 3.9 on this machine (EMR 7.x runs jobs on 3.9): "
                           "`pyenv install 3.9` or set DEPLAT_EMR_PYTHON")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="py39-", dir=target.parent))
    try:
        run([base, "-m", "venv", str(staging)], timeout=120, what="creating the EMR runtime venv")
        run([str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", *RUNTIME_PACKAGES], timeout=600,
            what="installing the EMR runtime's packages", hint="check network access to PyPI")
        (staging / ".ready").write_text("\n".join(RUNTIME_PACKAGES))
        # A venv records its own path: build it where it will live (rename of the staging folder
        # would break bin/ scripts, but `python` itself only needs pyvenv.cfg next to it).
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(python)
