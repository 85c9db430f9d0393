"""The local stack's authentication: a per-checkout HS256 secret under var/secrets (made once,
mode 0600) that the query API and web UI verify tokens with, and a dev token signed with it
(scopes read and submit), printed by `make up` and kept in var/secrets/dev.token."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from devstack.settings import StackSettings
from streamsuite_common.auth import mint_token

DEV_SCOPES = ("read", "submit")
DEV_TOKEN_TTL_S = 30 * 86_400  # a month: long enough for a working stack, not forever


def secret_path(settings: StackSettings) -> Path:
    return settings.secrets / "jwt.secret"


def token_path(settings: StackSettings) -> Path:
    return settings.secrets / "dev.token"


def jwt_secret(settings: StackSettings) -> str:
    path = secret_path(settings)
    if not path.is_file():
        settings.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(48) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def write_dev_token(settings: StackSettings) -> str:
    """A fresh read+submit token for this checkout's stack, also written to dev.token."""
    token = mint_token(jwt_secret(settings), DEV_SCOPES, subject="dev", ttl_s=DEV_TOKEN_TTL_S)
    path = token_path(settings)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def client_token(env: Mapping[str, str], scopes: Iterable[str] = DEV_SCOPES) -> str:
    """A token for a test client of the stack named by ``env``: STREAMSUITE_E2E_TOKEN as given
    (containers, pods), else one signed with the local stack's secret."""
    if env.get("STREAMSUITE_E2E_TOKEN"):
        return env["STREAMSUITE_E2E_TOKEN"]
    settings = StackSettings.from_env(env)
    return mint_token(jwt_secret(settings), scopes, subject="e2e", ttl_s=3600)
