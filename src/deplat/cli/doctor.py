"""`deplat doctor`: check tools, caches, local services and AWS access for the environment."""

from __future__ import annotations

import typer

from deplat.cli._common import OutputOpt, context, emit, table

NAME = "doctor"


def command(tctx: typer.Context, output: OutputOpt = None) -> None:
    """Check Python, Java, Terraform + provider mirror, jar cache, local services, AWS access.

    Exits 1 when a required check fails; each failure names its fix.
    """
    from deplat.doctor import run_checks

    ctx = context(tctx, output)
    checks = run_checks(ctx)
    from deplat.core.console import literal

    rows = [[c.name, literal("pass", "green") if c.ok else (literal("FAIL", "red") if c.required else
                                                            literal("warn", "yellow")),
             c.detail, "" if c.ok else c.fix] for c in checks]
    emit(ctx, {"env": ctx.env.name, "ok": all(c.ok for c in checks if c.required),
               "checks": [c.to_dict() for c in checks]},
         lambda: table(f"deplat doctor ({ctx.env.name})", ["check", "result", "detail", "fix"], rows))
    if not all(c.ok for c in checks if c.required):
        raise typer.Exit(1)
