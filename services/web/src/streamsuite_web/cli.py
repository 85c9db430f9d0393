"""``streamsuite-web --cfg FILE``: the web UI under uvicorn.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT: live feeds are ended, in-flight requests
finish), 2 for a config error (one line naming the key).
"""

from __future__ import annotations

import argparse

from streamsuite_common import config as config_module
from streamsuite_common.http_service import serve
from streamsuite_common.logs import configure_logging, get_logger
from streamsuite_web import config as web_config
from streamsuite_web.app import create_app
from streamsuite_web.config import SERVICE

log = get_logger(__name__)


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
    log.info("web UI starting", config=config_module.redacted(cfg), submit=cfg.submit_enabled)
    serve(app, cfg.http, on_exit=app.state.ctx.notifier.stop_streams)
    log.info("web UI stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
