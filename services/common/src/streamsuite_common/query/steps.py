"""The reads as sans-IO steps: each read is a generator that yields the statements it needs,
one at a time, and receives each one's rows, so one copy of the logic runs on a blocking
connection (``run_on``: the web UI, in a worker thread) and on the event loop
(``streamsuite_common.async_pool``: the query API, no thread hop per request).

A step is ``(statement, filter)``: the filter names the parameter to blame when PostgreSQL
refuses a bound value (``refusal``), which both runners turn into ``InvalidQuery``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions

from streamsuite_common.query import sql
from streamsuite_common.query.errors import InvalidQuery
from streamsuite_common.query.filters import RecordFilter

T = TypeVar("T")
Step = tuple[sql.Statement, RecordFilter | None]
Steps = Generator[Step, list, T]

# SQLSTATEs that blame a bound value: class 22 (data exception: bad jsonb/jsonpath value,
# numeric overflow, invalid regex) and 42601 (syntax error: jsonpath syntax).
_INPUT_CLASSES = ("22",)
_INPUT_CODES = ("42601",)
DUPLICATE_PREPARED_STATEMENT = "42P05"


def ask(statement: sql.Statement, f: RecordFilter | None = None) -> Step:
    return statement, f


def blames_input(exc: psycopg2.Error) -> bool:
    code = exc.pgcode or ""
    return code[:2] in _INPUT_CLASSES or code in _INPUT_CODES


def refusal(exc: psycopg2.Error, f: RecordFilter | None) -> InvalidQuery | None:
    """The 400 for an error that blames a bound value; None for any other error."""
    if not blames_input(exc):
        return None
    message = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
    return InvalidQuery(culprit(f, message), f"PostgreSQL refused it: {message}")


def culprit(f: RecordFilter | None, message: str) -> str:
    """The parameter a refused statement most likely failed on, for the message."""
    given = [name for name in ("value", "contains", "jsonpath") if f and getattr(f, name)]
    if "jsonpath" in given and ("jsonpath" in message or "regular expression" in message):
        return "jsonpath"
    return given[0] if len(given) == 1 else "filter"


def failed(exc: psycopg2.Error, text: str, f: RecordFilter | None) -> list:
    """What a failed statement comes to: no rows for a PREPARE the connection already holds
    (a read cancelled after sending it never learnt it ran), ``InvalidQuery`` for a refused
    value; anything else is raised again. (An EXECUTE of a name the session lost is an
    OperationalError: the pools retry the read once on a new connection, which prepares.)"""
    if exc.pgcode == DUPLICATE_PREPARED_STATEMENT and text.startswith("PREPARE "):
        return []
    refused = refusal(exc, f)
    if refused is None:
        raise exc
    raise refused from None


def execute(conn: psycopg2.extensions.connection, step: Step) -> list:
    """One step on a blocking connection."""
    (text, params), f = step
    try:
        with conn.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall() if cur.description is not None else []  # PREPARE: no rows
    except psycopg2.Error as exc:
        if not conn.autocommit and not conn.closed:
            conn.rollback()
        return failed(exc, text, f)


def drive(steps: Steps[T], answer: Callable[[Step], list]) -> T:
    """Run ``steps`` to the end, ``answer`` giving each statement's rows."""
    try:
        step = next(steps)
        while True:
            step = steps.send(answer(step))
    except StopIteration as done:
        return done.value


class PreparingConnection(psycopg2.extensions.connection):
    """A connection that remembers which statements it has prepared (``prepared``); give it
    to ``psycopg2.connect(connection_factory=...)``. Other connections run every statement
    as it is."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


def prepared(conn: psycopg2.extensions.connection, steps: Steps[T]) -> Steps[T]:
    """``steps`` with each registered statement (``sql.PREPARABLE``) run by name: prepared
    first when this connection has not prepared it yet. A failed PREPARE creates nothing,
    so the name is remembered only once it ran."""
    known = getattr(conn, "prepared", None)
    if known is None:
        return (yield from steps)
    try:
        step = next(steps)
        while True:
            (text, params), f = step
            statement = sql.PREPARABLE.get(text)
            if statement is not None:
                if statement.name not in known:
                    yield ask((statement.prepare, None), f)  # type: ignore[arg-type]
                    known.add(statement.name)
                step = (statement.execute, params), f
            step = steps.send((yield step))
    except StopIteration as done:
        return done.value


def run_on(conn: psycopg2.extensions.connection, steps: Steps[T]) -> T:
    return drive(prepared(conn, steps), functools.partial(execute, conn))


def reads(make_steps: Callable[..., Steps[T]]) -> Callable[..., T]:
    """A read usable both ways: ``read(conn, *args)`` runs it on a blocking connection, and
    ``read.steps(*args)`` is the generator for any runner (``yield from`` inside another)."""

    @functools.wraps(make_steps)
    def on_connection(conn: psycopg2.extensions.connection, *args: Any, **kwargs: Any) -> T:
        return run_on(conn, make_steps(*args, **kwargs))

    on_connection.steps = make_steps  # type: ignore[attr-defined]
    return on_connection
