"""The lists a user reads agree with what runs: `deplat run --help`, the unknown-pipeline error and the
README's Pipelines table all list the registry's pipelines; `deplat runbook --help` lists the runbook's
own steps."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from deplat.registry import PIPELINES, pipeline_names
from deplat.runbook import RUNBOOK_STEPS

ROOT = Path(__file__).resolve().parents[4]
DEPLAT = str(Path(sys.executable).with_name("deplat"))


def _deplat(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    env.update(COLUMNS="400", DEPLAT_HOME=str(tmp_path), NO_COLOR="1", TERM="dumb")
    return subprocess.run([DEPLAT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _words(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_names_are_the_registry_and_all():
    assert pipeline_names() == [*PIPELINES, "all"]
    assert {"fx", "kafka", "dq", "maintenance", "restore"} <= set(pipeline_names())


def test_run_help_lists_every_pipeline(tmp_path):
    out = _words(_deplat(tmp_path, "run", "--help").stdout)
    assert ", ".join(pipeline_names()) + "." in out


def test_unknown_pipeline_error_lists_every_pipeline(tmp_path):
    proc = _deplat(tmp_path, "run", "no-such-pipeline")
    assert proc.returncode == 2
    assert "unknown pipeline 'no-such-pipeline'" in proc.stderr
    assert "choose one of: " + ", ".join(pipeline_names()) in proc.stderr


def test_readme_pipelines_table_has_a_row_per_pipeline():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Pipelines\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", section, re.M)
    assert set(pipeline_names()) <= set(rows), sorted(set(pipeline_names()) - set(rows))
    assert "deplat run <fx|" not in readme.replace("\\|", "|")  # no hand-kept subset in the command map


def test_runbook_help_lists_every_step(tmp_path):
    out = _words(_deplat(tmp_path, "runbook", "--help").stdout)
    assert "Steps, in order: " + " ".join(s.name for s in RUNBOOK_STEPS) + "." in out
    assert "kafka-produce" in out
    local = " ".join(s.name for s in RUNBOOK_STEPS if s.local_only)
    assert f"Local env only (skipped elsewhere): {local}." in out
