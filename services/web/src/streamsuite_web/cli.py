"""``streamsuite-web --cfg FILE``: the web UI under uvicorn.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT: live feeds are ended, in-flight requests
finish), 2 for a config error (one line naming the key).
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from streamsuite_common import config as config_module
from streamsuite_common.logs import configure_logging, get_logger
from streamsuite_common.shutdown import Shutdown
from streamsuite_web import config as web_config
from streamsuite_web.app import create_app
from streamsuite_web.config import SERVICE

log = get_logger(__name__)
GRACE_S = 10


class Server(uvicorn.Server):
    """uvicorn, plus: a stop signal also ends the open live feeds, which would otherwise keep
    their connections (and the shutdown) waiting for the whole grace period."""

    def __init__(self, config: uvicorn.Config, on_exit: Any):
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="streamsuite-web",
        description="The streamsuite web UI: records, live feed, status, dead letters, submit.",
    )
    parser.add_argument("--cfg", help="YAML config file (every key may come from the env too)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with config_module.exit_on_config_error("streamsuite-web"):
        cfg = web_config.load(args.cfg)
    configure_logging(SERVICE, cfg.log)
    app = create_app(cfg)
    log.info("web UI starting", config=web_config.redacted(cfg), submit=cfg.submit_enabled)
    server = Server(
        uvicorn.Config(
            app,
            host=cfg.http.host,
            port=cfg.http.port,
            log_config=None,  # keep our JSON logging for uvicorn's own lines
            access_log=False,  # the metrics middleware logs each request
            timeout_graceful_shutdown=GRACE_S,
            proxy_headers=False,
        ),
        on_exit=app.state.ctx.notifier.stop_streams,
    )
    # uvicorn handles SIGTERM/SIGINT while it serves, then raises the signal again for the
    # handler that was there before: this one, so a requested stop ends with exit code 0.
    Shutdown().install()
    server.run()
    log.info("web UI stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
