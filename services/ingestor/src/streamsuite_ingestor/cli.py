"""``streamsuite-ingestor [--cfg FILE] [run|migrate]``.

``run`` (the default) migrates when INGESTOR.MIGRATE_ON_START is on, then consumes until SIGTERM
or SIGINT: the batch in hand is stored and committed, then it exits 0. ``migrate`` applies the
pending migrations and exits. Config errors exit 2 with one line; an unreachable dependency at
start-up exits 1 once CONNECT_TIMEOUT_S has passed.
"""

from __future__ import annotations

import argparse
import sys
import time

from prometheus_client import CollectorRegistry

from streamsuite_common import config as common_config
from streamsuite_common.db import DatabaseProbe, DatabaseUnavailable
from streamsuite_common.health import HealthServer, Readiness
from streamsuite_common.kafka import KafkaProbe, KafkaUnavailable
from streamsuite_common.logs import configure_logging, get_logger
from streamsuite_common.retry import GaveUp
from streamsuite_common.shutdown import Shutdown
from streamsuite_ingestor import config
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.migrate import MigrationError
from streamsuite_ingestor.routes import all_routes, load_routes_file
from streamsuite_ingestor.service import Ingestor

log = get_logger("streamsuite_ingestor")

EXIT_UNAVAILABLE = 1
# /healthz turns 503 when the loop has not turned for this long (it turns at least every poll).
_STUCK_AFTER_S = 300.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=config.SERVICE, description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("run", "migrate"), default="run")
    parser.add_argument("--cfg", help="YAML config file (every key may come from the env too)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with common_config.exit_on_config_error(config.SERVICE):
        cfg = config.load(args.cfg)
    configure_logging(config.SERVICE, cfg.log)
    routes = all_routes(
        load_routes_file(cfg.ingestor.routes_file) if cfg.ingestor.routes_file else ()
    )
    shutdown = Shutdown().install()
    registry = CollectorRegistry()
    ingestor = Ingestor(cfg, routes, Metrics(registry), stop=shutdown.event)
    try:
        if args.command == "migrate":
            applied = ingestor.migrate()
            log.info("migrated", schema=cfg.database.schema, applied=applied)
            return 0
        log.info("starting", config=common_config.redacted(cfg))
        readiness = Readiness(
            {
                "kafka": KafkaProbe(cfg.kafka),
                "postgres": DatabaseProbe(cfg.database, application_name=config.SERVICE),
                "partitions": ingestor.check_partitions,
                "fetching": ingestor.check_fetching,
            },
            service="ingestor",
            registry=registry,
        )
        server = HealthServer(
            cfg.http.host,
            cfg.http.port,
            readiness,
            registry=registry,
            alive=lambda: time.monotonic() - ingestor.heartbeat < _STUCK_AFTER_S,
        ).start()
        try:
            ingestor.run()
        finally:
            server.stop()
    except common_config.ConfigError as exc:
        # Found only once running (a route table's schema, a shared group instance id).
        log.error("cannot run", error=str(exc))
        print(f"{config.SERVICE}: config error: {exc}", file=sys.stderr)
        return common_config.EXIT_CONFIG
    except (DatabaseUnavailable, KafkaUnavailable, GaveUp, MigrationError) as exc:
        if shutdown.requested:
            return 0
        log.error("cannot start", error=str(exc))
        return EXIT_UNAVAILABLE
    log.info("stopped")
    return 0
