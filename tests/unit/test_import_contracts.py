"""The job side is its own package: pyproject's import-linter contract `job-side` says deplat_job imports
nothing of deplat, and the job zip is deplat_job exactly (artifacts.build_job_package). Checked here: the
contract's shape, every module under src in one of the two packages, every job module linted as Python
3.9, the contract kept and able to fail (a job module that imports deplat.core.context breaks it), the
cloud path (`cloud-path`: no service imports deplat.local but its named local-only branches), and no
import cycle between deplat's packages."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

from deplat.artifacts import JOB_PACKAGE

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _contract(contract_id: str) -> dict:
    (contract,) = [c for c in _pyproject()["tool"]["importlinter"]["contracts"] if c.get("id") == contract_id]
    return contract


def test_the_contract_forbids_the_cli_package_to_the_job_package():
    config = _pyproject()["tool"]["importlinter"]
    contract = _contract("job-side")
    assert contract["type"] == "forbidden" and contract.get("as_packages", True)
    assert contract["source_modules"] == [JOB_PACKAGE] and contract["forbidden_modules"] == ["deplat"]
    assert sorted(config["root_packages"]) == ["deplat", JOB_PACKAGE]


def test_src_holds_the_two_packages_and_every_job_module_is_linted_as_python_39():
    src = ROOT / "src"
    tops = {p.name for p in src.iterdir()
            if p.is_dir() and not p.name.endswith(".egg-info") and p.name != "__pycache__"}
    assert tops == {"deplat", JOB_PACKAGE}
    ruff = _pyproject()["tool"]["ruff"]["per-file-target-version"]
    py39 = [p for p, v in ruff.items() if v == "py39"]
    shipped = list((src / JOB_PACKAGE).rglob("*.py"))
    assert len(shipped) > 20
    unlinted = [str(p) for p in shipped if not any(fnmatch.fnmatch(str(p.relative_to(ROOT)), g.replace("**", "*"))
                                                   for g in py39)]
    assert unlinted == [], "ships to EMR's Python 3.9 but is not linted as py39 in pyproject's ruff settings"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root / "src")},
                          capture_output=True, text=True, timeout=120)


def test_the_contract_is_kept_and_breaks_when_a_job_imports_the_cli_side(tmp_path):
    kept = _lint(ROOT)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    _copy_src(tmp_path)
    common = tmp_path / "src" / JOB_PACKAGE / "pipelines" / "common.py"
    common.write_text(common.read_text() + "\nfrom deplat.core.context import Context  # noqa: E402,F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN" in broken.stdout and "deplat_job.pipelines.common -> deplat.core.context" in broken.stdout


def test_every_top_level_module_of_the_cli_package_sits_in_a_layer():
    placed = {m.strip() for layer in _contract("layers")["layers"] for m in layer.replace("|", ":").split(":")}
    src = ROOT / "src" / "deplat"
    tops = {f"deplat.{p.stem if p.suffix == '.py' else p.name}" for p in src.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert tops - placed == set(), "place these in pyproject's `layers` contract"
    assert placed - tops == set()


def _copy_src(tmp_path: Path) -> None:
    for package in ("deplat", JOB_PACKAGE):
        shutil.copytree(ROOT / "src" / package, tmp_path / "src" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")


def test_plumbing_that_imports_a_service_breaks_the_layers(tmp_path):
    _copy_src(tmp_path)
    config = tmp_path / "src" / "deplat" / "core" / "config.py"
    config.write_text(config.read_text() + "\nfrom deplat.runs import RunService  # noqa: E402,F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "cli -> services -> core plumbing BROKEN" in broken.stdout
    assert "deplat.core.config -> deplat.runs" in broken.stdout


def test_every_service_and_the_plumbing_are_on_the_cloud_path():
    """Every module of the middle layer but deplat.local itself, and deplat.core, may not import the
    local stack (a new service is covered as soon as it joins the layers)."""
    contract = _contract("cloud-path")
    (services,) = [layer for layer in _contract("layers")["layers"] if "deplat.runs" in layer]
    wanted = {m.strip() for m in services.split(":")} - {"deplat.local"} | {"deplat.core"}
    assert set(contract["source_modules"]) == wanted
    assert contract["forbidden_modules"] == ["deplat.local"]


def test_a_service_that_imports_the_local_stack_breaks_the_cloud_path(tmp_path):
    _copy_src(tmp_path)
    catalog = tmp_path / "src" / "deplat" / "catalog.py"
    catalog.write_text(catalog.read_text() + "\nfrom deplat.local.jars import cached_jars  # noqa: E402,F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "deplat.catalog -> deplat.local.jars" in broken.stdout


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

    graph = grimp.build_graph("deplat", JOB_PACKAGE, cache_dir=None)
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
