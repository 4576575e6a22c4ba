"""The local Snowflake stand-in: fakesnow's HTTP server, persistent on disk.

fakesnow's own `-s` mode keeps everything in memory; here every session shares one FakeSnow whose
databases are DuckDB files under `--db-path`, so a restart keeps the seeded TPC-H data.
The real `snowflake-connector-python` talks to it with host/port and protocol=http.

    python -m deplat.local.standins.snowflake_server --port 5060 --db-path .deplat/stack/snowflake
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_PORT = 5060
ACCOUNT = "fakesnow"
USER = "deplat"
PASSWORD = "local-fakesnow"  # noqa: S105 - fakesnow accepts any credentials
DATABASE = "TPCH"
SCHEMA = "SF0_01"


def connection_params(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> dict:
    """What the local `deplat/local/snowflake` secret holds: connector arguments for this server."""
    return {
        "account": ACCOUNT,
        "user": USER,
        "password": PASSWORD,
        "host": host,
        "port": port,
        "protocol": "http",
        "database": DATABASE,
        "schema": SCHEMA,
    }


def serve(port: int, db_path: Path, host: str = "127.0.0.1") -> None:
    """Run the server until SIGTERM/SIGINT, then close DuckDB so its files are checkpointed."""
    import fakesnow.server
    import uvicorn
    from fakesnow.instance import FakeSnow

    db_path.mkdir(parents=True, exist_ok=True)
    shared = FakeSnow(db_path=str(db_path))
    # fakesnow/__init__.py defines a function `server` too: mypy takes `fakesnow.server` for it, while
    # after `import fakesnow.server` the attribute is the submodule (fakesnow's own server() reads it so)
    fakesnow.server.shared_fs = shared  # type: ignore[attr-defined]
    try:
        uvicorn.run(fakesnow.server.app, host=host, port=port, log_level="warning")  # type: ignore[attr-defined]
    finally:
        shared.duck_conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db-path", type=Path, required=True, help="folder of the DuckDB database files")
    args = parser.parse_args(argv)
    serve(args.port, args.db_path.resolve(), args.host)


if __name__ == "__main__":
    main()
