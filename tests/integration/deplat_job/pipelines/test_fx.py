"""--partition-date on a day the source has no data for says so in the step's result (Spark)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from deplat_job.pipelines.common import METRICS_PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[4]


def _job(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("day, note", [("2024-12-25", True), ("2024-12-27", False)])
def test_fx_date_without_ecb_rates_says_so(spark, tmp_path, capsys, day, note):
    """Christmas is a TARGET holiday (no ECB fixing); the 27th is a publication day."""
    _job("fx_to_bronze").main(["--lake", str(tmp_path), "--partition-date", day, "--batch-id", "b1",
                               "--env", "local", "--source", "packaged"])
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(METRICS_PREFIX)]
    metrics = json.loads(line[len(METRICS_PREFIX):])
    if note:
        assert metrics["written"] == 0 and "not a publication day" in metrics["note"]
    else:
        assert metrics["written"] > 0 and "note" not in metrics
