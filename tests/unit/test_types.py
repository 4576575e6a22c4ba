"""Both sides type-check clean: mypy with pyproject's [tool.mypy] settings (what `make lint` runs,
over both), here so CI runs it too, one side at a time: the CLI side (src/deplat) and the job side
(src/deplat_job, which ships to EMR). A deliberate type error in a checked module of either side is
caught (the check can fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
MYPY = Path(sys.executable).parent / "mypy"


def _mypy(root: Path, *paths: str) -> subprocess.CompletedProcess:
    """mypy with the project's settings; `paths` (when given) instead of [tool.mypy] files."""
    return subprocess.run([str(MYPY), "--no-incremental", "--config-file", str(root / "pyproject.toml"), *paths],
                          cwd=root, capture_output=True, text=True, timeout=600)


def _checked(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Success: no issues found" in result.stdout
    return int(result.stdout.split("in ")[-1].split()[0])


def test_make_lint_checks_both_sides():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert set(config["files"]) == {"src/deplat", "src/deplat_job"}
    assert "\t$(BIN)/mypy\n" in (ROOT / "Makefile").read_text()  # `make lint` runs those files, no paths


def test_the_cli_side_type_checks_clean():
    assert _checked(_mypy(ROOT, "src/deplat")) >= 60  # the CLI side's modules, not an empty selection


def test_the_job_side_type_checks_clean():
    assert _checked(_mypy(ROOT, "src/deplat_job")) >= 25  # the job side's modules, not an empty selection


@pytest.mark.parametrize("side, module", [("src/deplat", "runs.py"), ("src/deplat_job", "pipelines/common.py")])
def test_a_type_error_fails_the_check(tmp_path, side, module):
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    broken = tmp_path / side / module
    broken.write_text(broken.read_text() + '\n\ndef _broken() -> int:\n    return "not an int"\n')
    result = _mypy(tmp_path, side)
    assert result.returncode == 1 and f"{Path(module).name}:" in result.stdout and "return-value" in result.stdout
