"""Both sides type-check clean: mypy with pyproject's [tool.mypy] settings (what `make lint` runs,
over both), here so CI runs it too: the CLI side (src/deplat, but its local stand-ins) and the job side
(src/deplat_job, which ships to EMR). A deliberate type error in a module of each side is caught (the
check can fail). Two mypy runs in all: each costs ~15 s."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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


def test_both_sides_type_check_clean():
    """One run over [tool.mypy] files (what `make lint` runs): mypy reads the job side anyway, since the
    CLI side imports it, so one run costs what the CLI side alone does."""
    py = {side: len(list((ROOT / side).rglob("*.py"))) for side in ("src/deplat", "src/deplat_job")}
    assert py["src/deplat"] >= 60 and py["src/deplat_job"] >= 25  # not an empty selection
    excluded = len(list((ROOT / "src/deplat/local").rglob("*.py")))  # the stand-ins: see pyproject
    assert _checked(_mypy(ROOT)) == py["src/deplat"] - excluded + py["src/deplat_job"]


def test_a_type_error_on_either_side_fails_the_check(tmp_path):
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for broken in (tmp_path / "src/deplat/runs.py", tmp_path / "src/deplat_job/pipelines/common.py"):
        broken.write_text(broken.read_text() + '\n\ndef _broken() -> int:\n    return "not an int"\n')
    result = _mypy(tmp_path)
    assert result.returncode == 1, result.stdout[-4000:]
    errors = [line for line in result.stdout.splitlines() if "[return-value]" in line]
    assert {Path(line.split(":")[0]).as_posix() for line in errors} == {
        "src/deplat/runs.py", "src/deplat_job/pipelines/common.py"}, result.stdout[-4000:]
