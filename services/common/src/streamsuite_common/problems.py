"""RFC 9457 problems (``application/problem+json``), the one shape of every JSON refusal of the
HTTP services: the query API's errors and the 401/403/429 of the auth and limit middlewares.
``type``, ``title``, ``status``, ``detail`` (what is wrong, for people), ``code`` (stable, for
programs) and, for bad input, ``parameter`` (the one at fault).

Starlette is imported when a response is made: it comes with the ``asgi`` extra, which the
services without an HTTP app do not carry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Protocol

PROBLEM_JSON = "application/problem+json"


class Responder(Protocol):
    """Makes the ASGI response of a refusal (the middlewares' ``respond``): a problem here, a
    page in the web UI."""

    def __call__(
        self, scope: dict, status: int, detail: str, headers: Mapping[str, str], *, code: str
    ) -> Any: ...


def status_code(status: int) -> str:
    """The code of a status without a more precise one: its phrase, ``not-found``."""
    return HTTPStatus(status).phrase.lower().replace(" ", "-")


def problem_body(
    status: int, detail: str, code: str, parameter: str | None = None
) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if parameter is not None:
        body["parameter"] = parameter
    return body


def problem(
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    code: str,
    parameter: str | None = None,
) -> Any:
    """A Starlette ``Response`` carrying the problem."""
    from starlette.responses import Response

    text = json.dumps(problem_body(status, detail, code, parameter), ensure_ascii=False)
    return Response(text, status_code=status, headers=dict(headers or {}),
                    media_type=PROBLEM_JSON)  # fmt: skip


def problem_responder(
    scope: dict, status: int, detail: str, headers: Mapping[str, str], *, code: str
) -> Any:
    """The default ``Responder``: the refusal as a problem."""
    return problem(status, detail, headers, code=code)
