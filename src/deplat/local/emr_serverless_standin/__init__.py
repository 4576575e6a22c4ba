"""The EMR Serverless stand-in: moto's EMR Serverless API, running real Spark behind it.

Why inside moto rather than a server of its own: moto is the one local AWS. Terraform creates the
application there, boto3 and the provider reach it at the one endpoint, and S3 (code, logs) is the
same server; a second endpoint for `emr-serverless` would split the application from its API.

It runs in the moto server's process (`python -m deplat.local.moto_launcher <port> --emr-standin
<dir>`): `backend.install()` replaces moto's EMR Serverless backend with the stand-in's, whose
scheduler thread runs each job run through the local engine's supervisor and warm driver
(`deplat.engines.local_spark`, `deplat.engines.warm_driver`) as its workers and pre-initialized
capacity. `runner.py` maps a StartJobRun request onto a local run; `backend.py` holds the states.
`standin.json` in its folder names the process serving it (pid, endpoint).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlparse

MARKER = "standin.json"


def serving(root: Path, endpoint_url: str) -> bool:
    """True when a live process under `root` serves the stand-in at endpoint_url's port (moto
    started without it would finish every job run at once without running it)."""
    try:
        record = json.loads((Path(root) / MARKER).read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return urlparse(record.get("endpoint_url", "")).port == urlparse(endpoint_url).port
