"""Authentication and authorization for the query API and the web UI (issue 17): JWT bearer
tokens (HS256 secret or OIDC issuer keys), a trusted authenticating proxy, scopes ``read`` and
``submit``; see ``settings`` for the modes."""

from streamsuite_common.auth.middleware import Authenticator, AuthMiddleware
from streamsuite_common.auth.settings import AuthSettings, LimitSettings
from streamsuite_common.auth.tokens import Principal, Unauthorized, mint_token

__all__ = [
    "AuthMiddleware",
    "AuthSettings",
    "Authenticator",
    "LimitSettings",
    "Principal",
    "Unauthorized",
    "mint_token",
]
