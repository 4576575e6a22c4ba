"""The test tiers are folders: tests/conftest.py marks each test by its folder and refuses a JVM under unit/."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("deplat_tests_conftest", ROOT / "tests" / "conftest.py")
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)
pytest_collection_modifyitems, tier_of = conftest.pytest_collection_modifyitems, conftest.tier_of


def _item(folder: str, *fixtures: str) -> SimpleNamespace:
    item = SimpleNamespace(fspath=ROOT / "tests" / folder / "test_x.py", fixturenames=list(fixtures),
                           nodeid=f"tests/{folder}/test_x.py::test_y", markers=[])
    item.add_marker = item.markers.append
    return item


def test_each_test_is_marked_by_its_folder():
    items = [_item("unit"), _item("spark", "spark"), _item("integration", "spark"), _item("e2e")]
    pytest_collection_modifyitems(None, items)
    assert [i.markers for i in items] == [[], ["spark"], ["integration"], ["integration"]]
    assert tier_of(Path("/elsewhere/test_x.py")) == ""


def test_a_unit_test_asking_for_the_spark_session_is_refused():
    with pytest.raises(pytest.UsageError, match="tests/unit/test_x.py::test_y"):
        pytest_collection_modifyitems(None, [_item("unit", "tmp_path", "spark")])


def test_no_test_module_sits_outside_a_tier():
    tiers = set(conftest.TIER_MARKERS)
    modules = [p for p in (ROOT / "tests").rglob("test_*.py") if tier_of(p) not in tiers]
    assert modules == []
