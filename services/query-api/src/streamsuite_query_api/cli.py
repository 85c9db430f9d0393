"""``streamsuite-query-api --cfg FILE``: the query API under uvicorn, in one process or, with
``QUERY_API.WORKERS`` above 1, in that many worker processes under uvicorn's supervisor (a
worker that dies is started again).

Exit codes: 0 after a clean stop (SIGTERM/SIGINT: open streams are ended, in-flight requests
finish, in every worker), 1 when the workers could not start, 2 for a config error (one line
naming the key).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from streamsuite_common import config as config_module
from streamsuite_common import metrics_workers
from streamsuite_common.http_service import serve
from streamsuite_common.http_workers import serve_workers
from streamsuite_common.logs import configure_logging, get_logger
from streamsuite_query_api import config as query_config
from streamsuite_query_api.config import SERVICE, QueryApiConfig

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
    log.info("query API starting", config=config_module.redacted(cfg))
    if cfg.query_api.workers == 1:
        from streamsuite_query_api.app import create_app

        app = create_app(cfg)
        serve(app, cfg.http, on_exit=app.state.ctx.notifier.stop_streams)
    elif not serve_workers(functools.partial(build_worker, cfg), cfg.http, cfg.query_api.workers):
        log.error("query API workers could not start")
        return 1
    log.info("query API stopped")
    return 0


def build_worker(cfg: QueryApiConfig) -> tuple[Any, Callable[[], None]]:
    """One worker's app, in the worker (spawned: logging is set up again), with its share of
    the limits and metrics that read every worker's."""
    from streamsuite_query_api.app import create_app  # the supervisor never imports the app

    configure_logging(SERVICE, cfg.log)
    app = create_app(query_config.per_worker(cfg), registry=metrics_workers.registry())
    return app, app.state.ctx.notifier.stop_streams


if __name__ == "__main__":
    raise SystemExit(main())
