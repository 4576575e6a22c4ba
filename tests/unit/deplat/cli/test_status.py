"""`deplat status` names the application, or says there is none (never `application - ()`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deplat.cli.status import application_line

ROOT = Path(__file__).resolve().parents[4]
DEPLAT = str(Path(sys.executable).with_name("deplat"))


def test_application_line():
    assert application_line("prod", {"id": None, "state": "NOT_APPLIED"}) == "prod: no application (NOT_APPLIED)"
    assert application_line("dev", {"id": "00f1", "name": "deplat-dev", "state": "STARTED"}) == \
        "dev: application 00f1 (deplat-dev) STARTED"
    assert application_line("local", {"id": "00f1", "state": "STOPPED"}) == "local: application 00f1 STOPPED"


def test_prod_status_before_any_apply(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    env.update(DEPLAT_HOME=str(tmp_path), COLUMNS="200")
    proc = subprocess.run([DEPLAT, "-e", "prod", "status"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "prod: no application (NOT_APPLIED) — environment 'prod' has no infrastructure yet"
    assert lines[1].strip() == "run `deplat -e prod infra apply`"
    assert "- ()" not in proc.stdout and "recent runs: none yet" in proc.stdout
