"""`deplat local seed` and `deplat local dms-capture`: load the local sources, the way the cloud has them.

Seeding is idempotent: TPC-H is loaded into fakesnow only when its row counts differ from dbgen's,
the RDS stand-in's rows and CDC slot only once, the DMS full load only when no LOAD files exist.
At another scale factor (`--scale`, deplat.local.scale) each source is replaced at the new size:
TPC-H reloaded, the RDS tables refilled (slot recreated, a new DMS LOAD file), the Salesforce
stand-in restarted with the new org.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError

if TYPE_CHECKING:
    from deplat.core.context import Context
    from deplat.local.scale import SourceSizes


@dataclass
class LocalSeedResult:
    snowflake: dict[str, Any]
    rds: dict[str, Any]
    dms: dict[str, Any]
    salesforce: dict[str, Any]
    scale: float = 0.01

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require_local(ctx: Context) -> None:
    if not ctx.env.is_local:
        raise ConfigError(f"`deplat local` seeds the local stand-ins, not environment '{ctx.env.name}'",
                          "in the cloud the sources are real: put their credentials with `deplat secrets put`")


def seed_all(ctx: Context, scale_factor: float = 0.01) -> LocalSeedResult:
    """TPC-H into fakesnow, the RDS schema + rows + slot into PostgreSQL, the connection secrets
    into Secrets Manager, and the DMS full load into the lake's landing area, each at
    `scale_factor` (deplat.local.scale.source_sizes; the default is the sample, sf 0.01)."""
    from dataclasses import asdict as _asdict

    from deplat.local.rds import seed_rds
    from deplat.local.rds import seed_secret as seed_rds_secret
    from deplat.local.scale import record_scale, source_sizes
    from deplat.local.seed_snowflake import seed_snowflake
    from deplat.local.standins.salesforce_server import seed_secret

    _require_local(ctx)
    sizes = source_sizes(scale_factor)
    with ctx.reporter.status(f"Loading TPC-H (sf={scale_factor}) into the Snowflake stand-in..."):
        snow = seed_snowflake(ctx, scale_factor=scale_factor)
    with ctx.reporter.status(f"Seeding PostgreSQL (RDS stand-in, {sizes.rds_customers:,} customers, "
                             f"{sizes.rds_orders:,} orders)..."):
        rds = seed_rds(ctx.settings.local_stack, customers=sizes.rds_customers, orders=sizes.rds_orders)
        rds_secret = seed_rds_secret(ctx)
    if record_scale(ctx.stack_dir, scale_factor):
        _restart_salesforce(ctx, sizes)
    salesforce = {**seed_secret(ctx), "accounts": sizes.sf_accounts, "opportunities": sizes.sf_opportunities}
    dms = capture(ctx, full=True, reload=rds.replaced)
    return LocalSeedResult(_asdict(snow), {**rds.to_dict(), "secret": rds_secret}, dms, salesforce,
                           sizes.scale)


def _restart_salesforce(ctx: Context, sizes: SourceSizes) -> None:
    """Restart the Salesforce stand-in (if this stack runs it) so it generates the org at `sizes`."""
    from deplat.local.stack import LocalStack

    stack = LocalStack(ctx.stack_dir, ctx.settings.local_stack)
    [status] = stack.status(["salesforce"])
    if not status.healthy:
        return  # `deplat local up` starts it at the recorded scale
    with ctx.reporter.status(f"Restarting the Salesforce stand-in with {sizes.sf_accounts:,} Accounts and "
                             f"{sizes.sf_opportunities:,} Opportunities..."):
        stack.down(["salesforce"], confirmed=True)
        stack.up(["salesforce"])


def capture(ctx: Context, full: bool = False, sample_changes: int = 0, reload: bool = False) -> dict[str, Any]:
    """Write the RDS stand-in's changes (and, with `full`, the full load; with `reload` too, a new
    LOAD file even where one exists) as DMS S3-target files."""
    from deplat.local.dms_capture import dms_capture
    from deplat.local.rds import apply_sample_changes
    from deplat_job.sources.dms import landing_root

    _require_local(ctx)
    settings = ctx.settings.local_stack
    if sample_changes:
        apply_sample_changes(settings, n=sample_changes)
    with ctx.reporter.status("Capturing PostgreSQL changes as DMS files..."):
        result = dms_capture(landing_root(ctx.lake_uri), settings, full=full, reload=reload)
    return result.to_dict()
