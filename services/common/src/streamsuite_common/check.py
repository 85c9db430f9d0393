"""``streamsuite-check --cfg FILE``: validate a config and reach its Kafka and PostgreSQL.

Exit 0 when everything answers, 2 for a config error, 1 when a dependency is unreachable;
every failure is one line naming the problem. Handy as a Kubernetes init container and for
checking a config file before deploying it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from streamsuite_common import config, db, kafka
from streamsuite_common.config import DatabaseSettings, KafkaSettings, LogSettings
from streamsuite_common.logs import configure_logging

EXIT_UNREACHABLE = 1
_SECTIONS = {"kafka": KafkaSettings, "database": DatabaseSettings}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="streamsuite-check", description=__doc__.split("\n")[0])
    parser.add_argument("--cfg", help="YAML config file (every key may come from the env too)")
    parser.add_argument(
        "--only",
        choices=sorted(_SECTIONS),
        action="append",
        help="check only this dependency (repeatable); default: both",
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds to keep retrying; default: the config's"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = args.only or sorted(_SECTIONS)
    fields = [(name, _SECTIONS[name]) for name in wanted] + [("log", LogSettings)]
    check_config = dataclasses.make_dataclass("CheckConfig", fields, frozen=True)
    with config.exit_on_config_error("streamsuite-check"):
        cfg = config.load(check_config, args.cfg)
    # The verdict is the one line printed below; retry chatter only when asked for.
    debug = cfg.log.level == "debug"
    configure_logging(
        "streamsuite-check",
        dataclasses.replace(cfg.log, level="debug" if debug else "error"),
        stream=sys.stderr,
    )
    if not debug:  # kafka-python logs each refused connection as an error while we retry
        logging.getLogger("kafka").setLevel(logging.CRITICAL)

    try:
        if "kafka" in wanted:
            admin = kafka.connect_admin(cfg.kafka, timeout_s=args.timeout)
            cluster = admin.describe_cluster()
            admin.close()
            print(
                f"kafka: ok, {','.join(cfg.kafka.bootstrap_servers)} "
                f"(cluster {cluster['cluster_id']}, {len(cluster['brokers'])} broker(s))"
            )
        if "database" in wanted:
            conn = db.connect(
                cfg.database, application_name="streamsuite-check", timeout_s=args.timeout
            )
            with conn, conn.cursor() as cur:
                cur.execute("SHOW server_version")
                version = cur.fetchone()[0]
            conn.close()
            print(f"postgres: ok, {db.describe(cfg.database)} (PostgreSQL {version})")
    except (kafka.KafkaUnavailable, db.DatabaseUnavailable) as exc:
        print(f"streamsuite-check: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
