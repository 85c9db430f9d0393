"""``streamsuite-query-api --cfg FILE``: the query API under uvicorn.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT: open streams are ended, in-flight requests
finish), 2 for a config error (one line naming the key).
"""

from __future__ import annotations

import argparse

from streamsuite_common import config as config_module
from streamsuite_common.http_service import serve
from streamsuite_common.logs import configure_logging, get_logger
from streamsuite_query_api import config as query_config
from streamsuite_query_api.app import create_app
from streamsuite_query_api.config import SERVICE

log = get_logger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="streamsuite-query-api",
        description="Read-only REST API over the documents stored in PostgreSQL.",
    )
    parser.add_argument("--cfg", help="YAML config file (every key may come from the env too)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with config_module.exit_on_config_error("streamsuite-query-api"):
        cfg = query_config.load(args.cfg)
    configure_logging(SERVICE, cfg.log)
    app = create_app(cfg)
    log.info("query API starting", config=config_module.redacted(cfg))
    serve(app, cfg.http, on_exit=app.state.ctx.notifier.stop_streams)
    log.info("query API stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
