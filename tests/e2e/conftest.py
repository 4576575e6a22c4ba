"""The e2e tier's one costly fixture: `deplat runbook` run twice into one fresh lake, shared by the
runbook's tests and the main job's cross-checks (deplat/test_runbook_run_all.py), so the session pays for the
whole platform's jobs once (a separate `run all` into its own lake cost ~290 s of CI).

Both runbooks leave out `optimize`: measured here it took 1,159 s (14 tables) of a 1,325 s runbook,
it is covered by the maintenance tests, and compaction changes no row count.

The runbooks run under a temporary DEPLAT_HOME, so their state (runbook.json, runbooks.jsonl, runs.jsonl,
outputs.json) never touches the developer's `.deplat/local/`. DEPLAT_STACK_DIR points at the session's
running stack, whose folder also holds the local env's Terraform state: the runbook's `local-up` finds
the stack up and its `infra` step applies no change (no second stack, no second apply).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLAT = str(Path(sys.executable).with_name("deplat"))


@pytest.fixture(scope="session")
def runbook_twice(tmp_path_factory, local_stack):
    """{"lake": Path, "home": Path (DEPLAT_HOME), "stack": Path (DEPLAT_STACK_DIR),
    "deplat": callable(*args) -> CompletedProcess (asserts exit 0, same env),
    "first"/"second": each runbook's JSON, "before"/"after": {layer.table: rows} after each,
    "report": `deplat report -o json` of the second,
    "developer_state": (before, after): the developer's `.deplat/local/` state files -> bytes or None}."""
    from deplat.report.data import lake_tables
    from deplat.runbook import RUNBOOK_STEPS

    lake = tmp_path_factory.mktemp("runbook-lake")
    home = tmp_path_factory.mktemp("runbook-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    stack = local_stack.paths.root
    env.update(DEPLAT_LAKE_URI=str(lake), DEPLAT_HOME=str(home), DEPLAT_STACK_DIR=str(stack))
    from deplat.core.config import load_settings

    developer = load_settings(ROOT / "config" / "deplat.yaml", environ={}).state_dir / "local"

    def developer_state():
        return {name: (developer / name).read_bytes() if (developer / name).is_file() else None
                for name in ("runbook.json", "runbooks.jsonl", "runs.jsonl", "outputs.json")}

    state_before = developer_state()

    def deplat(*args, timeout=2400):
        proc = subprocess.run([DEPLAT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"deplat {' '.join(args)}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return proc

    def counts():
        return {f"{t.layer}.{t.table}": t.rows for t in lake_tables(str(lake))}

    only = ",".join(s.name for s in RUNBOOK_STEPS if s.name != "optimize")
    first = json.loads(deplat("-o", "json", "runbook", "--only", only).stdout)
    before = counts()
    second = json.loads(deplat("-o", "json", "runbook", "--only", only).stdout)
    after = counts()
    report = json.loads(deplat("-o", "json", "report", "--out", str(lake.parent / "report.html")).stdout)
    return {"lake": lake, "home": home, "stack": stack, "deplat": deplat, "first": first, "second": second,
            "before": before, "after": after, "report": report, "developer_state": (state_before, developer_state())}
