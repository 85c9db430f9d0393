"""Who may use the web UI, and how a browser signs in (issue 17).

- ``AUTH.MODE=jwt``: a bearer token in ``Authorization`` (scripts, curl) or in the HttpOnly,
  SameSite=Strict cookie the sign-in page ``/login`` sets after verifying a pasted token.
- ``AUTH.MODE=proxy``: the user an authenticating proxy (oauth2-proxy) names in
  ``X-Forwarded-User``, believed only from ``AUTH.PROXY_CIDRS``; tokens work as well.
- ``AUTH.MODE=none``: everyone reads; Submit is off unless ``WEB.SUBMIT_WITHOUT_AUTH``.

Reading needs the read scope; Submit (and any other state-changing request) the submit scope.
A state-changing request riding on browser-held credentials (cookie or proxy session) must
come from one of ``WEB.PUBLIC_ORIGINS`` (the ``Origin`` header, which browsers always send on
POST): with SameSite=Strict cookies this is the CSRF defence, no form token needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from streamsuite_common.auth import Authenticator, AuthMiddleware, Unauthorized
from streamsuite_common.auth.middleware import UNSAFE_METHODS
from streamsuite_common.limits import ClientLimits, LimitMiddleware
from streamsuite_web import origins

if TYPE_CHECKING:
    from streamsuite_web.app import Context

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/login", "/logout",
                        "/favicon.ico"})  # fmt: skip
STREAM_PATHS = frozenset({"/events"})
SCAN_PARAMS = (b"jsonpath=", b"has_key=")
MAX_COOKIE_AGE_S = 7 * 86_400
MAX_TOKEN_CHARS = 16_384
router = APIRouter(include_in_schema=False)


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith("/static/")


def is_scan(scope: dict) -> bool:
    query = scope.get("query_string", b"")
    return any(query.startswith(p) or b"&" + p in query for p in SCAN_PARAMS)


def required_scope(read: str, submit: str):
    def needed(method: str, path: str) -> str:
        if method in UNSAFE_METHODS or path == "/submit" or path.startswith("/submit/"):
            return submit
        return read

    return needed


def principal(request: Request) -> Any:
    return getattr(request.state, "principal", None)


def may(request: Request, scope: str) -> bool:
    found = principal(request)
    return found is not None and scope in found.scopes


def _local_path(target: str) -> str:
    """Where to go after signing in: a path of this UI only (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/records"


class Denials:
    """Refusals as pages: 401 shows the sign-in form, 403 and 429 the error page."""

    def __init__(self, context: Context):
        self.context = context

    def __call__(
        self, scope: dict, status: int, detail: str, headers: Mapping[str, str], *, code: str = ""
    ) -> Any:
        """A ``streamsuite_common.problems.Responder``; people read the page, not ``code``."""
        request = Request(scope)
        c = self.context
        if status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = c.render(request, "login.html", 401, error=None, next=target,
                                mode=c.cfg.auth.mode, user=None)  # fmt: skip
        else:
            titles = {403: "Not allowed", 429: "Too many requests"}
            response = c.render(request, "error.html", status,
                                title=titles.get(status, f"Error {status}"),
                                message=detail)  # fmt: skip
        response.headers.update(headers)
        return response


def _cookie_max_age(expires: float | None) -> int:
    """The cookie goes when its token expires (a week at most)."""
    return max(0, min(MAX_COOKIE_AGE_S, math.floor((expires or 0) - time.time())))


def _secure(request: Request, context: Context) -> bool:
    return request.url.scheme == "https" or any(
        origin.startswith("https://") for origin in context.cfg.public_origins
    )


@router.get("/login")
async def login_form(request: Request) -> Response:
    c: Context = request.app.state.ctx
    authenticator: Authenticator = request.app.state.authenticator
    user = None
    try:
        peer = request.client.host if request.client else None
        user = await authenticator.authenticate(request.headers, peer)
    except Unauthorized:
        pass
    return c.render(request, "login.html", error=None, mode=c.cfg.auth.mode,
                    next=_local_path(request.query_params.get("next", "/records")),
                    user=user.subject if user and user.via != "anonymous" else None)  # fmt: skip


@router.post("/login")
async def login(request: Request) -> Response:
    c: Context = request.app.state.ctx
    authenticator: Authenticator = request.app.state.authenticator
    if not origins.allowed(request.headers.get("origin"), c.cfg.public_origins):
        return Denials(c)(request.scope, 403, "cross-site sign-in refused", {})
    form = await request.form(max_files=0, max_fields=4, max_part_size=MAX_TOKEN_CHARS)
    token = str(form.get("token") or "").strip()
    target = _local_path(str(form.get("next") or "/records"))
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("paste a token")
        found = await authenticator.verify(token, "cookie")
        if c.cfg.auth.read_scope not in found.scopes:
            raise Unauthorized(f"the token lacks the {c.cfg.auth.read_scope!r} scope")
    except Unauthorized as exc:
        return c.render(request, "login.html", 401, error=str(exc), next=target,
                        mode=c.cfg.auth.mode, user=None)  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(c.cfg.auth.cookie_name, token, max_age=_cookie_max_age(found.expires),
                        path="/", httponly=True, samesite="strict",
                        secure=_secure(request, c))  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    c: Context = request.app.state.ctx
    if not origins.allowed(request.headers.get("origin"), c.cfg.public_origins):
        return Denials(c)(request.scope, 403, "cross-site sign-out refused", {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(c.cfg.auth.cookie_name, path="/", httponly=True, samesite="strict",
                           secure=_secure(request, c))  # fmt: skip
    return response


def install(app: FastAPI, context: Context) -> None:
    """The sign-in routes, then authentication and per-client limits around every route (add
    the metrics and header middlewares after this, so they wrap the refusals too)."""
    cfg = context.cfg
    authenticator = Authenticator(cfg.auth, accept_cookie=True)
    app.state.authenticator = authenticator
    app.include_router(router)
    denials = Denials(context)
    app.add_middleware(LimitMiddleware, limits=ClientLimits(cfg.limits), exempt=is_open,
                       streaming=STREAM_PATHS.__contains__, scans=is_scan,
                       respond=denials)  # fmt: skip
    app.add_middleware(
        AuthMiddleware,
        authenticator=authenticator,
        open_paths=is_open,
        required_scope=required_scope(cfg.auth.read_scope, cfg.auth.submit_scope),
        origin_allowed=lambda origin: origins.allowed(origin, cfg.public_origins),
        respond=denials,
    )
