"""Both sides type-check clean: mypy with pyproject's [tool.mypy] settings (what `make lint` runs,
over both), here so CI runs it too: the CLI side (src/deplat, its local stand-ins included) and the job side
(src/deplat_job, which ships to EMR). A deliberate type error in a module of each side is caught (the
check can fail). Two mypy runs in all: each costs ~15 s."""

from __future__ import annotations

import ast
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
    assert _checked(_mypy(ROOT)) == py["src/deplat"] + py["src/deplat_job"]  # the local stand-ins too


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


def _unannotated_ctx(src: Path) -> list[str]:
    """Every function/method parameter named `ctx` under src/deplat without an annotation, as
    path:line:function (cli/__init__.py's `ctx` is Click's context, not deplat's: allowed there)."""
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src.parent).as_posix()
        if rel == "deplat/cli/__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
                found += [f"{rel}:{p.lineno}:{node.name}" for p in params if p.arg == "ctx" and p.annotation is None]
    return found


def test_every_ctx_parameter_is_annotated():
    """A service's `ctx` is deplat's Context (`ctx: Context`, imported under TYPE_CHECKING), so mypy
    checks what each service reads of it."""
    found = _unannotated_ctx(ROOT / "src/deplat")
    assert not found, f"{len(found)} `ctx` parameter(s) without `ctx: Context`:\n" + "\n".join(found)


def test_an_unannotated_ctx_is_found(tmp_path):
    (tmp_path / "deplat/cli").mkdir(parents=True)
    (tmp_path / "deplat/cli/__init__.py").write_text("def command(ctx):\n    pass\n")  # Click's: allowed
    (tmp_path / "deplat/service.py").write_text(
        "def fine(ctx: 'Context') -> None: ...\n\nclass S:\n    def method(self, ctx, /) -> None: ...\n")
    assert _unannotated_ctx(tmp_path / "deplat") == ["deplat/service.py:4:method"]
