"""``streamsuite-publisher --cfg FILE --dir DIR``: the publisher service.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 2 for a config error, 1 when Kafka cannot
be reached at start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from streamsuite_common import config as config_module
from streamsuite_common.config import ConfigError
from streamsuite_common.health import HealthServer, Readiness
from streamsuite_common.kafka import KafkaProbe, KafkaUnavailable
from streamsuite_common.logs import configure_logging, get_logger
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService, inbox_check
from streamsuite_publisher.spool import Spool
from streamsuite_publisher.status import StatusReporter, publisher_identity

SERVICE = "publisher"
log = get_logger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="streamsuite-publisher",
        description="Publish every JSON/YAML document dropped in a directory to Kafka.",
    )
    parser.add_argument("--cfg", help="YAML config file (every key may come from the env too)")
    parser.add_argument("--dir", help="inbox directory to watch (overrides PUBLISHER.INBOX)")
    parser.add_argument(
        "--once", action="store_true", help="publish what is in the inbox now, then exit"
    )
    return parser.parse_args(argv)


def load_config(args: argparse.Namespace) -> PublisherConfig:
    cfg = config_module.load(PublisherConfig, args.cfg, defaults=DEFAULTS)
    inbox = args.dir or cfg.publisher.inbox
    if not inbox:
        raise ConfigError(
            "PUBLISHER.INBOX: missing (give --dir DIR or set STREAMSUITE_PUBLISHER__INBOX)"
        )
    path = Path(inbox)
    if not path.is_dir():
        raise ConfigError(f"PUBLISHER.INBOX: {inbox!r} is not a directory")
    # access() also answers for a read-only filesystem and an immutable directory.
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(
            f"PUBLISHER.INBOX: {inbox!r} is not writable (the publisher moves each file into "
            "processing/, then processed/ or error/ beside it)"
        )
    return dataclasses.replace(cfg, publisher=dataclasses.replace(cfg.publisher, inbox=str(path)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with config_module.exit_on_config_error("streamsuite-publisher"):
        cfg = load_config(args)
    configure_logging(SERVICE, cfg.log)
    shutdown = Shutdown().install()
    spool = Spool(Path(cfg.publisher.inbox), delete_published=cfg.publisher.delete_published)
    transactional_id = cfg.publisher.transactional_id or spool.default_transactional_id()
    publisher = TransactionalPublisher(
        cfg.kafka, transactional_id, shutdown.event,
        transaction_timeout_s=cfg.publisher.transaction_timeout_s,
    )  # fmt: skip
    service = PublisherService(cfg, spool, publisher, shutdown)
    readiness = Readiness(
        {"kafka": KafkaProbe(cfg.kafka), "inbox": lambda: inbox_check(spool)}, service=SERVICE
    )
    server = HealthServer(cfg.http.host, cfg.http.port, readiness, alive=service.alive).start()
    log.info("publisher starting", inbox=str(spool.root), owner=spool.owner,
             transactional_id=transactional_id, config=config_module.redacted(cfg))  # fmt: skip
    # The inbox backlog, reported to Kafka for the web UI's Status page (status.py).
    reporter = StatusReporter(cfg.kafka, publisher_identity(transactional_id, spool)).start()
    try:
        publisher.connect()
        service.run(once=args.once)
    except KafkaUnavailable as exc:
        print(f"streamsuite-publisher: {exc}", file=sys.stderr)
        return 1
    finally:
        reporter.stop()
        publisher.close()
        spool.close()
        server.stop()
    log.info("publisher stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
