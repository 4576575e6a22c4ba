"""The CLI side type-checks clean: mypy with pyproject's [tool.mypy] settings (what `make lint` runs),
here so CI runs it too. A deliberate type error in a checked module is caught (the check can fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MYPY = Path(sys.executable).parent / "mypy"


def _mypy(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(MYPY), "--no-incremental", "--config-file", str(root / "pyproject.toml")],
                          cwd=root, capture_output=True, text=True, timeout=600)


def test_the_cli_side_type_checks_clean():
    result = _mypy(ROOT)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Success: no issues found" in result.stdout
    checked = int(result.stdout.split("in ")[-1].split()[0])
    assert checked >= 60  # the CLI side's modules, not an empty selection


def test_a_type_error_on_the_cli_side_fails_the_check(tmp_path):
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    runs = tmp_path / "src" / "deplat" / "runs.py"
    runs.write_text(runs.read_text() + '\n\ndef _broken() -> int:\n    return "not an int"\n')
    result = _mypy(tmp_path)
    assert result.returncode == 1 and "runs.py" in result.stdout and "return-value" in result.stdout
