"""The read side of streamsuite, shared by the query API and the web UI.

Pure parts first: ``values`` (JSON values and key paths from text), ``filters`` (request
parameters into validated filters), ``cursor`` (opaque, signed keyset cursors), ``sql`` (the
statements, built from constant fragments with every input bound as a parameter) and ``render``
(rows into JSON). ``read`` is the only module doing I/O: small functions taking a connection.
"""

from streamsuite_common.query.cursor import CursorCodec, CursorError
from streamsuite_common.query.errors import InvalidQuery
from streamsuite_common.query.filters import (
    DeadLetterFilter,
    Page,
    RecordFilter,
    parse_dead_letter_params,
    parse_key_value_body,
    parse_record_params,
    parse_stream_params,
)

__all__ = [
    "CursorCodec",
    "CursorError",
    "DeadLetterFilter",
    "InvalidQuery",
    "Page",
    "RecordFilter",
    "parse_dead_letter_params",
    "parse_key_value_body",
    "parse_record_params",
    "parse_stream_params",
]
