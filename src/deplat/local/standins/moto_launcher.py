"""Start moto's server with EMR Serverless applications created in state CREATED, as AWS does.

Usage: python -m deplat.local.standins.moto_launcher <port> [--emr-standin <dir> [--minute-seconds <s>]]

With --emr-standin, EMR Serverless is the stand-in that runs real Spark
(`deplat.local.standins.emr_serverless`), its run folders under <dir>.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="moto_launcher")
    parser.add_argument("port", nargs="?", default="5050")
    parser.add_argument("--emr-standin", default=None)
    parser.add_argument("--minute-seconds", type=float, default=60.0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import moto.emrserverless.models as emr_models
    from moto.server import main as moto_main

    # moto's default is STARTED; real AWS creates applications CREATED and starts them on demand.
    emr_models.APPLICATION_STATUS = "CREATED"
    if args.emr_standin:
        from deplat.local.standins.emr_serverless.backend import install

        install(args.emr_standin, f"http://127.0.0.1:{args.port}", minute_seconds=args.minute_seconds)
    moto_main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
