"""`deplat status`: the application's state, the recent runs and the platform's alarms."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit, table

NAME = "status"


def command(
    tctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many recent runs.", min=1)] = 20,
    output: OutputOpt = None,
) -> None:
    """Application state, recent runs (pipeline, step, state, times from the engine, run id) and the
    CloudWatch alarms' states (OK / ALARM / INSUFFICIENT_DATA)."""
    from deplat.runs import RunService

    ctx = context(tctx, output)
    result = RunService(ctx).status(limit=limit)

    def render() -> None:
        app = result.application
        typer.echo(application_line(result.env, app) + (f" — {app['error']}" if app.get("error") else ""))
        if app.get("hint"):
            typer.echo(f"  {app['hint']}")
        if result.deployed:
            typer.echo(deployed_line(result.deployed))
        if not result.runs:
            typer.echo("recent runs: none yet")
        else:
            from deplat.core.cost import cost_cell

            table("recent runs", ["run id", "pipeline", "step", "state", "started", "ended", "duration", "cost"],
                  [[r["run_id"], r.get("pipeline"), r.get("step"), r.get("state"),
                    r.get("started_at") or r.get("submitted_at"), r.get("ended_at"),
                    f"{r['duration_s']:.0f}s" if r.get("duration_s") is not None else "",
                    cost_cell(r.get("cost"))] for r in result.runs])
        if result.alarms:
            table("alarms", ["name", "state", "since", "reason"],
                  [[a["name"], a["state"], a["since"], a["reason"]] for a in result.alarms])

    emit(ctx, result.to_dict(), render)


def application_line(env: str, app: dict) -> str:
    """`<env>: application <id> (<name>) <state>`, or `<env>: no application (<state>)` when there is none
    (not applied yet, or the stack is down): never an empty name."""
    if not app.get("id"):
        return f"{env}: no application ({app.get('state') or 'unknown'})"
    name = f" ({app['name']})" if app.get("name") else ""
    return f"{env}: application {app['id']}{name} {app.get('state')}"


def deployed_line(deployed: dict) -> str:
    """`deployed: manifest <hash12> (promoted from dev, green batch <id>, <when>)` or `(deplat deploy, git <sha>)`."""
    where = deployed.get("source", "deplat deploy")
    if deployed.get("source_env"):
        where += f", green batch {deployed.get('batch_id')}, promoted {deployed.get('promoted_at')}"
    else:
        git = (deployed.get("git_sha") or "")[:12]
        when = deployed.get("deployed_at")
        where += (f", git {git}" if git else "") + (f", {when}" if when else "")
    return f"deployed: manifest {deployed['manifest_hash'][:12]} ({where})"
