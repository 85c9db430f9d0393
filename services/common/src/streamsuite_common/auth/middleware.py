"""ASGI middleware that authenticates every request but the open ones (health, metrics) and
checks the scope its route needs: 401 with ``WWW-Authenticate: Bearer`` without usable
credentials, 403 without the scope, 403 for a state-changing request riding on browser-held
credentials (cookie, proxy session) from a foreign or unnamed origin (CSRF); each refusal an
RFC 9457 problem with its ``code`` unless ``respond`` makes it otherwise (the web UI's pages).
The principal is left in ``request.state.principal`` for the routes and the rate limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from streamsuite_common.auth.jwks import KeySet
from streamsuite_common.auth.settings import AuthSettings
from streamsuite_common.auth.tokens import (
    KeySource,
    Principal,
    SharedSecret,
    TokenVerifier,
    Unauthorized,
    proxy_principal,
    trusted_proxy,
)
from streamsuite_common.problems import Responder, problem_responder

REALM = "streamsuite"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def key_source(settings: AuthSettings) -> KeySource | None:
    if settings.jwt_secret:
        return SharedSecret(settings.jwt_secret)
    if settings.jwks_url or settings.issuer:
        return KeySet(jwks_url=settings.jwks_url, issuer=settings.issuer,
                      cache_s=settings.jwks_cache_s,
                      min_refresh_s=settings.jwks_min_refresh_s)  # fmt: skip
    return None


class Authenticator:
    """Credentials of one request (headers, peer address) to a Principal, or Unauthorized."""

    def __init__(self, settings: AuthSettings, *, accept_cookie: bool = False):
        self.settings = settings
        keys = key_source(settings) if settings.enabled else None
        self._verifier = TokenVerifier(settings, keys) if keys is not None else None
        self._fetches = isinstance(keys, KeySet)  # may block on the network: off the loop
        self._cookie = settings.cookie_name if accept_cookie else ""

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def anonymous(self) -> Principal:
        s = self.settings
        return Principal("anonymous", frozenset({s.read_scope, s.submit_scope}), "anonymous")

    async def verify(self, token: str, via: str) -> Principal:
        if self._verifier is None:
            raise Unauthorized("bearer tokens are not accepted here (no AUTH keys configured)")
        if self._fetches:
            import anyio.to_thread  # the services with HTTP have it (starlette); others not

            principal = await anyio.to_thread.run_sync(self._verifier.verify, token)
        else:
            principal = self._verifier.verify(token)
        return dataclasses.replace(principal, via=via)

    async def authenticate(self, headers: Mapping[str, str], peer: str | None) -> Principal:
        if not self.enabled:
            return self.anonymous()
        authorization = headers.get("authorization", "")
        if authorization:
            kind, _, token = authorization.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise Unauthorized("expected Authorization: Bearer <token>", "invalid_request")
            return await self.verify(token.strip(), "bearer")
        token = self._cookie_token(headers.get("cookie", ""))
        if token:
            return await self.verify(token, "cookie")
        if self.settings.mode == "proxy" and trusted_proxy(peer, self.settings.proxy_cidrs):
            principal = proxy_principal(self.settings, headers)
            if principal is not None:
                return principal
        raise Unauthorized("authentication required", error="")

    def _cookie_token(self, header: str) -> str:
        if not self._cookie or not header:
            return ""
        try:
            morsel = SimpleCookie(header).get(self._cookie)
        except CookieError:
            return ""
        return morsel.value if morsel is not None else ""


def challenge(error: str, description: str, scope_needed: str = "") -> str:
    """RFC 6750 ``WWW-Authenticate`` value (quotes and backslashes dropped from the text)."""
    parts = [f'realm="{REALM}"']
    clean = description.replace('"', "'").replace("\\", "/")
    if error:
        parts += [f'error="{error}"', f'error_description="{clean}"']
    if scope_needed:
        parts.append(f'scope="{scope_needed}"')
    return "Bearer " + ", ".join(parts)


def unauthorized_code(exc: Unauthorized) -> str:
    """The problem's code of a 401: RFC 6750's error (``invalid-token``, ``invalid-request``),
    or ``authentication-required`` when no credentials came at all."""
    return exc.error.replace("_", "-") if exc.error else "authentication-required"


def header_map(scope: dict) -> dict[str, str]:
    """Request headers, names lower-cased; the first of a repeated header wins."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


class AuthMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        authenticator: Authenticator,
        open_paths: Callable[[str], bool],
        required_scope: Callable[[str, str], str],
        origin_allowed: Callable[[str | None], bool] | None = None,
        respond: Responder = problem_responder,
    ):
        self.app, self.auth = app, authenticator
        self.open_paths, self.required_scope = open_paths, required_scope
        self.origin_allowed, self.respond = origin_allowed, respond

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.open_paths(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = header_map(scope)
        peer = (scope.get("client") or (None, None))[0]
        method = scope["method"]
        try:
            principal = await self.auth.authenticate(headers, peer)
        except Unauthorized as exc:
            detail = str(exc) if exc.error else "authentication required: send a bearer token"
            value = challenge(exc.error, exc.description)
            await self._deny(scope, receive, send, 401, detail, {"WWW-Authenticate": value},
                             code=unauthorized_code(exc))  # fmt: skip
            return
        needed = self.required_scope(method, scope["path"])
        if needed not in principal.scopes:
            value = challenge("insufficient_scope", f"needs scope {needed}", needed)
            await self._deny(scope, receive, send, 403, f"this needs the {needed!r} scope",
                             {"WWW-Authenticate": value}, code="insufficient-scope")  # fmt: skip
            return
        if (
            method in UNSAFE_METHODS
            and principal.ambient
            and self.origin_allowed is not None
            and not (headers.get("origin") and self.origin_allowed(headers["origin"]))
        ):
            await self._deny(scope, receive, send, 403, "cross-site request refused", {},
                             code="cross-site-request")  # fmt: skip
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _deny(self, scope, receive, send, status: int, detail: str, headers, *,
                    code: str) -> None:  # fmt: skip
        response = self.respond(scope, status, detail, headers, code=code)
        await response(scope, receive, send)
