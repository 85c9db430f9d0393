"""Every failure as ``{"detail": "<what is wrong>"}`` with the right status: bad input is a
4xx naming the parameter, an unreachable or overloaded database a 503 with Retry-After."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from streamsuite_common.logs import get_logger
from streamsuite_common.pool import DatabaseUnavailable
from streamsuite_common.query import InvalidQuery

log = get_logger(__name__)
RETRY_AFTER_S = 5


class ApiError(Exception):
    """A refusal with its own status (404, 413, 415, 503)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def describe_validation(exc: RequestValidationError) -> str:
    """FastAPI's first validation error as ``<parameter>: <message>``."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
    name = ".".join(where) or "request"
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    received = first.get("input")
    if isinstance(received, str) and first.get("type") != "missing":
        message += f", got {received[:40]!r}"
    return f"{name}: {message}"


async def _invalid_query(_: Request, exc: InvalidQuery) -> JSONResponse:
    return problem(400, str(exc))


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    return problem(400, describe_validation(exc))


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return problem(exc.status, exc.detail, exc.headers)


async def _unavailable(_: Request, exc: DatabaseUnavailable) -> JSONResponse:
    log.warning("database unavailable", error=str(exc))
    return problem(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(InvalidQuery, _invalid_query)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
