"""The job side imports nothing from the CLI side: pyproject's import-linter contract `job-side`, whose
source modules are what ships (artifacts.build_job_package's manifest), every module on disk on one side
of it, every shipped module linted as Python 3.9, and the contract able to fail: a job-side module that
imports deplat.context breaks it."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

from deplat.artifacts import JOB_SIDE_CONTRACT, _is_job_side, job_side_modules

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c.get("id") == JOB_SIDE_CONTRACT]
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


def test_what_ships_is_the_contracts_source_modules_each_linted_as_python_39():
    assert job_side_modules(ROOT) == _contract()["source_modules"]
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["per-file-target-version"]
    py39 = [p for p, v in ruff.items() if v == "py39"]
    src = ROOT / "src"
    shipped = [p for p in src.rglob("*.py") if _is_job_side(str(p.relative_to(src)), job_side_modules(ROOT))]
    assert len(shipped) > 20
    unlinted = [str(p) for p in shipped if not any(fnmatch.fnmatch(str(p.relative_to(ROOT)), g.replace("**", "*"))
                                                   for g in py39)]
    assert unlinted == [], "ships to EMR's Python 3.9 but is not linted as py39 in pyproject's ruff settings"


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


def _cycles(graph, level: int) -> list[list[str]]:
    """Import cycles between deplat's modules cut to `level` dotted parts (2: deplat.<package or
    module>): the strongly connected components of more than one node (Tarjan)."""
    cut = lambda m: ".".join(m.split(".")[:level])  # noqa: E731
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if cut(module) != cut(imported):
                edges.setdefault(cut(module), set()).add(cut(imported))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_deplats_packages():
    """Function-local imports count: grimp (import-linter's graph) records every import statement."""
    import grimp

    graph = grimp.build_graph("deplat", cache_dir=None)
    assert len(graph.modules) > 100
    assert _cycles(graph, 2) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    import grimp

    package = tmp_path / "cyc"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cyc import b\n")
    (package / "b.py").write_text("from cyc import c\n")
    (package / "c.py").write_text("import cyc.a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert _cycles(grimp.build_graph("cyc", cache_dir=None), 2) == [["cyc.a", "cyc.b", "cyc.c"]]
    finally:
        sys.path.remove(str(tmp_path))
