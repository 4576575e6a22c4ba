"""Shared fixtures. Fake AWS credentials for every test: no test can ever reach a real account."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# Each folder is a tier; its marker comes from the folder (`make test-fast` deselects all but unit/). The tier is the
# first folder under tests/: below it the tree mirrors src/ (tests/unit/deplat/core/test_config.py is a unit test).
# unit/: no JVM, no local stack. spark/: the shared SparkSession, no local stack. integration/ and
# e2e/: the local stack (and often Spark or Terraform too, marked in the module).
TIER_MARKERS = {"unit": (), "spark": ("spark",), "integration": ("integration",), "e2e": ("integration",)}


def tier_of(path: Path) -> str:
    """The tests/ sub-folder a test module lives in ("" for a module outside tests/)."""
    try:
        return path.resolve().relative_to(ROOT / "tests").parts[0]
    except (ValueError, IndexError):
        return ""


def pytest_collection_modifyitems(config, items):
    """Marks each test by its folder; a test under unit/ that asks for the SparkSession is a usage error."""
    jvm_in_unit = []
    for item in items:
        tier = tier_of(Path(str(item.fspath)))
        for marker in TIER_MARKERS.get(tier, ()):
            item.add_marker(marker)
        if tier == "unit" and "spark" in getattr(item, "fixturenames", ()):
            jvm_in_unit.append(item.nodeid)
    if jvm_in_unit:
        raise pytest.UsageError("tests under tests/unit start no JVM; move these to tests/spark: "
                                + ", ".join(jvm_in_unit))


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def clear_deplat_env(monkeypatch) -> None:
    """Unset the DEPLAT_* variables that choose or override an environment: the reserved ones
    (DEPLAT_ENV, DEPLAT_HOME, DEPLAT_STACK_DIR, ...; not DEPLAT_CACHE, the per-user download cache) and
    every `DEPLAT_[<ENV>_]<field>` override config._env_overrides would read (DEPLAT_LAKE_URI,
    DEPLAT_SPARK_MASTER, DEPLAT_PROD_PROFILE, ...), so a developer's own cannot leak into a test.
    Machine settings stay (DEPLAT_EMR_PYTHON, DEPLAT_SPARK_JARS, ...). Both environment factories
    (deplat_env here and tests.integration.deplat_project.make_project) start with it."""
    from deplat.core.config import _RESERVED_VARS, ENV_PREFIX, Environment

    fields = [f.upper() for f in Environment.model_fields]
    for var in list(os.environ):
        override = var.startswith(ENV_PREFIX) and any(var == ENV_PREFIX + f or var.endswith("_" + f) for f in fields)
        if (var in _RESERVED_VARS and var != "DEPLAT_CACHE") or override:
            monkeypatch.delenv(var)


@pytest.fixture
def deplat_env(tmp_path, monkeypatch):
    """The one way a test gives deplat an environment: `deplat_env(config=None, lake=True, outputs=None)`
    -> SimpleNamespace(root, home, lake, config), every DEPLAT_* variable set or cleared.

    config: None = the project's config/deplat.yaml (DEPLAT_CONFIG); YAML text = a project in tmp
    (root/config/deplat.yaml, found from the working directory, which becomes root). home =
    root/.deplat (DEPLAT_HOME). lake: DEPLAT_LAKE_URI = tmp/lake (not created), the Path given, or
    None when False (the config's lake_uri). outputs: the local env's cached Terraform outputs (as if
    `infra apply` had run).
    """
    from types import SimpleNamespace

    def make(config: str | None = None, lake: bool | Path = True, outputs: dict | None = None) -> SimpleNamespace:
        import json

        clear_deplat_env(monkeypatch)
        root = tmp_path
        if config is None:
            config_file = ROOT / "config" / "deplat.yaml"
            monkeypatch.setenv("DEPLAT_CONFIG", str(config_file))
        else:
            config_file = root / "config" / "deplat.yaml"
            config_file.parent.mkdir(parents=True, exist_ok=True)
            config_file.write_text(config)
            monkeypatch.chdir(root)
        home = root / ".deplat"
        monkeypatch.setenv("DEPLAT_HOME", str(home))
        lake_path = (lake if isinstance(lake, Path) else root / "lake") if lake else None
        if lake_path is not None:
            monkeypatch.setenv("DEPLAT_LAKE_URI", str(lake_path))
        if outputs is not None:
            (home / "local").mkdir(parents=True, exist_ok=True)
            (home / "local" / "outputs.json").write_text(json.dumps(outputs))
        return SimpleNamespace(root=root, home=home, lake=lake_path, config=config_file)

    return make


@pytest.fixture
def lake(deplat_env):
    """The local env with its state (DEPLAT_HOME) and lake in tmp: -> the lake folder (not created)."""
    return deplat_env().lake


@pytest.fixture(scope="session")
def local_stack():
    """The real local stack (moto, PostgreSQL), started if needed; `up` is idempotent."""
    from deplat.core.config import load_settings
    from deplat.local.stack import LocalStack

    settings = load_settings(ROOT / "config" / "deplat.yaml", environ={})
    stack = LocalStack(settings.stack_dir, settings.local_stack)
    stack.up()
    return stack


@pytest.fixture
def salesforce_stand_in():
    """Start a private Salesforce stand-in on its own port: `start(seed, ...)` -> (org, connected client).
    Stopped when the test ends."""
    from deplat.local.standins.salesforce_server import LOCAL_CREDENTIALS, Org, serve_in_thread
    from deplat_job.sources import salesforce as source

    servers = []

    def start(seed: int, accounts: int = 12, opportunities: int = 0, page_size: int = 5):
        org = Org(seed=seed, accounts=accounts, opportunities=opportunities, page_size=page_size)
        server, _ = serve_in_thread(org)
        servers.append(server)
        return org, source.connect(source.SalesforceConfig(login_url=server.instance_url, **LOCAL_CREDENTIALS))

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One SparkSession (local[2], Delta, jars from the offline cache) for the whole test session."""
    from deplat.local.jars import ensure_jars
    from deplat_job.pipelines.session import get_spark

    os.environ.setdefault("DEPLAT_SPARK_WAREHOUSE", str(tmp_path_factory.mktemp("warehouse")))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # as the local engine: workers import deplat
    session = get_spark("deplat-tests", master="local[2]", jars=ensure_jars())
    yield session
    session.stop()


_EXIT_STATUS = 0


def pytest_sessionfinish(session, exitstatus):
    global _EXIT_STATUS
    _EXIT_STATUS = int(exitstatus)
    # The warm Spark drivers the tests' stand-in runs started would otherwise idle on for their timeout.
    from deplat.local.standins.emr_serverless.supervisor import WARM_DIR, stop_warm_drivers

    factory = getattr(session.config, "_tmp_path_factory", None)
    roots = [ROOT / ".deplat"] + ([factory.getbasetemp()] if factory else [])
    for root in roots:
        for warm in Path(root).glob(f"**/runs/{WARM_DIR}"):
            stop_warm_drivers(warm.parent)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process without interpreter finalisation once pyarrow's dataset scanner ran (deltalake's
    to_pyarrow_table): its pool threads abort the process at shutdown about one run in ten
    (apache/arrow#45214), which would turn a passing suite into exit 134. Results are reported by now."""
    import sys

    if "pyarrow._dataset" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's DeplatError shows its `detail` too (a subprocess's output, a driver log tail),
    which its message leaves out: a failure seen once in CI can then be read, not guessed."""
    outcome = yield
    report = outcome.get_result()
    detail = getattr(call.excinfo.value, "detail", None) if call.excinfo else None
    if report.failed and detail:
        report.sections.append(("deplat error detail", str(detail)[-4000:]))
