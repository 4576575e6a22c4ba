"""`deplat lineage`: the OpenLineage graph recorded by `deplat run`, as a tree."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit

app = typer.Typer(no_args_is_help=True)


@app.command("show")
def show(
    tctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="<layer>.<table>, e.g. gold.daily_revenue")],
    upstream: Annotated[bool, typer.Option("--upstream/--downstream",
                                           help="Where it comes from (default) or what reads it.")] = True,
    depth: Annotated[int, typer.Option(help="Dataset hops to follow.", min=1)] = 10,
    output: OutputOpt = None,
) -> None:
    """The lineage of a table from the recorded run events (jobs with their last state)."""
    from deplat.lineage import tree

    ctx = context(tctx, output)
    graph = tree(ctx, dataset, upstream=upstream, depth=depth)

    def render() -> None:
        from rich.console import Console
        from rich.text import Text
        from rich.tree import Tree

        colour = {"COMPLETE": "green", "FAIL": "red", "START": "yellow"}

        # Names, states and messages come from recorded events: literal Text, styles set apart.
        def add(branch, node) -> None:
            for job in node["jobs"]:
                note = f" ({job['message']})" if job["state"] == "FAIL" and job["message"] else ""
                if job.get("repeated"):
                    branch.add(Text(f"job {job['job']} (shown above)", style="dim"))
                    continue
                sub = branch.add(Text.assemble(("job", "dim"), f" {job['job']} ",
                                               (str(job["state"]), colour.get(job["state"], "white")),
                                               " ", (str(job["time"]), "dim"), note))
                for ds in job["datasets"]:
                    leaf = sub.add(Text.assemble((str(ds["dataset"]), "bold"),
                                                 (" …", "dim") if ds.get("truncated") else ""))
                    add(leaf, ds)

        root = Tree(Text.assemble((str(graph["dataset"]), "bold"),
                                  (f" ({'upstream' if upstream else 'downstream'})", "dim")))
        add(root, graph)
        Console(highlight=False, emoji=False).print(root)

    emit(ctx, graph, render)
