"""Start moto's server with EMR Serverless applications created in state CREATED, as AWS does.

Usage: python -m deplat.local.moto_launcher <port>
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    port = argv[0] if argv else "5050"
    import moto.emrserverless.models as emr_models
    from moto.server import main as moto_main

    # moto's default is STARTED; real AWS creates applications CREATED and starts them on demand.
    emr_models.APPLICATION_STATUS = "CREATED"
    moto_main(["-H", "127.0.0.1", "-p", str(port)])


if __name__ == "__main__":
    main()
