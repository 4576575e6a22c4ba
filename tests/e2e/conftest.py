"""The e2e tier's one costly fixture: `deplat runbook` run twice into one fresh lake, shared by the
runbook's tests and the main job's cross-checks (deplat/test_runbook_run_all.py), so the session pays for the
whole platform's jobs once (a separate `run all` into its own lake cost ~290 s of CI).

Both runbooks leave out `optimize`: measured here it took 1,159 s (14 tables) of a 1,325 s runbook,
it is covered by the maintenance tests, and compaction changes no row count.

The runbook keeps its state (runbook.json, runbooks.jsonl) in the env's state folder, beside the local
stack's own state (pid files, Terraform state, the stand-in's runs). A temporary DEPLAT_HOME would
mean a second stack and a second Terraform apply, so the fixture runs in the shared state folder and
puts the developer's runbook state back afterwards, byte for byte (or removes what it created).
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
    """{"lake": Path, "deplat": callable(*args) -> CompletedProcess (asserts exit 0, same env),
    "first"/"second": each runbook's JSON, "before"/"after": {layer.table: rows} after each,
    "report": `deplat report -o json` of the second}."""
    from deplat.report.data import lake_tables
    from deplat.runbook import RUNBOOK_STEPS

    lake = tmp_path_factory.mktemp("runbook-lake")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    env["DEPLAT_LAKE_URI"] = str(lake)

    def deplat(*args, timeout=2400):
        proc = subprocess.run([DEPLAT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"deplat {' '.join(args)}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return proc

    def counts():
        return {f"{t.layer}.{t.table}": t.rows for t in lake_tables(str(lake))}

    from deplat.core.config import load_settings
    from deplat.runbook import HISTORY_FILE, STATE_FILE

    state = load_settings(ROOT / "config" / "deplat.yaml", environ={}).state_dir / "local"
    saved = {name: (state / name).read_bytes() if (state / name).is_file() else None
             for name in (STATE_FILE, HISTORY_FILE)}
    only = ",".join(s.name for s in RUNBOOK_STEPS if s.name != "optimize")
    try:
        first = json.loads(deplat("-o", "json", "runbook", "--only", only).stdout)
        before = counts()
        second = json.loads(deplat("-o", "json", "runbook", "--only", only).stdout)
        after = counts()
        report = json.loads(deplat("-o", "json", "report", "--out", str(lake.parent / "report.html")).stdout)
    finally:
        for name, content in saved.items():  # the developer's runbook state, as it was
            if content is None:
                (state / name).unlink(missing_ok=True)
            else:
                (state / name).write_bytes(content)
    return {"lake": lake, "deplat": deplat, "first": first, "second": second, "before": before, "after": after,
            "report": report}
