"""The publisher's settings: the shared KAFKA, LOG and HTTP sections plus PUBLISHER."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from streamsuite_common.config import (
    HttpSettings,
    KafkaSettings,
    LogSettings,
    as_bool,
    as_int,
    as_seconds,
    as_str,
    setting,
)

HTTP_PORT = 9101


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublisherSettings:
    SECTION: ClassVar[str] = "PUBLISHER"

    inbox: str = setting(
        "INBOX", "", help="Directory to watch; `--dir` sets it too. Required by one or the other."
    )
    stable_s: float = setting(
        "STABLE_S",
        0.5,
        parse=as_seconds(0, 3600),
        help="A file written in place is published once its writer closed it and its size and "
        "mtime then stayed the same this long (a file renamed into the inbox goes at once; "
        "without inotify events, this window alone decides).",
    )
    rescan_s: float = setting(
        "RESCAN_S",
        5.0,
        parse=as_seconds(0.1, 3600),
        help="Full rescan interval, beside filesystem events (volumes without inotify).",
    )
    batch_files: int = setting(
        "BATCH_FILES",
        100,
        parse=as_int(1, 10_000),
        help="Most files published together in one Kafka transaction.",
    )
    batch_bytes: int = setting(
        "BATCH_BYTES",
        64 * 1024 * 1024,
        parse=as_int(1024, 2**34),
        help="Most bytes (message keys and values) in one Kafka transaction: bounds the memory "
        "and the time a transaction takes. A file is never split, so a larger file (or one whose "
        "messages are larger) is refused as `file-too-large` / `too-large-for-transaction`.",
    )
    batch_documents: int = setting(
        "BATCH_DOCUMENTS",
        50_000,
        parse=as_int(1, 10_000_000),
        help="Most messages (documents and dead letters) in one Kafka transaction; a file with "
        "more documents is refused as `too-many-documents`.",
    )
    transaction_timeout_s: float = setting(
        "TRANSACTION_TIMEOUT_S",
        30.0,
        parse=as_seconds(1, 900),
        help="How long one Kafka transaction may take (the producer's `transaction.timeout.ms`, "
        "at most the broker's `transaction.max.timeout.ms`). A batch the broker cannot commit "
        "in that time is split in two, down to one file; a file alone that still cannot (twice, "
        "the broker taking part of it each time) is refused as `transaction-timeout`.",
    )
    max_file_bytes: int = setting(
        "MAX_FILE_BYTES",
        64 * 1024 * 1024,
        parse=as_int(1, 2**40),
        help="Larger files are refused without being read.",
    )
    max_document_bytes: int = setting(
        "MAX_DOCUMENT_BYTES",
        1_000_000,
        parse=as_int(1, 100_000_000),
        help="Largest document as sent (JSON as written, YAML as compact JSON); keep below the "
        "broker's `message.max.bytes`.",
    )
    max_depth: int = setting(
        "MAX_DEPTH", 64, parse=as_int(1, 10_000), help="Deepest nesting a document may have."
    )
    max_yaml_nodes: int = setting(
        "MAX_YAML_NODES",
        1_000_000,
        parse=as_int(1, 10**9),
        help="Most values a YAML document may expand to (alias bombs stop here).",
    )
    delete_published: bool = setting(
        "DELETE_PUBLISHED",
        False,
        parse=as_bool,
        help="Delete published files instead of moving them to `processed/`.",
    )
    claim_timeout_s: float = setting(
        "CLAIM_TIMEOUT_S",
        60.0,
        parse=as_seconds(5, 86400),
        help="A claim (in `processing/`) whose owner sent no heartbeat this long is taken back.",
    )
    transactional_id: str = setting(
        "TRANSACTIONAL_ID",
        "",
        parse=as_str,
        help="Kafka transactional id; unique per running publisher. Default: "
        "`streamsuite-publisher-<spool id>-<replica>`, stable across restarts so that a "
        "restarted publisher aborts its predecessor's open transaction at once: the spool id "
        "is kept in the inbox (`processing/.spool-id`), the replica is the lowest free slot "
        "among the publishers of that inbox (`processing/.replica-<n>.lock`, held while running).",
    )


@dataclasses.dataclass(frozen=True)
class PublisherConfig:
    kafka: KafkaSettings
    log: LogSettings
    http: HttpSettings
    publisher: PublisherSettings


SECTIONS = (PublisherSettings,)
DEFAULTS = {"HTTP": {"PORT": HTTP_PORT}}
