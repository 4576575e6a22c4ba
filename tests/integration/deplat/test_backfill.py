"""`deplat backfill fx` through the EMR Serverless stand-in over ten dates, three at once: interrupted
(SIGINT to the real CLI process), resumed, then run again: every date done once per pass, at most
three runs at a time, the rows per date equal to the ECB source's, and the second backfill changes no
row count.

The real fx jobs from the deployed artifacts (moto bucket, lake and DEPLAT_HOME in tmp), on an
application with three pre-initialized drivers (warm drivers): the backfill's three runs at once each
find one. The dates' writes to the same Delta tables conflict when they run at once; the jobs retry
them (conflicts.py). Costly (~20 job runs per pass on 2 cores): the three passes are one test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from tests.integration.deplat_project import CAPACITY, make_project, standin_runs

pytestmark = [pytest.mark.integration, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[3]
FIRST, LAST = "2024-01-02", "2024-01-11"  # a weekend inside: the ECB publishes nothing on 6-7 January


@pytest.fixture
def project(local_stack, tmp_path, monkeypatch):
    jobs = {name: (ROOT / "jobs" / f"{name}.py").read_text() for name in ("fx_to_bronze", "fx_bronze_to_silver")}
    three = {**CAPACITY, "initialCapacity": {"DRIVER": {**CAPACITY["initialCapacity"]["DRIVER"], "workerCount": 3}}}
    root, bucket = make_project(tmp_path, monkeypatch, jobs, capacity=three)
    monkeypatch.chdir(root)
    deployed = CliRunner().invoke(app, ["deploy"])
    assert deployed.exit_code == 0, deployed.output
    return tmp_path / "home" / "local", tmp_path / "lake"


def _interruptible() -> None:
    # A test run started in the background of a non-interactive shell inherits SIGINT as ignored, and
    # Python then installs no KeyboardInterrupt handler: give the CLI the disposition a terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _backfill(*extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deplat", "-o", "json", "backfill", "fx", "--from", FIRST,
                             "--to", LAST, "--concurrency", "3", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
                            preexec_fn=_interruptible)


def _states(state_file: Path) -> dict[str, str]:
    try:
        return {d: v["state"] for d, v in json.loads(state_file.read_text())["dates"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def _rows_per_date(lake: Path, layer: str, column: str) -> Counter:
    from deltalake import DeltaTable

    table = DeltaTable(str(lake / layer / "fx_rates")).to_pyarrow_table(columns=[column])
    return Counter(str(d) for d in table.column(column).to_pylist())


def _peak_concurrency(runs_dir: Path, since: str) -> int:
    """The most job runs alive at once among those started at or after `since` (ISO, UTC)."""
    spans = []
    for state in runs_dir.glob("*/state.json"):
        doc = json.loads(state.read_text())
        if doc["started_at"] >= since:
            spans.append((doc["started_at"], doc.get("ended_at") or doc["updated_at"]))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    peak = live = 0
    for _, step in events:
        live += step
        peak = max(peak, live)
    return peak


def test_backfill_ten_dates_interrupted_resumed_and_rerun(project):
    from deplat_job.sources import fx as ecb

    home, lake = project
    state_file = home / "backfills" / f"fx_{FIRST}_{LAST}.json"

    first = _backfill()
    deadline = time.monotonic() + 900
    while sum(s == "SUCCESS" for s in _states(state_file).values()) < 2:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, _states(state_file)
        time.sleep(1)  # polling a file another process writes
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 4, err
    assert "interrupted" in err and "--resume" in err
    before = _states(state_file)
    done_before = sorted(d for d, s in before.items() if s == "SUCCESS")
    assert 2 <= len(done_before) < 10 and set(before.values()) <= {"SUCCESS", "INTERRUPTED", "NOT_STARTED", "FAILED"}

    resumed = _backfill("--resume")
    out, err = resumed.communicate(timeout=1800)
    assert resumed.returncode == 0, err
    doc = json.loads(out)
    assert doc["counts"]["skipped"] == len(done_before) and doc["counts"]["success"] == 10 - len(done_before)
    assert sorted(d["date"] for d in doc["dates"] if d["state"] == "SKIPPED") == done_before
    assert "ETA" in err or "SUCCESS in" in err  # progress on stderr, JSON alone on stdout

    history = ecb.parse(ecb.fetch(ecb.PACKAGED), ecb.PACKAGED)
    source = Counter(c[0] for c in history.cells if FIRST <= str(c[0]) <= LAST)
    bronze = _rows_per_date(lake, "bronze", "rate_date")
    assert bronze == Counter({str(d): n for d, n in source.items()})  # one row per ECB cell, each date once
    assert "2024-01-06" not in bronze and len(bronze) == 8
    silver = _rows_per_date(lake, "silver", "as_of_date")
    assert set(silver) == set(bronze) and all(n > 20 for n in silver.values())

    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    again = _backfill()
    out, err = again.communicate(timeout=1800)
    assert again.returncode == 0, err
    assert json.loads(out)["counts"]["success"] == 10
    assert _rows_per_date(lake, "bronze", "rate_date") == bronze
    assert _rows_per_date(lake, "silver", "as_of_date") == silver
    runs = standin_runs(json.loads((home / "outputs.json").read_text())["emr_application_id"])
    assert 2 <= _peak_concurrency(runs, since) <= 3  # the rerun alone: no runs left from Ctrl-C
