"""`deplat local seed` / `dms-capture` through the CLI against the real local stack."""

import json

import pytest
from typer.testing import CliRunner

from deplat.cli import app

pytestmark = pytest.mark.integration


def test_seed_is_idempotent_and_never_shows_secret_values(local_stack):
    runner = CliRunner()
    first = runner.invoke(app, ["local", "seed", "-o", "json"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["local", "seed", "-o", "json"])
    doc = json.loads(again.stdout)
    assert doc["snowflake"]["loaded"] is False and doc["snowflake"]["tables"]["orders"] == 15000
    assert set(doc["rds"]["rows"].values()) == {0}
    assert doc["dms"]["full_load_rows"] == {}
    from deplat.local.standins.salesforce_server import LOCAL_CREDENTIALS
    from deplat.local.standins.snowflake_server import PASSWORD

    # The secrets' own values (what a leak would show), not the word "password".
    for value in (PASSWORD, LOCAL_CREDENTIALS["password"], LOCAL_CREDENTIALS["client_secret"],
                  LOCAL_CREDENTIALS["security_token"]):
        assert value not in first.output and value not in again.output


def test_dms_capture_writes_the_changes_it_made(local_stack):
    runner = CliRunner()
    assert runner.invoke(app, ["local", "seed", "-o", "json"]).exit_code == 0
    assert runner.invoke(app, ["local", "dms-capture", "-o", "json"]).exit_code == 0  # drain earlier changes
    result = runner.invoke(app, ["local", "dms-capture", "--sample-changes", "4", "-o", "json"])
    assert result.exit_code == 0, result.output
    # Exactly what apply_sample_changes(n=4) did to app.orders: 4 inserts, 4 updates, 1 delete.
    changes = json.loads(result.stdout)["changes"]["app.orders"]
    assert (changes.get("I", 0), changes.get("U", 0), changes.get("D", 0)) == (4, 4, 1)
    assert json.loads(runner.invoke(app, ["local", "dms-capture", "-o", "json"]).stdout)["changes"] == {}


def test_seed_refuses_a_cloud_env():
    result = CliRunner().invoke(app, ["-e", "dev", "local", "seed"])
    assert result.exit_code == 2 and "not environment 'dev'" in result.output
