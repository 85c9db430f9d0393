"""The local Apache Kafka broker: jars from Maven Central, KRaft single node, real readiness."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from devstack.procs import Child, StackError, require_free_port, wait_until
from devstack.settings import KAFKA_VERSION, StackSettings
from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import client_options, connect_admin, ensure_topics

PROBE_TOPIC = "streamsuite.probe"
# The publishers' status reports (streamsuite_publisher.status): only the newest per key counts,
# so compacted; a day's retention drops the keys of publishers long gone. As the chart's.
STATUS_TOPIC_CONFIG = {
    "cleanup.policy": "compact,delete",
    "retention.ms": "86400000",
    "segment.ms": "3600000",
}


def ensure_status_topic(admin: KafkaAdminClient, name: str) -> bool:
    """Create the compacted status topic unless it exists; True when this call created it."""
    if name in set(admin.list_topics()):
        return False
    try:
        admin.create_topics([NewTopic(name, 1, 1, topic_configs=STATUS_TOPIC_CONFIG)])
    except TopicAlreadyExistsError:
        return False  # another process was first
    return True


def libs_dir(settings: StackSettings) -> Path:
    return settings.cache / f"kafka-{KAFKA_VERSION}" / "libs"


def require_tool(name: str, package_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} not found on PATH: install {package_hint}")
    return path


def fetch(settings: StackSettings) -> Path:
    """Resolve the broker's jars with Maven into the cache once; later calls reuse them."""
    libs = libs_dir(settings)
    marker = libs / ".complete"
    if marker.is_file():
        return libs
    require_tool("java", "a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
    mvn = require_tool("mvn", "Maven (e.g. apt-get install maven)")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    print(f"fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {libs} ...", flush=True)
    result = subprocess.run(
        [
            mvn, "-q", "-B",
            f"-Dmaven.repo.local={settings.cache / 'm2'}",
            "-f", str(settings.root / "dev" / "kafka" / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
        raise StackError(f"mvn could not fetch Kafka: {(lines or ['unknown error'])[0][:300]}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(KAFKA_VERSION + "\n")
    return libs


def _cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding; like Kafka's
    # own Uuid.randomUuid, never one starting with "-", which a command line takes for an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(settings: StackSettings, data_dir: Path) -> str:
    port, controller = settings.kafka_port, settings.kafka_controller_port
    return "\n".join(
        [
            "# Written by devstack on every start; edit dev/src/devstack/kafka.py instead.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={settings.partitions}",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # A single local consumer should not wait 3 s for company before it gets partitions.
            "group.initial.rebalance.delay.ms=0",
            # Tests create a topic per test; let nothing be created by a typo in a topic name.
            "auto.create.topics.enable=false",
            "",
        ]
    )


class KafkaBroker:
    name = "kafka"

    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.home = settings.var / "kafka"
        self.data = self.home / "data"
        self.child: Child | None = None

    @property
    def client_settings(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=(self.settings.bootstrap,), connect_timeout_s=5)

    def start(self) -> None:
        require_tool("java", "a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
        require_free_port(self.settings.kafka_port, "Kafka", "DEVSTACK_KAFKA_PORT")
        require_free_port(
            self.settings.kafka_controller_port,
            "Kafka controller",
            "DEVSTACK_KAFKA_CONTROLLER_PORT",
        )
        libs = fetch(self.settings)
        self.home.mkdir(parents=True, exist_ok=True)
        properties = self.home / "server.properties"
        properties.write_text(self.server_properties())
        classpath = f"{libs}/*"
        if not (self.data / "meta.properties").is_file():
            # First run: format the KRaft storage once; later runs keep their data.
            result = subprocess.run(
                ["java", "-cp", classpath, "kafka.tools.StorageTool", "format",
                 "-t", _cluster_id(), "-c", str(properties), "--ignore-formatted",
                 *self.format_args()],
                check=False, capture_output=True, text=True,
            )  # fmt: skip
            if result.returncode != 0:
                last = (result.stderr or result.stdout).strip().splitlines()[-1:]
                raise StackError(f"kafka storage format failed: {last}")
        log_config = self.settings.root / "dev" / "kafka" / "log4j2.yaml"
        self.child = Child(
            self.name,
            [
                "java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={log_config}",
                "-cp", classpath, "kafka.Kafka", str(properties),
            ],
            log_path=self.settings.logs / "kafka.log",
            pid_path=self.settings.run / "kafka.pid",
        ).start()  # fmt: skip

    def server_properties(self) -> str:
        return server_properties(self.settings, self.data)

    def format_args(self) -> list[str]:
        """Extra arguments of the storage format (a test broker with SCRAM adds its users)."""
        return []

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Ready means: topics exist and a probe message went through produce and consume."""
        wait_until(self._admin_answers, what="kafka", timeout_s=timeout_s, child=self.child)
        admin = connect_admin(self.client_settings)
        try:
            ensure_topics(
                admin,
                [self.settings.topic, self.settings.dlq_topic],
                partitions=self.settings.partitions,
            )
            ensure_topics(admin, [PROBE_TOPIC], partitions=1)
            ensure_status_topic(admin, self.settings.status_topic)
        finally:
            admin.close()
        self.probe_round_trip()

    def _admin_answers(self) -> bool:
        try:
            connect_admin(self.client_settings, timeout_s=0).close()
        except Exception:
            return False
        return True

    def probe_round_trip(self, timeout_s: float = 30.0) -> None:
        options = client_options(self.client_settings, client_id="devstack-probe")
        token = uuid.uuid4().hex.encode()
        producer = KafkaProducer(acks="all", **options)
        try:
            metadata = producer.send(PROBE_TOPIC, value=token).get(timeout=timeout_s)
        except KafkaError as exc:
            raise StackError(f"kafka: probe message not acknowledged: {exc}") from exc
        finally:
            producer.close()
        consumer = KafkaConsumer(**options)
        try:
            partition = TopicPartition(PROBE_TOPIC, metadata.partition)
            consumer.assign([partition])
            consumer.seek(partition, metadata.offset)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=500).values():
                    if any(record.value == token for record in records):
                        return
        finally:
            consumer.close()
        raise StackError(f"kafka: probe message produced but not consumed within {timeout_s:g}s")

    def probe_ok(self) -> bool:
        try:
            self.probe_round_trip(timeout_s=10)
        except (StackError, KafkaError, OSError):
            return False
        return True

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout_s=30)
