"""The local sources' scale factor: how big `deplat local seed --scale SF` makes each stand-in.

SF follows TPC-H's scale factor (sf 1 = 1,500,000 orders, dbgen's definition); the other sources
grow in the same proportion from their sample sizes at the default sf 0.01, so a run at sf 1 reads
100x the sample's data from every source. The scale last seeded is recorded in
`.deplat/stack/seed-scale.json`, so a restarted Salesforce stand-in (its org is generated in memory
at start) comes back at that size.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_SCALE = 0.01
SCALE_FILE = "seed-scale.json"
# Changes per unit of apply_sample_changes(n): n inserts, n order updates, n/5 customer updates, n/5 deletes.
CHANGES_PER_N = 2.4


@dataclass(frozen=True)
class SourceSizes:
    """Rows per source at one scale factor (sample sizes at sf 0.01 times sf/0.01)."""

    scale: float
    rds_customers: int  # app.customers (DMS full load)
    rds_orders: int  # app.orders (DMS full load)
    sf_accounts: int  # Salesforce Account records
    sf_opportunities: int  # Salesforce Opportunity records (sf 1: 42,000 records with the Accounts)
    dms_change_burst: int  # apply_sample_changes' n for ~1,000,000 x sf CDC changes (benchmarks)

    def to_dict(self) -> dict:
        return asdict(self)


def source_sizes(scale: float) -> SourceSizes:
    """The sizes at `scale` (> 0). ValueError for a scale that is not positive."""
    if not scale > 0:
        raise ValueError(f"scale factor must be positive, got {scale}")
    k = scale / DEFAULT_SCALE
    return SourceSizes(scale, max(1, round(200 * k)), max(1, round(1000 * k)), max(1, round(120 * k)),
                       max(1, round(300 * k)), max(1, round(1_000_000 * scale / CHANGES_PER_N)))


def recorded_scale(root: Path) -> float:
    """The scale last seeded under the local stack's folder `root` (.deplat/stack); the default if none."""
    try:
        return float(json.loads((Path(root) / SCALE_FILE).read_text())["scale"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_SCALE


def record_scale(root: Path, scale: float) -> bool:
    """Record `scale` under `root`; True when it differs from the scale recorded before."""
    changed = recorded_scale(root) != scale
    Path(root).mkdir(parents=True, exist_ok=True)
    (Path(root) / SCALE_FILE).write_text(json.dumps({"scale": scale}))
    return changed
