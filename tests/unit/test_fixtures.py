"""The shared test fixtures' own rules (tests/conftest.py)."""

from __future__ import annotations

import os

from tests.conftest import clear_deplat_env


def test_clearing_the_environment_drops_overrides_and_keeps_machine_settings(monkeypatch):
    cleared = {"DEPLAT_ENV": "prod", "DEPLAT_HOME": "/h", "DEPLAT_STACK_DIR": "/s", "DEPLAT_CONFIG": "/c.yaml",
               "DEPLAT_LAKE_URI": "/lake", "DEPLAT_SPARK_MASTER": "local[8]", "DEPLAT_PROD_PROFILE": "admin",
               "DEPLAT_LOCAL_ENDPOINT_URL": "http://127.0.0.1:1"}
    kept = {"DEPLAT_CACHE": "/cache", "DEPLAT_EMR_PYTHON": "/py39", "DEPLAT_SPARK_JARS": "/jars",
            "DEPLAT_SPARK_WAREHOUSE": "/wh"}
    for var, value in {**cleared, **kept}.items():
        monkeypatch.setenv(var, value)
    clear_deplat_env(monkeypatch)
    assert [v for v in cleared if v in os.environ] == []
    assert {v: os.environ.get(v) for v in kept} == kept
