"""Turning a file's bytes into documents: pure, bounded, and specific about what is wrong.

``parse_file(name, data, limits)`` knows the formats by extension (case-insensitive):

- ``.json``: one document (an array or a scalar is one document too);
- ``.jsonl`` / ``.ndjson``: one document a line, blank lines skipped;
- ``.yaml`` / ``.yml``: one document per ``---`` section.

JSON documents are forwarded as the bytes they were written with (validated, never rebuilt:
``19.990000000000000000001`` stays exactly that); only YAML is converted, to compact JSON.

A refusal of the whole file (not UTF-8, empty, invalid, …) comes back as ``file_refusal``; in a
multi-document file a bad line or section is refused on its own with its number, and the other
documents still come back. Every refusal carries a stable ``reason`` code and a ``detail`` for
people. Nothing here touches the disk or the network.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import yaml

JSON_SUFFIXES = (".json",)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
YAML_SUFFIXES = (".yaml", ".yml")
SUPPORTED_SUFFIXES = JSON_SUFFIXES + JSON_LINES_SUFFIXES + YAML_SUFFIXES

_BOM = b"\xef\xbb\xbf"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile file from taking the memory or the stack."""

    max_document_bytes: int = 1_000_000  # the broker's default message size limit
    max_depth: int = 64
    max_yaml_nodes: int = 1_000_000  # after alias expansion: an alias bomb stops here
    max_documents: int | None = None  # per file: all of a file goes in one transaction


@dataclasses.dataclass(frozen=True)
class Document:
    index: int  # 0-based position in the file: the `doc-index` header
    value: bytes  # UTF-8 JSON, the Kafka message value: as written (JSON) or compact (YAML)
    line: int  # 1-based line where it starts


@dataclasses.dataclass(frozen=True)
class Refusal:
    reason: str  # stable code: invalid-json, not-utf8, nan-infinity, too-large, …
    detail: str
    raw: bytes
    index: int | None = None  # the document's position, when one document of many is refused
    line: int | None = None


@dataclasses.dataclass(frozen=True)
class ParseResult:
    documents: tuple[Document, ...] = ()
    refusals: tuple[Refusal, ...] = ()  # documents refused one by one
    file_refusal: Refusal | None = None  # the whole file refused: nothing was published


class Refused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def file_format(name: str) -> str | None:
    """``json``, ``jsonl``, ``yaml`` or None for a name we do not publish."""
    lower = name.lower()
    if lower.endswith(JSON_SUFFIXES):
        return "json"
    if lower.endswith(JSON_LINES_SUFFIXES):
        return "jsonl"
    if lower.endswith(YAML_SUFFIXES):
        return "yaml"
    return None


def parse_file(name: str, data: bytes, limits: Limits = Limits()) -> ParseResult:
    fmt = file_format(name)
    if fmt is None:
        return ParseResult(
            file_refusal=Refusal("unsupported-format", f"{name}: unknown type", data)
        )
    try:
        text = decode_utf8(data)
        if not text.strip():
            raise Refused("empty", "the file has no content")
    except Refused as exc:
        return ParseResult(file_refusal=Refusal(exc.reason, exc.detail, data))
    if fmt == "json":
        try:
            return ParseResult(documents=(Document(0, parse_json(text, limits), 1),))
        except Refused as exc:
            return ParseResult(file_refusal=Refusal(exc.reason, exc.detail, data))
    sections = json_lines(text) if fmt == "jsonl" else yaml_sections(text)
    parse = parse_json if fmt == "jsonl" else parse_yaml
    documents, refusals = [], []
    count = 0
    for index, (line, chunk) in enumerate(sections):
        count += 1
        if limits.max_documents is not None and count > limits.max_documents:
            # Counted as we go: the documents of a huge file are never all held in memory.
            return ParseResult(
                file_refusal=Refusal(
                    "too-many-documents",
                    f"more than {limits.max_documents:,} documents, the most one transaction "
                    "takes (PUBLISHER.BATCH_DOCUMENTS)",
                    data,
                )
            )
        try:
            documents.append(Document(index, parse(chunk, limits), line))
        except Refused as exc:
            where = f"line {line}" if fmt == "jsonl" else f"document {index + 1} (line {line})"
            refusals.append(
                Refusal(exc.reason, f"{where}: {exc.detail}", chunk.encode(), index, line)
            )
    if count == 0:
        return ParseResult(file_refusal=Refusal("empty", "the file has no documents", data))
    if count == 1 and refusals:  # a one-document file: the file itself is what is wrong
        first = refusals[0]
        detail = first.detail.split(": ", 1)[1]
        return ParseResult(file_refusal=Refusal(first.reason, detail, data))
    if not documents:
        # Nothing publishable: refuse the file as a whole, naming the first problem.
        first, more = refusals[0], len(refusals) - 1
        detail = f"{first.detail} (and {more} more)" if more else first.detail
        return ParseResult(file_refusal=Refusal(first.reason, detail, data))
    return ParseResult(documents=tuple(documents), refusals=tuple(refusals))


