"""The job side imports nothing from the CLI side: pyproject's import-linter contract, kept equal to
what ships (the py39 list artifacts.build_job_package reads) and to the modules on disk, and able to
fail: a job-side module that imports deplat.context breaks it."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

from deplat.artifacts import _job_side_patterns

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = config["contracts"]
    return contract


def _modules() -> set[str]:
    found = set()
    for path in (ROOT / "src" / "deplat").rglob("*.py"):
        parts = path.relative_to(ROOT / "src").with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _matches(module: str, expressions: list[str]) -> bool:
    # import-linter's wildcards: `*` one component, `**` one or more
    for expr in expressions:
        if expr.endswith(".**") and module.startswith(expr[:-2]) and module != expr[:-3]:
            return True
        if fnmatch.fnmatchcase(module, expr) and module.count(".") == expr.count("."):
            return True
    return False


def _as_module_expressions(patterns: list[str]) -> set[str]:
    """src/deplat/pipelines/** -> deplat.pipelines, deplat.pipelines.**; src/deplat/errors.py -> deplat.errors."""
    out = set()
    for pattern in patterns:
        dotted = pattern.removeprefix("src/").removesuffix(".py").replace("/", ".")
        if dotted.endswith(".**"):
            out |= {dotted[:-3], dotted}
        else:
            out.add(dotted.removesuffix(".__init__"))
    return out


def test_the_contracts_source_modules_are_what_ships_as_the_job_side():
    assert set(_contract()["source_modules"]) == _as_module_expressions(_job_side_patterns(ROOT))


def test_every_module_is_on_one_side_of_the_contract():
    contract = _contract()
    unplaced = {m for m in _modules()
                if not _matches(m, contract["source_modules"]) and not _matches(m, contract["forbidden_modules"])}
    both = {m for m in _modules()
            if _matches(m, contract["source_modules"]) and _matches(m, contract["forbidden_modules"])}
    assert not unplaced, f"add these to pyproject's [tool.importlinter] contract: {sorted(unplaced)}"
    assert not both


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root / "src")},
                          capture_output=True, text=True, timeout=120)


def test_the_contract_is_kept_and_breaks_when_a_job_imports_the_cli_side(tmp_path):
    kept = _lint(ROOT)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    shutil.copytree(ROOT / "src" / "deplat", tmp_path / "src" / "deplat",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    common = tmp_path / "src" / "deplat" / "pipelines" / "common.py"
    common.write_text(common.read_text() + "\nfrom deplat.context import Context  # noqa: E402,F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN" in broken.stdout and "deplat.pipelines.common -> deplat.context" in broken.stdout
