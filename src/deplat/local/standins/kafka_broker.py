"""The local Kafka broker: Apache Kafka 4.x in KRaft mode (one combined broker + controller node).

The broker runs from its Maven Central jars on Java 17. `mvn dependency:copy-dependencies` resolves
them once into `<cache>/kafka-<version>/libs`, a folder of its own with its own manifest: it is
never on Spark's classpath (Spark's connector brings kafka-clients 3.4.1 and Scala 2.12; the broker
is Scala 2.13 with clients 4.x). Facts checked on this machine kind:
../shared/notes/facts-streaming-dq-catalog-lineage.md, section A.

Data, config and the cluster id live under `.deplat/stack/kafka/`; both listeners bind 127.0.0.1.
Formatting uses a static voter set and `--ignore-formatted`, so it is idempotent.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import uuid
from pathlib import Path

from deplat.core.config import LocalStackSettings
from deplat.core.proc import ProcessError, run
from deplat_job.errors import LocalStackError

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"  # log4j-slf4j-impl: the SLF4J 1.x binding the broker's POM lacks
HEAP = ("-Xms256m", "-Xmx512m")  # without -Xmx the JVM takes a quarter of RAM

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>deplat.local</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies></project>
"""

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.startup.name = kafka.server.KafkaRaftServer
logger.startup.level = INFO
"""


def coordinates() -> list[str]:
    """The Maven coordinates the broker is resolved from."""
    return [f"org.apache.kafka:kafka_{SCALA_VERSION}:{KAFKA_VERSION}",
            f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}"]


def libs_dir() -> Path:
    from deplat.core.config import cache_dir

    return cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"


def _manifest() -> Path:
    return libs_dir().parent / "manifest.json"


def cached_libs() -> list[str] | None:
    """The broker's jars if the cache holds today's coordinates, else None."""
    path = _manifest()
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    jars = record.get("jars", [])
    if record.get("coordinates") != coordinates() or not jars:
        return None
    return jars if all(Path(j).is_file() for j in jars) else None


def ensure_libs(timeout: float = 900) -> list[str]:
    """Resolve the broker jars from Maven Central once (needs `mvn`), then serve them offline.

    Returns the jar paths. Raises LocalStackError when Maven is missing or resolution fails.
    """
    jars = cached_libs()
    if jars:
        return jars
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalStackError("Maven (`mvn`) is needed once to resolve the Kafka broker jars",
                              "apt-get install maven")
    libs = libs_dir()
    if libs.exists():
        shutil.rmtree(libs)  # a half-finished resolution; start clean
    libs.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_POM.format(scala=SCALA_VERSION, kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
        cmd = [mvn, "-B", "-q", "-f", str(pom), f"-Dmaven.repo.local={libs.parent.parent / 'm2'}",
               "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={libs}"]
        try:
            run(cmd, timeout=timeout, what="resolving the Kafka broker jars (mvn)")
            failure = None
        except ProcessError as exc:
            failure = exc
    jars = sorted(str(p) for p in libs.glob("*.jar"))
    if failure is not None or not jars:
        raise LocalStackError("could not resolve the Kafka broker jars from Maven Central",
                              "check network access to repo1.maven.org; Maven's output is below",
                              detail=failure.detail if failure else "Maven copied no jars")
    _manifest().write_text(json.dumps({"coordinates": coordinates(), "jars": jars}, indent=2))
    return jars


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise LocalStackError("java not found: the Kafka broker needs Java 17 or newer",
                              "apt-get install openjdk-17-jre-headless")
    return java


def server_properties(data_dir: Path, s: LocalStackSettings) -> str:
    """A combined broker + controller, loopback only, single-node replication factors."""
    port, ctl = s.kafka_port, s.kafka_controller_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{ctl}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # The 3 s default delays the first consumer-group join in every test.
        "group.initial.rebalance.delay.ms": "0",
        # `deplat kafka topics` creates topics with their declared partitions.
        "auto.create.topics.enable": "false",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _cluster_id(folder: Path) -> str:
    path = folder / "cluster.id"
    if path.is_file():
        return path.read_text().strip()
    # What `kafka-storage random-uuid` prints: a UUID in URL-safe base64 without padding.
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    path.write_text(cid + "\n")
    return cid


def prepare(folder: Path, s: LocalStackSettings) -> None:
    """Resolve the jars, write the config, and format the log directory (idempotent)."""
    libs = ensure_libs()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    (folder / "server.properties").write_text(server_properties(data, s))
    (folder / "log4j2.properties").write_text(_LOG4J2)
    cid = _cluster_id(folder)
    cmd = [_java(), "-Xmx256m", *_jvm_common(folder), "-cp", _classpath(libs), "kafka.tools.StorageTool",
           "format", "-t", cid, "-c", str(folder / "server.properties"), "--ignore-formatted"]
    try:
        run(cmd, timeout=120, what="kafka-storage format")
    except ProcessError as exc:
        raise LocalStackError("formatting the Kafka log directory failed",
                              f"see {folder}; delete {data} to start the broker from scratch",
                              detail=exc.detail) from None


def _classpath(libs: list[str]) -> str:
    return ":".join(libs)


def _jvm_common(folder: Path) -> list[str]:
    return ["-Djava.awt.headless=true", f"-Dlog4j2.configurationFile=file:{folder / 'log4j2.properties'}"]


def command(folder: Path, s: LocalStackSettings) -> list[str]:
    """`java ... kafka.Kafka server.properties`, what kafka-server-start.sh runs."""
    libs = cached_libs() or ensure_libs()
    return [_java(), *HEAP, "-XX:+UseG1GC", *_jvm_common(folder),
            f"-Dkafka.logs.dir={folder / 'logs'}", "-cp", _classpath(libs), "kafka.Kafka",
            str(folder / "server.properties")]


def metadata_ok(bootstrap: str, timeout: float = 3.0) -> bool:
    """A real metadata request (confluent-kafka AdminClient.list_topics) answered by a broker."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000,
                         "log_level": 0})
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(meta.brokers)
