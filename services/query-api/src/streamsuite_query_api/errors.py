"""Every failure as an RFC 9457 problem (``application/problem+json``, the shape of
``streamsuite_common.problems``, which the auth and limit middlewares answer 401/403/429 with):
``type``, ``title``, ``status``, ``detail`` (what is wrong, for people), ``code`` (stable, for
programs) and, for bad input, ``parameter`` (the one at fault).

Bad input is a 4xx naming the parameter; a statement timeout a 504 asking for an indexed
filter; an unreachable, overloaded or failing database a 503 with Retry-After whose text
never carries PostgreSQL's own words (they name hosts, ports, roles): those go to the log.
"""

from __future__ import annotations

import psycopg2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from streamsuite_common.logs import get_logger
from streamsuite_common.pool import DatabaseUnavailable, StatementTimeout
from streamsuite_common.problems import PROBLEM_JSON, problem, status_code
from streamsuite_common.query import InvalidQuery

log = get_logger(__name__)
RETRY_AFTER_S = 5
UNAVAILABLE = "the database cannot answer now; retry after Retry-After seconds"


class ApiError(Exception):
    """A refusal with its own status (404, 413, 415, 503) and code."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        *,
        code: str | None = None,
        parameter: str | None = None,
    ):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers
        self.code = code or status_code(status)
        self.parameter = parameter


def describe_validation(exc: RequestValidationError) -> tuple[str, str]:
    """FastAPI's first validation error as (parameter, ``<parameter>: <message>``)."""
    errors = exc.errors()
    if not errors:
        return "request", "invalid request"
    first = errors[0]
    where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
    name = ".".join(where) or "request"
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    received = first.get("input")
    if isinstance(received, str) and first.get("type") != "missing":
        message += f", got {received[:40]!r}"
    return name, f"{name}: {message}"


def _input_code(exc: InvalidQuery) -> str:
    if exc.problem.startswith("unknown"):
        return "unknown-parameter"
    if exc.problem.startswith("PostgreSQL refused"):
        return "refused-by-database"
    return "invalid-parameter"


async def _invalid_query(_: Request, exc: InvalidQuery) -> Response:
    return problem(400, str(exc), code=_input_code(exc), parameter=exc.param)


async def _validation(_: Request, exc: RequestValidationError) -> Response:
    parameter, detail = describe_validation(exc)
    return problem(400, detail, code="invalid-parameter", parameter=parameter)


async def _api_error(_: Request, exc: ApiError) -> Response:
    return problem(exc.status, exc.detail, exc.headers, code=exc.code, parameter=exc.parameter)


async def _timeout(_: Request, exc: StatementTimeout) -> Response:
    log.warning("statement timeout", error=str(exc))
    return problem(
        504,
        f"{exc}: the filters given cannot use an index; add an indexed filter (key+value, "
        "contains, source, name, kind) or a narrower since/until",
        code="statement-timeout",
    )


async def _unavailable(_: Request, exc: DatabaseUnavailable) -> Response:
    log.warning("database unavailable", error=str(exc))
    # The pool's own words about busy connections are safe; PostgreSQL's are not.
    detail = str(exc) if str(exc).startswith("all ") else UNAVAILABLE
    return problem(503, detail, {"Retry-After": str(RETRY_AFTER_S)}, code="database-unavailable")


async def _database_error(_: Request, exc: psycopg2.Error) -> Response:
    log.error("database error", error=str(exc).strip().splitlines()[0:1], pgcode=exc.pgcode)
    return problem(503, UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_S)}, code="database-error")


# The statuses these handlers answer (the auth and limit middlewares answer 401/403/429 with
# problems of their own, documented by ``app.document_auth``).
PROBLEM_STATUSES = ("400", "404", "413", "415", "503", "504")


def document(app: FastAPI) -> None:
    """The OpenAPI document says what is sent: these problems as application/problem+json,
    and no 422 (a validation error is answered 400 by ``_validation``)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                responses.pop("422", None)
                for status in PROBLEM_STATUSES:
                    content = responses.get(status, {}).get("content", {})
                    if "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        for name in ("HTTPValidationError", "ValidationError"):
            spec.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    app.add_exception_handler(InvalidQuery, _invalid_query)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StatementTimeout, _timeout)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_exception_handler(psycopg2.Error, _database_error)
