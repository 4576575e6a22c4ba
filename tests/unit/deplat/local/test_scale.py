"""`deplat local seed --scale`: every source's size follows the scale factor from the sample's, and the
Salesforce stand-in restarts at the recorded scale (issue 21 item 1)."""

from __future__ import annotations

import pytest

from deplat.core.config import LocalStackSettings
from deplat.local.scale import DEFAULT_SCALE, record_scale, recorded_scale, source_sizes
from deplat.local.services import SALESFORCE, Paths


def test_sizes_grow_in_proportion_and_the_default_is_the_sample():
    def four(s):
        return s.rds_customers, s.rds_orders, s.sf_accounts, s.sf_opportunities

    sample, big = source_sizes(DEFAULT_SCALE), source_sizes(1)
    assert four(sample) == (200, 1000, 120, 300)
    assert four(big) == (20_000, 100_000, 12_000, 30_000)
    assert 0.99e6 <= big.dms_change_burst * 2.4 <= 1.01e6  # ~1,000,000 CDC changes at sf 1
    with pytest.raises(ValueError):
        source_sizes(0)


def test_the_salesforce_stand_in_starts_with_the_org_of_the_recorded_scale(tmp_path):
    settings = LocalStackSettings()
    command = SALESFORCE.command(Paths(tmp_path), settings)
    assert command[command.index("--accounts") + 1] == "120" and recorded_scale(tmp_path) == DEFAULT_SCALE
    assert record_scale(tmp_path, 0.1) is True and record_scale(tmp_path, 0.1) is False
    command = SALESFORCE.command(Paths(tmp_path), settings)
    assert (command[command.index("--accounts") + 1], command[command.index("--opportunities") + 1]) == ("1200", "3000")
