"""The Submit page's work: pasted text or an uploaded file, validated by the publisher's own
parser (``parse_file``) and turned into the publisher's own messages (``file_messages``), both
shared through ``streamsuite_common.publishing``, so a
document sent from the browser travels exactly like one dropped in the inbox: same topic, same
key and headers, every refusal a dead-letter event (origin ``web``) on the DLQ topic.

``prepare`` is pure; ``Submitter`` is the I/O edge (one transactional producer per process).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import datetime

from streamsuite_common.config import KafkaSettings
from streamsuite_common.contract import rfc3339
from streamsuite_common.publishing.formats import (
    SUPPORTED_SUFFIXES,
    Limits,
    ParseResult,
    Refusal,
    parse_file,
)
from streamsuite_common.publishing.messages import OutMessage, file_messages, sha256_hex
from streamsuite_common.publishing.producer import TransactionalPublisher

ORIGIN = "web"
FORMATS = {"auto": None, "json": "pasted.json", "yaml": "pasted.yaml", "jsonl": "pasted.jsonl"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_CHARS = 80


class InputError(ValueError):
    """The form itself is unusable (nothing given, both given, too large): nothing is sent."""


def safe_name(name: str) -> str:
    """A file name reduced to ``[A-Za-z0-9._-]`` (its last path part; never empty)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "upload"
    if len(cleaned) > MAX_NAME_CHARS:
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = (stem[: MAX_NAME_CHARS - len(suffix) - 1] + dot + suffix) if dot else cleaned
        cleaned = cleaned[:MAX_NAME_CHARS]
    return cleaned


def pasted_name(fmt: str, text: str) -> str:
    """The name that decides how pasted text is parsed: ``auto`` reads text starting with
    ``{`` or ``[`` as JSON and anything else as YAML."""
    if fmt not in FORMATS:
        raise InputError(f"format: must be one of {', '.join(FORMATS)}; got {fmt[:20]!r}")
    if fmt == "auto":
        return "pasted.json" if text.lstrip("\ufeff \t\r\n")[:1] in ("{", "[") else "pasted.yaml"
    return FORMATS[fmt]  # type: ignore[return-value]


def source_for(name: str, at: datetime) -> str:
    """The record's ``source``: ``web/<UTC timestamp>-<name>``, unique per submission."""
    stamp = rfc3339(at).replace("-", "").replace(":", "")
    return f"web/{stamp}-{safe_name(name)}"


def choose_input(
    text: str, upload_name: str, upload: bytes, fmt: str, max_bytes: int
) -> tuple[str, bytes]:
    """(name, bytes) to parse from the form; InputError when the form is unusable."""
    has_text, has_file = bool(text.strip()), bool(upload_name)
    if has_text and has_file:
        raise InputError("give either pasted text or a file, not both")
    if has_file:
        if not upload_name.lower().endswith(SUPPORTED_SUFFIXES):
            raise InputError(
                f"file {safe_name(upload_name)!r}: unsupported type; use "
                f"{', '.join(SUPPORTED_SUFFIXES)}"
            )
        data, name = upload, upload_name
    elif has_text:
        data, name = text.encode("utf-8", errors="surrogatepass"), pasted_name(fmt, text)
    else:
        raise InputError("nothing to submit: paste a document or choose a file")
    if len(data) > max_bytes:
        raise InputError(f"too large: {len(data)} bytes, at most {max_bytes} are accepted")
    return name, data


@dataclasses.dataclass(frozen=True)
class Prepared:
    source: str
    sha256: str
    parsed: ParseResult
    messages: list[OutMessage]

    @property
    def documents(self) -> int:
        return len(self.parsed.documents)

    @property
    def refusals(self) -> list[Refusal]:
        if self.parsed.file_refusal is not None:
            return [self.parsed.file_refusal]
        return list(self.parsed.refusals)


def prepare(
    name: str,
    data: bytes,
    *,
    limits: Limits,
    topic: str,
    dlq_topic: str,
    at: datetime,
) -> Prepared:
    """Parse with the publisher's rules; the document messages exactly as the publisher builds
    them, and a dead-letter event (origin ``web``) for each refusal."""
    source = source_for(name, at)
    sha256 = sha256_hex(data)
    parsed = parse_file(name, data, limits)
    out = file_messages(
        origin=ORIGIN,
        source=source,
        sha256=sha256,
        parsed=parsed,
        topic=topic,
        dlq_topic=dlq_topic,
        produced_at=at,
    )
    return Prepared(source, sha256, parsed, out)


def limits_of(max_document_bytes: int, max_depth: int, max_yaml_nodes: int) -> Limits:
    return Limits(
        max_document_bytes=max_document_bytes, max_depth=max_depth, max_yaml_nodes=max_yaml_nodes
    )


class Submitter:
    """The publisher's transactional producer, connected on first use, one send at a time:
    a submission's documents and dead letters are visible all together or not at all."""

    def __init__(self, settings: KafkaSettings, transactional_id: str):
        self.settings = settings
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._publisher = TransactionalPublisher(settings, transactional_id, self._stop)

    def publish(self, out: list[OutMessage]) -> None:
        with self._lock:
            self._publisher.publish(out)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._publisher.close()