def decode_utf8(data: bytes) -> str:
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Refused(
            "not-utf8",
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line})",
        ) from None


# --- JSON ---


def _refuse_constant(name: str) -> Any:
    raise Refused("nan-infinity", f"{name} is not a JSON number and cannot be stored")


# JSON's insignificant whitespace, which may surround a document.
_JSON_WHITESPACE = " \t\n\r"


def _finite_number(text: str) -> int:
    # Exactness does not need the value, only that it stays a finite number for readers
    # that use doubles: 1e400 would be infinity to them.
    if not math.isfinite(float(text)):
        raise Refused("nan-infinity", f"{text} is beyond a double's range (it reads as infinity)")
    return 0


def parse_json(text: str, limits: Limits) -> bytes:
    """Validate one JSON document and return its own bytes (surrounding whitespace aside)."""
    document = text.strip(_JSON_WHITESPACE)
    if len(document) > limits.max_document_bytes:  # characters ≤ bytes: a cheap first bound
        _raise_too_large(len(document.encode()), limits)
    data = document.encode()
    if len(data) > limits.max_document_bytes:
        _raise_too_large(len(data), limits)
    try:
        value = _DECODER.decode(text)  # not stripped: error positions are the file's own
    except json.JSONDecodeError as exc:
        raise Refused(
            "invalid-json", f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise Refused("too-deep", f"nested deeper than {limits.max_depth} levels") from None
    if _may_need_check(text, limits.max_depth):
        _check_json(value, limits.max_depth, 0)
    return data


# One decoder for every document (json.loads with hooks builds a new one per call).
_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant,
    parse_float=_finite_number,
    parse_int=lambda _: 0,  # any length: no value is built, so no int digit limit
)


def _may_need_check(text: str, max_depth: int) -> bool:
    """Whether the walk of ``_check_json`` can find anything: nesting deeper than
    ``max_depth`` needs more brackets than that, and a lone surrogate can only come from a
    ``\\u`` escape (the text itself was decoded strictly from UTF-8). Brackets or escapes
    inside strings only cost the walk, never skip it wrongly."""
    return "\\u" in text or text.count("{") + text.count("[") > max_depth


