"""Request checks shared by the routes: no unknown or repeated query parameters, and a JSON
body of bounded size with the right content type."""

from __future__ import annotations

from fastapi import Request

from streamsuite_common.query import InvalidQuery
from streamsuite_query_api import parameters
from streamsuite_query_api.errors import ApiError

MAX_BODY_BYTES = 64 * 1024
_ALLOWED_CACHE: dict[int, tuple[str, ...]] = {}


def _declared(request: Request) -> tuple[str, ...]:
    route = request.scope.get("route")
    if route is None:
        return ()
    key = id(route)
    if key not in _ALLOWED_CACHE:
        # A route's query parameters are those it documents from their declarations
        # (``parameters.documented``) and any in its own signature (none in sub-dependencies).
        declared = tuple(param.alias for param in route.dependant.query_params)
        _ALLOWED_CACHE[key] = (*parameters.names(route.openapi_extra), *declared)
    return _ALLOWED_CACHE[key]


async def reject_unknown_params(request: Request) -> None:
    """A misspelt filter must fail loudly, not be ignored and widen the result."""
    allowed = _declared(request)
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise InvalidQuery(name[:64], f"unknown query parameter (this endpoint takes: {known})")
        if name in seen:
            raise InvalidQuery(name, "given more than once")
        seen.add(name)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The raw body of a JSON request; 415 for another content type, 413 beyond ``max_bytes``."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise ApiError(
            415,
            f"content type must be application/json, got {content_type[:60] or 'none'!r}",
            code="unsupported-media-type",
            parameter="Content-Type",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(
            413, f"body: larger than {max_bytes} bytes ({declared})", code="content-too-large",
            parameter="body",
        )  # fmt: skip
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, f"body: larger than {max_bytes} bytes", code="content-too-large",
                           parameter="body")  # fmt: skip
    return bytes(body)
