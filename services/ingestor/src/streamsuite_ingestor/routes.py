"""Relational routes as data: which documents get typed columns, and which break their shape.

A route lists fields with a type and bounds. A document *claims* a route when it is a JSON
object with every one of the route's fields; it then either matches (its values go to the
route's typed columns) or violates the route (a dead letter naming the field and why). A
document that claims no route is stored as unstructured JSONB only.

The default route, always first, is the original system's shape: ``name`` (non-empty string)
and ``age`` (integer 0..150, not a boolean), projected into the ``name``/``age`` columns of
``records``. Extra routes come from ``INGESTOR.ROUTES_FILE`` and each gets a table of its own::

    routes:
      - name: reading
        table: sensor_readings          # created at start-up if missing
        fields:
          - {name: sensor, type: string, nonempty: true}
          - {name: celsius, type: number, min: -90, max: 60}
          - {name: at, type: string, column: measured_at}

Everything here is pure except ``load_routes_file``, which reads the file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

TYPES = ("string", "integer", "number", "boolean")
SQL_TYPES = {
    "string": "text",
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
}
# A table route's integer lands in a bigint column: refuse what would overflow it.
_BIGINT = (-(2**63), 2**63 - 1)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_RESERVED_TABLES = {"records", "dead_letters", "schema_migrations"}


class RouteError(ValueError):
    """A route definition is wrong; the message says which route and field."""


@dataclasses.dataclass(frozen=True)
class Field:
    name: str  # key in the document
    type: str
    column: str
    nonempty: bool = False
    min: float | None = None
    max: float | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit this field, or None when it does."""
        if self.type == "string":
            if not isinstance(value, str):
                return f"expected a string, got {_describe(value)}"
            if self.nonempty and not value.strip():
                return "must not be empty"
            return None
        if self.type == "boolean":
            return (
                None
                if isinstance(value, bool)
                else f"expected true or false, got {_describe(value)}"
            )
        if self.type == "integer":
            if not _is_integer(value):
                return f"expected an integer, got {_describe(value)}"
        elif self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
                return f"expected a number, got {_describe(value)}"
            if not _fits_double(value):
                return f"out of range for a number (double precision), got {_describe(value)}"
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            return f"must be between {_num(self.min)} and {_num(self.max)}, got {_describe(value)}"
        return None


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    fields: tuple[Field, ...]
    table: str | None = None  # None: the name/age columns of ``records`` (the default route)

    def claims(self, document: Any) -> bool:
        return isinstance(document, dict) and all(f.name in document for f in self.fields)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.fields)


@dataclasses.dataclass(frozen=True)
class Match:
    route: Route
    values: tuple[Any, ...]  # in the order of route.columns


@dataclasses.dataclass(frozen=True)
class Violation:
    route: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"route {self.route!r}: field {self.field!r} {self.problem}"


DEFAULT_ROUTE = Route(
    name="person",
    fields=(
        Field(name="name", type="string", column="name", nonempty=True),
        Field(name="age", type="integer", column="age", min=0, max=150),
    ),
)


def classify(document: Any, routes: Sequence[Route]) -> Match | Violation | None:
    """The first route the document claims decides: a Match, a Violation; None: unstructured."""
    for route in routes:
        if not route.claims(document):
            continue
        for field in route.fields:
            problem = field.problem(document[field.name])
            if problem is not None:
                return Violation(route.name, field.name, problem)
        return Match(route, tuple(document[f.name] for f in route.fields))
    return None


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    # Integers too long for Python's int() come from the decoder as Decimal.
    return isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()


def _fits_double(value: int | float | Decimal) -> bool:
    """The column is double precision: huge integers overflow it (and math.isfinite)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _num(value: float | None) -> str:
    return "-inf" if value is None else f"{value:g}"


def _describe(value: Any) -> str:
    kind = {
        bool: "boolean",
        str: "string",
        int: "integer",
        float: "number",
        Decimal: "number",
        dict: "object",
        list: "array",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return kind
    text = repr(value) if isinstance(value, str) else str(value).lower()
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}"


# --- definitions from data ---


def _identifier(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise RouteError(f"{where}: {value!r} is not a lower-case SQL identifier")
    return value


def _bound(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RouteError(f"{where}: expected a number, got {value!r}")
    return value


def parse_field(data: Any, where: str) -> Field:
    if not isinstance(data, Mapping):
        raise RouteError(f"{where}: expected a mapping with name and type")
    unknown = set(data) - {"name", "type", "column", "nonempty", "min", "max"}
    if unknown:
        raise RouteError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise RouteError(f"{where}: 'name' must be a non-empty string")
    where = f"{where} ({name})"
    kind = data.get("type")
    if kind not in TYPES:
        raise RouteError(f"{where}: 'type' must be one of {', '.join(TYPES)}; got {kind!r}")
    column = _identifier(data.get("column", name), f"{where}: column")
    low, high = _bound(data.get("min"), f"{where}: min"), _bound(data.get("max"), f"{where}: max")
    if (low is not None or high is not None) and kind not in ("integer", "number"):
        raise RouteError(f"{where}: min/max apply to integer and number fields only")
    if kind == "integer":
        low = _BIGINT[0] if low is None else max(low, _BIGINT[0])
        high = _BIGINT[1] if high is None else min(high, _BIGINT[1])
    if low is not None and high is not None and low > high:
        raise RouteError(f"{where}: min is greater than max")
    nonempty = data.get("nonempty", False)
    if not isinstance(nonempty, bool):
        raise RouteError(f"{where}: 'nonempty' must be true or false")
    return Field(name=name, type=kind, column=column, nonempty=nonempty, min=low, max=high)


def parse_routes(data: Any) -> tuple[Route, ...]:
    """Extra routes from the parsed routes file (``{"routes": [...]}``)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("routes"), list):
        raise RouteError("expected a mapping with a 'routes' list")
    routes: list[Route] = []
    for number, item in enumerate(data["routes"], start=1):
        where = f"route #{number}"
        if not isinstance(item, Mapping):
            raise RouteError(f"{where}: expected a mapping with name, table and fields")
        unknown = set(item) - {"name", "table", "fields"}
        if unknown:
            raise RouteError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        name = _identifier(item.get("name"), f"{where}: name")
        where = f"route {name!r}"
        table = _identifier(item.get("table"), f"{where}: table")
        if table in _RESERVED_TABLES:
            raise RouteError(f"{where}: table {table!r} is the ingestor's own")
        fields = item.get("fields")
        if not isinstance(fields, list) or not fields:
            raise RouteError(f"{where}: 'fields' must be a non-empty list")
        parsed = tuple(parse_field(f, f"{where}: field #{i}") for i, f in enumerate(fields, 1))
        columns = [f.column for f in parsed]
        if len(set(columns)) != len(columns) or "record_id" in columns:
            raise RouteError(f"{where}: column names must be distinct and not 'record_id'")
        if any(r.name == name or r.table == table for r in [DEFAULT_ROUTE, *routes]):
            raise RouteError(f"{where}: name or table used twice")
        routes.append(Route(name=name, fields=parsed, table=table))
    return tuple(routes)


def load_routes_file(path: str | Path) -> tuple[Route, ...]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RouteError(f"cannot read {str(path)!r}: {exc.__class__.__name__}") from None
    return parse_routes(data)


def all_routes(extra: Sequence[Route] = ()) -> tuple[Route, ...]:
    return (DEFAULT_ROUTE, *extra)
