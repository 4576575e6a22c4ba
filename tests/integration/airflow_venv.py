"""A real Airflow for the tests: a separate virtualenv (Airflow's dependencies conflict with deplat's),
built once from PyPI and cached under the deplat cache (~/.cache/deplat, DEPLAT_CACHE). Pinned to what
terraform/mwaa.tf deploys: Airflow 2.10.3 on Python 3.11. Measured here: ~2-3 min and 367 MB to build
on a fresh machine, ~0 s once cached."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from deplat.airflow_dag import MWAA_AIRFLOW, PROVIDERS

# What the MWAA environment gets (airflow_dag.requirements): the same Airflow and providers.
PINS = (f"apache-airflow=={MWAA_AIRFLOW}", *(f"{name}=={version}" for name, version in PROVIDERS.items()))
PYTHON = "python3.11"


def ensure_airflow_venv() -> Path:
    """The venv's python, building the venv when it is missing or was built with other pins."""
    from deplat.core.config import cache_dir

    venv = cache_dir() / "airflow-2.10.3-py3.11"
    marker = venv / "deplat-pins.txt"
    python = venv / "bin" / "python"
    if marker.is_file() and marker.read_text() == "\n".join(PINS) and python.is_file():
        return python
    base = shutil.which(PYTHON)
    if base is None:
        raise RuntimeError(f"{PYTHON} is not on PATH: the Airflow test needs it (MWAA 2.10.3 runs Python 3.11)")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS], check=True)
    marker.write_text("\n".join(PINS))
    return python