def _check_json(value: Any, max_depth: int, depth: int) -> None:
    """What JSON's syntax allows but a document may not hold: too much nesting, and text with
    a lone UTF-16 surrogate (``"\\ud800"``), which is no character and cannot be stored."""
    if depth > max_depth:
        raise Refused("too-deep", f"nested deeper than {max_depth} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_json(item, max_depth, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, max_depth, depth + 1)
    elif isinstance(value, str):
        _check_text(value)


def _check_text(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise Refused(
            "invalid-unicode",
            f"a lone UTF-16 surrogate (\\u{ord(exc.object[exc.start]):04x}) is not a character",
        ) from None


def json_lines(text: str) -> Iterator[tuple[int, str]]:
    # Split on \n only: str.splitlines would also cut at U+2028, which JSON strings may hold.
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.removesuffix("\r")


# --- YAML ---

_DOCUMENT_START = re.compile(r"^---(?=\s|$)")


def yaml_sections(text: str) -> Iterator[tuple[int, str]]:
    """Split a YAML stream at its ``---`` lines, so one broken document cannot take the
    others with it. Directives (``%YAML``) stay with the document they introduce; sections
    with nothing but comments or blanks are not documents."""
    start, lines = 1, []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if _DOCUMENT_START.match(line) and not _only_directives(lines):
            if _has_content(lines):
                yield start, "".join(lines)
            start, lines = number, []
        lines.append(line)
        if line.rstrip() == "...":  # an explicit document end: what follows is another one
            if _has_content(lines):
                yield start, "".join(lines)
            start, lines = number + 1, []
    if _has_content(lines):
        yield start, "".join(lines)


def _meaningful(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _only_directives(lines: list[str]) -> bool:
    meaningful = _meaningful(lines)
    return bool(meaningful) and all(line.startswith("%") for line in meaningful)


def _has_content(lines: list[str]) -> bool:
    """True when the section holds more than directives, markers and comments."""
    for line in _meaningful(lines):
        stripped = line.strip()
        if stripped.startswith("%") or stripped == "...":
            continue
        if _DOCUMENT_START.match(stripped):
            rest = stripped[3:].strip()
            if not rest or rest.startswith("#"):
                continue
        return True
    return False


def parse_yaml(text: str, limits: Limits) -> bytes:
    if len(text) > limits.max_document_bytes:
        _raise_too_large(len(text.encode()), limits)
    try:
        loader = _JsonKeyedLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise Refused("empty", "the document is empty")
            # Aliases share nodes, so the graph is small even when its expansion is not:
            # measure the expansion before constructing anything.
            _check_expansion(node, limits)
            value = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.constructor.ConstructorError as exc:
        line = getattr(exc.problem_mark, "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        # Safe loading refuses tags that would build objects (and so run code) by name.
        unsafe = "could not determine a constructor" in (exc.problem or "")
        reason = "unsafe-yaml-tag" if unsafe else "invalid-yaml"
        raise Refused(reason, f"{_first_line(exc.problem)}{where}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise Refused("invalid-yaml", f"{_first_line(exc.problem or exc.context)}{where}") from None
    except yaml.YAMLError as exc:
        raise Refused("invalid-yaml", _first_line(str(exc))) from None
    except RecursionError:
        raise Refused("too-deep", f"nested deeper than {limits.max_depth} levels") from None
    return encode(value, limits)


class _JsonKeyedLoader(yaml.SafeLoader):
    """Safe loading, with mapping keys turned into JSON's string keys as they are read: Python
    would otherwise merge ``1`` and ``true`` (equal as dict keys) and silently lose a value."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=True))
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _first_line(text: str | None) -> str:
    return (text or "not valid YAML").strip().splitlines()[0]


def _check_expansion(root: yaml.Node, limits: Limits) -> None:
    """Count nodes and depth as if every alias were copied out, with memoised sizes."""
    sizes: dict[int, tuple[int, int]] = {}
    visiting: set[int] = set()  # on the current path: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if any(id(child) in visiting or child is node for child in children):
                raise Refused("recursive-yaml", "an alias refers to a node that contains it")
            visiting.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        visiting.discard(key)
        count, depth = 1, 0
        for child in children:
            child_count, child_depth = sizes[id(child)]
            count += child_count
            depth = max(depth, child_depth)
        sizes[key] = (min(count, limits.max_yaml_nodes + 1), depth + 1)
        if count > limits.max_yaml_nodes:
            raise Refused(
                "too-many-nodes",
                f"expands to more than {limits.max_yaml_nodes:,} values (aliases repeat too much)",
            )
        if depth + 1 > limits.max_depth:
            raise Refused("too-deep", f"nested deeper than {limits.max_depth} levels")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


# --- the common JSON encoding of a document ---


def encode(value: Any, limits: Limits) -> bytes:
    """Compact UTF-8 JSON of a parsed document, with YAML's extra types made JSON."""
    plain = _jsonable(value, limits.max_depth, 0)
    text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        data = text.encode()
    except UnicodeEncodeError as exc:
        raise Refused(
            "invalid-unicode",
            f"a lone UTF-16 surrogate (\\u{ord(exc.object[exc.start]):04x}) is not a character",
        ) from None
    if len(data) > limits.max_document_bytes:
        _raise_too_large(len(data), limits)
    return data


def _raise_too_large(size: int, limits: Limits) -> None:
    raise Refused(
        "too-large",
        f"document of {size:,} bytes is over the limit of {limits.max_document_bytes:,}",
    )


def _jsonable(value: Any, max_depth: int, depth: int) -> Any:
    if depth > max_depth:
        raise Refused("too-deep", f"nested deeper than {max_depth} levels")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[_json_key(key)] = _jsonable(item, max_depth, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, max_depth, depth + 1) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused("nan-infinity", f"{value} is not a JSON number and cannot be stored")
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        raise Refused("unsupported-value", "binary values (!!binary) have no JSON form")
    if isinstance(value, set):
        raise Refused("unsupported-value", "sets (!!set) have no JSON form")
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return str(key)
    if isinstance(key, (dt.datetime, dt.date)):
        return key.isoformat()
    raise Refused(
        "unsupported-value", f"a mapping key of type {type(key).__name__} has no JSON form"
    )
