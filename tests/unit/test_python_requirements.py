"""The Pythons deplat needs, said the same way everywhere: the CLI's floor in pyproject, `doctor`
and the README; the job side's 3.9 in the ruff settings that also decide what ships to EMR."""

import re
from pathlib import Path

import tomllib

from deplat.doctor import cli_python_floor
from deplat.local.emr_runtime import EMR_PYTHON

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_cli_floor_is_the_same_in_pyproject_doctor_and_readme():
    floor = re.fullmatch(r">=\s*(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert floor, PYPROJECT["project"]["requires-python"]
    want = (int(floor.group(1)), int(floor.group(2)))
    assert cli_python_floor() == want  # doctor reads the installed metadata
    readme = (ROOT / "README.md").read_text()
    assert f"Python >= {want[0]}.{want[1]} for the CLI" in readme
    assert "Python >= 3.9" not in readme  # the claim the CLI ran on 3.9 is gone


def test_job_side_is_linted_as_the_emr_python():
    targets = PYPROJECT["tool"]["ruff"]["per-file-target-version"]
    emr = f"py{EMR_PYTHON[0]}{EMR_PYTHON[1]}"
    for path in ("jobs/**", "src/deplat_job/**"):
        assert targets.get(path) == emr, path
