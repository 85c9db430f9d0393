"""The chart's KafkaUser ACLs against a real broker: enough for what each service does, and no
more. A broker of this test's own runs SCRAM-SHA-512 and Kafka's StandardAuthorizer with the
ACLs exactly as `helm template` renders them; the services' own Kafka code then runs as each
user (the publisher and the web Submit in transactions with refusals to the DLQ, the ingestor
consuming both topics in its group into PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import TopicAuthorizationFailedError
from psycopg2 import sql

from devstack.kafka_auth import ScramBroker, chart_acls, kafka_acls
from devstack.settings import StackSettings
from devstack.testing import free_port, migrated_schema, running_ingestor, wait_for
from streamsuite_common.config import HttpSettings, KafkaSettings, LogSettings, load_config
from streamsuite_common.db import connect_kwargs
from streamsuite_common.kafka import (
    client_options,
    connect_admin,
    default_transactional_id,
    ensure_topics,
)
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_ingestor.config import IngestorConfig, IngestorSettings
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import Spool
from streamsuite_publisher.status import Backlog, Identity, StatusReporter
from streamsuite_web.backlog import BacklogReader
from streamsuite_web.lag import LagReader
from streamsuite_web.submit import Submitter, limits_of, prepare

CHART = Path(__file__).resolve().parents[2] / "helm" / "streamsuite"
TOPIC, DLQ, GROUP = "records", "records.dlq", "streamsuite-ingestor"


@pytest.fixture(scope="module")
def acls() -> dict[str, list[dict]]:
    return chart_acls(CHART)


@pytest.fixture(scope="module")
def broker(tmp_path_factory, acls) -> Iterator[ScramBroker]:
    users = {name: f"{name}-password" for name in acls}
    settings = dataclasses.replace(
        StackSettings.from_env(),
        var=tmp_path_factory.mktemp("scram-kafka"),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        pg_port=free_port(),
        partitions=2,
        database_url=None,
    )
    server = ScramBroker(settings, free_port(), users)
    server.start()
    try:
        server.wait_ready()
        admin = connect_admin(server.client_settings)
        try:
            ensure_topics(admin, [TOPIC, DLQ], partitions=2)
            admin.create_acls(
                [a for user, rules in acls.items() for r in rules for a in kafka_acls(user, r)]
            )
        finally:
            admin.close()
        yield server
    finally:
        server.stop()


def as_user(broker: ScramBroker, user: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=(f"127.0.0.1:{broker.sasl_port}",),
        topic=TOPIC,
        dlq_topic=DLQ,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user,
        sasl_password=f"{user}-password",
        connect_timeout_s=10,
        request_timeout_s=10,
    )


def publish_inbox(kafka: KafkaSettings, inbox: Path) -> None:
    """The publisher service, as in its container, over the inbox until it is empty."""
    tree = {
        "KAFKA": {
            "BOOTSTRAP_SERVERS": ",".join(kafka.bootstrap_servers),
            "SECURITY_PROTOCOL": kafka.security_protocol,
            "SASL_USERNAME": kafka.sasl_username,
            "SASL_PASSWORD": kafka.sasl_password,
        },
        "PUBLISHER": {"INBOX": str(inbox), "STABLE_S": 0.1},
        "HTTP": {"HOST": "127.0.0.1", "PORT": 0},
    }
    cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
    shutdown = Shutdown()
    spool = Spool(inbox, delete_published=False)
    # The default id, as in a pod: the ACL allows the "streamsuite-publisher-" prefix.
    publisher = TransactionalPublisher(cfg.kafka, spool.default_transactional_id(), shutdown.event)
    try:
        PublisherService(cfg, spool, publisher, shutdown).run(once=True)
    finally:
        publisher.close()
        spool.close()


def test_chart_users_are_the_three_kafka_clients(acls):
    assert set(acls) == {"streamsuite-publisher", "streamsuite-ingestor", "streamsuite-web"}


def test_each_service_does_its_whole_job_as_its_chart_user(
    broker, tmp_path, admin_conn, writer_settings, reader_settings
):
    # The publisher: a good file and a refused one, one transaction with its dead letter.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "ada.json").write_text(json.dumps({"name": "Ada", "age": 36}))
    (inbox / "broken.json").write_text('{"name": ')
    publish_inbox(as_user(broker, "streamsuite-publisher"), inbox)
    assert [p.name for p in (inbox / "processed").rglob("ada.json")] == ["ada.json"]
    assert [p.name for p in (inbox / "error").rglob("broken.json")] == ["broken.json"]

    # The web UI's Submit: its own transactional-id prefix.
    submitter = Submitter(as_user(broker, "streamsuite-web"), default_transactional_id("web"))
    try:
        prepared = prepare(
            "grace.yaml",
            b"name: Grace\nage: 45\n",
            limits=limits_of(1_000_000, 64, 1_000_000),
            topic=TOPIC,
            dlq_topic=DLQ,
            at=datetime.now(UTC),
        )
        submitter.publish(prepared.messages)
    finally:
        submitter.close()

    # The ingestor: both topics in its group, into PostgreSQL, offsets committed.
    with migrated_schema(admin_conn, writer_settings, reader_settings, prefix="acl") as schema:
        cfg = IngestorConfig(
            kafka=as_user(broker, "streamsuite-ingestor"),
            database=dataclasses.replace(writer_settings, schema=schema),
            log=LogSettings(),
            http=HttpSettings(port=0),
            ingestor=IngestorSettings(group_id=GROUP, migrate_on_start=False),
        )
        conn = psycopg2.connect(**connect_kwargs(writer_settings, application_name="acl-test"))
        conn.autocommit = True

        def stored() -> tuple[set[str], int]:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT name FROM {}.records").format(sql.Identifier(schema)))
                names = {row[0] for row in cur.fetchall()}
                cur.execute(
                    sql.SQL("SELECT count(*) FROM {}.dead_letters").format(sql.Identifier(schema))
                )
                return names, cur.fetchone()[0]

        try:
            with running_ingestor(cfg):
                wait_for(
                    lambda: stored() == ({"Ada", "Grace"}, 1),
                    what="records and dead letter",
                    timeout_s=60,
                )
        finally:
            conn.close()


def poll_for_a_while(consumer: KafkaConsumer) -> None:
    for _ in range(10):
        consumer.poll(timeout_ms=1000)


def test_publisher_may_not_read_the_records(broker):
    options = client_options(as_user(broker, "streamsuite-publisher"), client_id="acl-test")
    # No group (that alone would be refused): the topic itself must be.
    consumer = KafkaConsumer(**options)
    consumer.assign([TopicPartition(TOPIC, 0)])
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            poll_for_a_while(consumer)
    finally:
        consumer.close()


def test_ingestor_may_not_write_the_records_topic(broker):
    options = client_options(as_user(broker, "streamsuite-ingestor"), client_id="acl-test")
    producer = KafkaProducer(acks="all", max_block_ms=5000, **options)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(TOPIC, value=b"{}").get(timeout=10)
    finally:
        producer.close()


def test_publisher_reports_its_backlog_and_the_web_reads_it_as_their_chart_users(broker, tmp_path):
    identity = Identity("streamsuite-publisher-acl-0", "acl-host", str(tmp_path), "acl")
    reporter = StatusReporter(as_user(broker, "streamsuite-publisher"), identity,
                              lambda: Backlog(3, 42.0), interval_s=0.5).start()  # fmt: skip

    def read_as_web() -> list:
        reader = BacklogReader(as_user(broker, "streamsuite-web"))  # a fresh one: no cache
        try:
            report = reader.report(wait_s=30)
        finally:
            reader.close()
        assert report.error is None, report.error
        return report.publishers

    try:
        (shown,) = wait_for(read_as_web, what="the publisher's report read by the web user")
        assert (shown.instance, shown.inbox_files, shown.oldest_waiting_s) == (
            "streamsuite-publisher-acl-0", 3, 42.0)  # fmt: skip
    finally:
        reporter.stop()


def test_the_web_reads_the_ingestor_groups_lag_as_its_chart_user(broker):
    # The ingestor's group commits an offset, as the ingestor user...
    options = client_options(as_user(broker, "streamsuite-ingestor"), client_id="acl-test")
    consumer = KafkaConsumer(group_id=GROUP, enable_auto_commit=False, **options)
    try:
        consumer.assign([TopicPartition(TOPIC, 0)])
        consumer.seek(TopicPartition(TOPIC, 0), 0)
        consumer.commit({TopicPartition(TOPIC, 0): OffsetAndMetadata(0, "", -1)})
    finally:
        consumer.close()
    # ...and the Status page's lag table, as the web user, finds it (without Describe on the
    # group, Kafka hides it: the table said no group had committed offsets).
    reader = LagReader(as_user(broker, "streamsuite-web"))
    try:
        report = reader.report()
    finally:
        reader.close_clients()
    assert report.error is None, report.error
    assert GROUP in {row.group for row in report.rows}, report
