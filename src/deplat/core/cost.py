"""What a run cost: EMR Serverless's billed resource utilization times the region's prices.

GetJobRun's `billedResourceUtilization` (vCPUHour, memoryGBHour, storageGBHour: per-second billing
with a one-minute minimum per worker, storage only above the 20 GB each worker gets free) comes from
the API in the cloud and from the stand-in locally, which computes it from the real run the same
way. Prices are per region, in USD, from `emr_pricing` in config/deplat.yaml (defaults below).
"""

from __future__ import annotations

from typing import Any

# On-demand EMR Serverless prices (Linux/x86_64), USD. Source: https://aws.amazon.com/emr/pricing/
# (the "Amazon EMR Serverless" tab), as transcribed from that page into PerfKitBenchmarker's
# perfkitbenchmarker/providers/aws/aws_dpb_emr_serverless_prices.py. Re-check before quoting.
PRICING_SOURCE = "https://aws.amazon.com/emr/pricing/"
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "us-east-1": {"vcpu_hour": 0.052624, "memory_gb_hour": 0.0057785, "storage_gb_hour": 0.000111},
    "us-east-2": {"vcpu_hour": 0.052624, "memory_gb_hour": 0.0057785, "storage_gb_hour": 0.000111},
    "us-west-2": {"vcpu_hour": 0.052624, "memory_gb_hour": 0.0057785, "storage_gb_hour": 0.000111},
    "us-west-1": {"vcpu_hour": 0.060528, "memory_gb_hour": 0.006643, "storage_gb_hour": 0.000133},
    "eu-west-1": {"vcpu_hour": 0.052624, "memory_gb_hour": 0.0057785, "storage_gb_hour": 0.000122},
    "eu-west-2": {"vcpu_hour": 0.060528, "memory_gb_hour": 0.006643, "storage_gb_hour": 0.000129},
    "eu-west-3": {"vcpu_hour": 0.06318, "memory_gb_hour": 0.00689, "storage_gb_hour": 0.000129},
    "eu-central-1": {"vcpu_hour": 0.060528, "memory_gb_hour": 0.006643, "storage_gb_hour": 0.000132},
    "eu-north-1": {"vcpu_hour": 0.05785, "memory_gb_hour": 0.00637, "storage_gb_hour": 0.000116},
}
# GetJobRun's field names -> ours.
_FIELDS = (("vCPUHour", "vcpu_hours", "vcpu_hour"), ("memoryGBHour", "memory_gb_hours", "memory_gb_hour"),
           ("storageGBHour", "storage_gb_hours", "storage_gb_hour"))


def run_cost(billed: dict[str, Any] | None, prices: dict[str, float] | None) -> dict[str, Any] | None:
    """{vcpu_hours, memory_gb_hours, storage_gb_hours, price_usd} of one run from its
    `billedResourceUtilization` (None when the engine reported none, e.g. a run still going).
    price_usd is None when the region has no price in config. Units: hours of 1 vCPU, of 1 GB of
    memory, of 1 GB of storage above the free 20 GB; USD rounded to 6 decimals."""
    if not billed:
        return None
    out: dict[str, Any] = {ours: float(billed.get(api) or 0.0) for api, ours, _ in _FIELDS}
    out["price_usd"] = (None if prices is None else
                        round(sum(out[ours] * float(prices[key]) for _, ours, key in _FIELDS), 6))
    return out


def prices_for(settings: Any, region: str) -> dict[str, float] | None:
    """The region's prices: config's `emr_pricing.regions` (the defaults above unless overridden);
    None for a region without prices."""
    pricing = getattr(settings, "emr_pricing", None)
    regions = pricing.regions if pricing is not None else DEFAULT_PRICES
    found = regions.get(region)
    return None if found is None else dict(found)


def cost_cell(cost: dict[str, Any] | None) -> str:
    """`$0.0123 (0.07 vCPU-h, 0.28 GB-h)` for a table cell; '' without a cost."""
    if not cost:
        return ""
    price = "no price" if cost.get("price_usd") is None else f"${cost['price_usd']:.4f}"
    storage = f", {cost['storage_gb_hours']:.2f} disk GB-h" if cost.get("storage_gb_hours") else ""
    return f"{price} ({cost['vcpu_hours']:.3f} vCPU-h, {cost['memory_gb_hours']:.3f} GB-h{storage})"
