"""The EMR Serverless stand-in: moto's EMR Serverless API, running real Spark behind it.

Why inside moto rather than a server of its own: moto is the one local AWS. Terraform creates the
application there, boto3 and the provider reach it at the one endpoint, and S3 (code, logs) is the
same server; a second endpoint for `emr-serverless` would split the application from its API.

It runs in the moto server's process (`python -m deplat.local.standins.moto_launcher <port> --emr-standin
<dir>`, which `deplat local up` always starts; every local env's jobs run on it):
`backend.install()` replaces moto's EMR Serverless backend with the stand-in's, whose scheduler
thread runs each job run through the supervisor (`supervisor.py`: run folders, spark-submit) and
the warm drivers (`warm_driver.py`) as its workers and pre-initialized capacity. `runner.py` maps a
StartJobRun request onto a local run; `backend.py` holds the states. `standin.json` in its folder,
and `emr-standin-<port>.json` in the user's private runtime folder (found from the endpoint alone,
whatever DEPLAT_HOME the caller has), name the process serving it (pid, endpoint, folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

MARKER = "standin.json"


def record_path(endpoint_url: str) -> Path:
    """`<private runtime dir>/emr-standin-<port>.json`: where the stand-in serving that port says so."""
    from deplat.local.standins.emr_serverless.supervisor import private_runtime_dir

    return private_runtime_dir() / f"emr-standin-{urlparse(endpoint_url).port}.json"


def record(endpoint_url: str) -> dict[str, Any] | None:
    """{pid, endpoint_url, root, minute_seconds} of the live stand-in serving endpoint_url's port;
    None when none does (moto started without it would finish every job run at once, unrun)."""
    try:
        found = json.loads(record_path(endpoint_url).read_text())
        os.kill(int(found["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if urlparse(found.get("endpoint_url", "")).port != urlparse(endpoint_url).port:
        return None
    return found


def serving(endpoint_url: str) -> bool:
    """True when a live stand-in serves EMR Serverless at endpoint_url's port."""
    return record(endpoint_url) is not None


def describe(endpoint_url: str) -> dict[str, Any]:
    """What `deplat local status` and `doctor` show: serving or not, its pid and folder, and per
    application its run folders (how many, which are live) and its warm drivers (the pre-initialized
    driver capacity: how many are up). Reads only files; never calls the API."""
    from deplat.local.standins.emr_serverless.supervisor import WARM_DIR, _alive, _read_pid, live_run_ids

    found = record(endpoint_url)
    if found is None:
        return {"serving": False, "endpoint_url": endpoint_url}
    root = Path(found.get("root") or "")
    apps = []
    for runs in sorted(root.glob("applications/*/runs")):
        warm = sum(_alive(_read_pid(p)) for p in runs.glob(f"{WARM_DIR}/*/driver.pid"))
        folders = [p for p in runs.iterdir() if p.is_dir() and p.name != WARM_DIR]
        apps.append({"application_id": runs.parent.name, "run_folders": len(folders),
                     "live_runs": live_run_ids(runs), "warm_drivers": warm, "runs_dir": str(runs)})
    return {"serving": True, "endpoint_url": endpoint_url, "pid": found.get("pid"), "root": str(root),
            "applications": apps, "run_folders": sum(a["run_folders"] for a in apps),
            "warm_drivers": sum(a["warm_drivers"] for a in apps)}


def summary(info: dict[str, Any]) -> str:
    """One line for `deplat local status` / `doctor` from `describe()`."""
    if not info.get("serving"):
        return (f"EMR Serverless stand-in: NOT serving at {info.get('endpoint_url')} (moto runs without it: "
                "every job run would end SUCCESS unrun)")
    apps = info.get("applications", [])
    live = sum(len(a["live_runs"]) for a in apps)
    return (f"EMR Serverless stand-in: serving (pid {info.get('pid')}); {len(apps)} application(s), "
            f"{info.get('run_folders', 0)} run folder(s), {live} live; {info.get('warm_drivers', 0)} warm "
            f"driver(s) up (pre-initialized capacity); runs under {info.get('root')}")
