"""Where services are wired together: the one place that knows the run service's gate is the DQ gate.

deplat.runs knows no DQ and deplat.dq runs its dq_check job through deplat.runs; a command that runs
pipelines gets both from here, so neither imports the other's wiring (no import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deplat.core.context import Context
    from deplat.runs import RunService


def run_service(ctx: Context, **kwargs: Any) -> RunService:
    """A deplat.runs.RunService for `ctx` whose gate steps are judged by the DQ gate
    (deplat.dq.service.DqGate); `kwargs` go to RunService (engine, confirm_cancel, clock, sleep)."""
    from deplat.dq.service import DqGate
    from deplat.runs import RunService

    return RunService(ctx, gate=DqGate(ctx), **kwargs)
