"""CLI start-up: `deplat --help` vs a minimal Typer app's `--help`, measured side by side.

Target: ratio <= 1.3 (DESIGN.md section 7). Heavy libraries are imported only inside commands.
Usage: python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MINIMAL = '''
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "x") -> None:
    """Say hello."""
@app.command()
def bye() -> None:
    """Say bye."""
app()
'''


def _time(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL)
        _time([sys.executable, str(minimal), "--help"], 2)  # warm the page cache for both
        _time([sys.executable, "-m", "deplat.cli", "--help"], 2)
        # Interleave so drift on a shared 2-core machine hits both sides alike.
        base, ours = [], []
        for _ in range(runs):
            base.append(_time([sys.executable, str(minimal), "--help"], 1))
            ours.append(_time([sys.executable, "-m", "deplat.cli", "--help"], 1))
    b, o = statistics.median(base), statistics.median(ours)
    print(f"minimal typer --help: {b * 1000:.0f} ms (median of {runs})")
    print(f"deplat --help:        {o * 1000:.0f} ms (median of {runs})")
    print(f"ratio deplat/minimal: {o / b:.2f}")


if __name__ == "__main__":
    main()
